package config

import (
	"fmt"
	"strings"
)

// Usage is the --help text: the command forms, the flags, and every option
// with its default.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage:
  ossmount [flags] BUCKET[:/PREFIX] MOUNTPOINT
  ossmount BUCKET[:/PREFIX] MOUNTPOINT -o key[=value],key[=value]...
  ossmount stats [--json] MOUNTPOINT
  ossmount warm PATH...
  ossmount cache du|verify|clear [--json] [--key KEY] [--cache-dir DIR | MOUNTPOINT]

Mounts an Alibaba Cloud OSS bucket, or the prefix PREFIX of it, read-only on
MOUNTPOINT, with an on-disk block cache that survives remounts. ossmount
returns once the mount is ready (exit status 0) and keeps serving it in the
background; umount or SIGTERM unmounts it.

Every option below is also a long flag: -o cache_dir=DIR is --cache-dir DIR
or --cache-dir=DIR. -o may be given several times, before or after the
positional arguments; a later setting wins. Write a comma inside a value as \,.
Boolean options take no value or =true|false (1|0, yes|no); no_NAME turns one
off (e.g. no_default_permissions). SIZE is a byte count with an optional binary
unit: 512, 64K, 1M, 1.5G, 1T, 512MiB. DURATION is 30s, 1m, 500ms, 0, or a
number of seconds.

Subcommands (for a running mount, through its daemon's control socket).
stats, warm and cache as the first argument are always subcommands; on a path
that is not inside an ossmount mount they say so and exit 1. Mount a bucket
with one of these names as NAME:/ (e.g. "ossmount stats:/ /mnt", also in fstab).
  stats     requests by kind, conditional requests and 304s, bytes fetched,
            cache hits and misses, cache size, evictions, retries, errors,
            GETs in flight; --json for the same as JSON.
  warm      fetch the files (or every file under the directories) into the
            cache, with the mount's parallel fetcher; Ctrl-C stops and keeps
            what was fetched.
  cache du      cached bytes per object version
  cache verify  re-check every cached block's CRC64, drop bad ones (exit 1
                if any were bad)
  cache clear   drop the cache of one key (--key KEY, the object's key in the
                bucket) or of everything; exit 1 if KEY had nothing cached
  cache works on the daemon of MOUNTPOINT, or of --cache-dir DIR (default:
  the default cache_dir), and on an unmounted cache dir by itself.
  metrics_addr=HOST:PORT serves the stats as Prometheus metrics on /metrics.

Flags:
  -o OPTIONS          comma-separated options (see below)
  -f                  stay in the foreground, logging to stderr (-o foreground)
  -d                  -o debug_fuse,foreground
  -r                  read-only (always; accepted for mount(8))
  -h, --help          print this help
  -V, --version       print the version
`)
	group := ""
	for _, o := range options {
		if o.group != group {
			group = o.group
			fmt.Fprintf(&b, "\n%s:\n", group)
		}
		head := "  " + o.name
		flag := o.flagName()
		if o.kind != kindBool {
			head += "=" + o.arg
			flag += " " + o.arg
		}
		head = fmt.Sprintf("%-28s %s", head, flag)
		fmt.Fprintf(&b, "%s\n      %s\n      default: %s\n", head, o.help, o.def)
	}
	b.WriteString(`
Ignored options (they belong to mount(8), systemd or the kernel):
  _netdev, nofail, noauto, auto, defaults, user, users, nouser, x-systemd.*,
  x-*, comment=..., dev, nodev, suid, nosuid, exec, noexec, async, sync,
  atime, noatime, relatime, norelatime, lazytime, and the like.
  rw (or -w) makes the mount writable; mount(8) passes rw unless the fstab
  line says ro, so keep ro in a line that should be read-only.

Environment:
  OSS_ENDPOINT, OSS_REGION       defaults of endpoint= and region=
  OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN
                                 credentials (source env)
  ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE
                                 RRSA in a pod (source oidc)
  ALIBABA_CLOUD_ECS_METADATA     the ECS instance's RAM role (source ecs_ram_role)

Credentials come from the first configured of: anonymous; credentials_file=
(lines AK:SK, BUCKET:AK:SK, AK:SK:TOKEN or BUCKET:AK:SK:TOKEN; a line for the
mounted bucket wins; the file must not be readable by group or others);
credential_process=; ram_role=; OSS_ACCESS_KEY_ID; RRSA's variables;
ALIBABA_CLOUD_ECS_METADATA. credential_source= picks one. Temporary
credentials are renewed in the background before they expire. Signature V4 is
used.

fstab example:
  mybucket:/data /mnt/oss fuse.ossmount _netdev,ro,allow_other,endpoint=https://oss-cn-hangzhou.aliyuncs.com,credentials_file=/etc/ossmount.cred 0 0
`)
	return b.String()
}
