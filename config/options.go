package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits of the numeric options.
const (
	MinBlockSize = 64 * KiB
	MaxBlockSize = 64 * MiB
	MaxPartSize  = 1 * GiB
	MaxParallel  = 1024
	MaxRetries   = 1000
)

// Defaults of the options that have a fixed default.
const (
	DefaultCacheSize = 10 * GiB
	DefaultMinFree   = 1 * GiB
	DefaultBlockSize = 1 * MiB
	DefaultPartSize  = 8 * MiB
	// DefaultKernelReadahead: larger than the kernel's 128 KiB, so that a
	// read from the block cache asks the daemon in fewer, larger requests.
	DefaultKernelReadahead = 4 * MiB
	DefaultRevalidate      = "etag"
	DefaultMetadataTTL     = time.Second
	DefaultNegativeTTL     = time.Second
	DefaultReadTimeout     = 30 * time.Second
	DefaultRetries         = 5
	DefaultUmask           = 0o022
	RootCacheDir           = "/var/cache/ossmount"
	// DefaultParallel: OSS serves each connection at a rate of its own
	// (a per-connection limit), so a cold sequential read is as fast as
	// the GETs it keeps in flight: its readahead window, parallel ×
	// part_size up to 256 MiB, grown from one part (fetcher.Readahead).
	// Random and small-file readers fetch only what they read, so a
	// higher bound costs them nothing.
	DefaultParallel = 64
	// Uploads: 8 MiB parts, 16 in flight. Like reads, a write to a store
	// that serves each connection at a rate of its own is as fast as the
	// parts it keeps in flight; the part buffers (parallel + 2 of them)
	// bound the memory writes take to 144 MiB.
	DefaultUploadPartSize = 8 * MiB
	DefaultUploadParallel = 16
	MinUploadPartSize     = 100 * KiB
	MaxUploadPartSize     = 1 * GiB
)

type kind int

const (
	kindString kind = iota
	kindPath        // a file name, made absolute
	kindBool
	kindSize
	kindDuration
	kindInt
	kindOctal
	kindID
	kindEnum
)

// option describes one -o option and its long flag.
type option struct {
	name  string
	kind  kind
	arg   string // value placeholder in --help
	def   string // default in --help
	help  string
	group string
	// emptyOK: an empty value is allowed (string and path options).
	emptyOK bool
	// set stores a value (all kinds but bool); v is never a bool.
	set func(c *Config, v string) error
	// setBool stores a boolean option.
	setBool func(c *Config, b bool) error
	// get renders the current value for Args and String ("" and ok=false
	// when the option has no value of its own, like ro).
	get func(c *Config) (string, bool)
}

// flagName is the long flag of an option: --cache-dir for cache_dir.
func (o *option) flagName() string { return "--" + strings.ReplaceAll(o.name, "_", "-") }

func badValue(name, v, why string) error {
	return fmt.Errorf("option %s: invalid value %q: %s", name, v, why)
}

func sizeOpt(name string, ptr func(*Config) *int64, check func(int64) string) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := ParseSize(v)
		if err != nil {
			return badValue(name, v, err.Error())
		}
		if why := check(n); why != "" {
			return badValue(name, v, why)
		}
		*ptr(c) = n
		return nil
	}
}

// parseDuration accepts Go durations ("30s", "1m30s", "0") and a bare
// integer meaning seconds. Negative durations are refused.
func parseDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasPrefix(v, "-") {
		return 0, errors.New("must not be negative")
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, errors.New("too large")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a duration (use e.g. 30s, 1m, 500ms, or a number of seconds)")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

func durationOpt(name string, ptr func(*Config) *time.Duration, positive bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return badValue(name, v, err.Error())
		}
		if positive && d <= 0 {
			return badValue(name, v, "must be greater than zero")
		}
		*ptr(c) = d
		return nil
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func intOpt(name string, ptr func(*Config) *int, lo, hi int) func(*Config, string) error {
	return func(c *Config, v string) error {
		if !isDigits(strings.TrimPrefix(v, "-")) {
			return badValue(name, v, "not a whole number")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return badValue(name, v, fmt.Sprintf("must be between %d and %d", lo, hi))
		}
		*ptr(c) = n
		return nil
	}
}

// parseOctal parses a permission mode: octal digits, optionally with a 0o
// prefix, at most 0777.
func parseOctal(v string) (uint32, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(v, "0o"), "0O")
	if s == "" {
		return 0, errors.New("not an octal mode (e.g. 0022)")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return 0, errors.New("not an octal mode (e.g. 0022)")
		}
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return 0, errors.New("must be an octal mode between 0 and 0777")
	}
	return uint32(n), nil
}

func octalOpt(name string, ptr func(*Config) *uint32) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseOctal(v)
		if err != nil {
			return badValue(name, v, err.Error())
		}
		*ptr(c) = n
		return nil
	}
}

func idOpt(name string, ptr func(*Config) *uint32) func(*Config, string) error {
	return func(c *Config, v string) error {
		if !isDigits(v) {
			return badValue(name, v, "not a numeric id")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == math.MaxUint32 {
			return badValue(name, v, "must be between 0 and 4294967294")
		}
		*ptr(c) = uint32(n)
		return nil
	}
}

func stringOpt(ptr func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *ptr(c) = v; return nil }
}

// pathOpt stores a file name made absolute (the daemon runs in /).
func pathOpt(name string, ptr func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			*ptr(c) = ""
			return nil
		}
		abs, err := filepath.Abs(v)
		if err != nil {
			return badValue(name, v, err.Error())
		}
		*ptr(c) = abs
		return nil
	}
}

func boolOpt(ptr func(*Config) *bool) func(*Config, bool) error {
	return func(c *Config, b bool) error { *ptr(c) = b; return nil }
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean (use true/false, 1/0 or yes/no)")
}

func getSize(p func(*Config) *int64) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return FormatSize(*p(c)), true }
}
func getDuration(p func(*Config) *time.Duration) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return p(c).String(), true }
}
func getInt(p func(*Config) *int) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return strconv.Itoa(*p(c)), true }
}
func getOctal(p func(*Config) *uint32) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return fmt.Sprintf("%04o", *p(c)), true }
}
func getID(p func(*Config) *uint32) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return strconv.FormatUint(uint64(*p(c)), 10), true }
}
func getString(p func(*Config) *string) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return *p(c), true }
}
func getBool(p func(*Config) *bool) func(*Config) (string, bool) {
	return func(c *Config) (string, bool) { return strconv.FormatBool(*p(c)), true }
}

// checkBlockSize is the single-value rule of block_size.
func checkBlockSize(n int64) string {
	if n < MinBlockSize || n > MaxBlockSize || n&(n-1) != 0 {
		return "must be a power of two between 64K and 64M"
	}
	return ""
}

func checkPartSize(n int64) string {
	if n <= 0 || n > MaxPartSize {
		return "must be greater than zero and at most 1G"
	}
	return ""
}

func checkUploadPartSize(n int64) string {
	if n < MinUploadPartSize || n > MaxUploadPartSize {
		return "must be between 100K and 1G"
	}
	return ""
}

func checkKernelReadahead(n int64) string {
	if n > 64*MiB {
		return "must be at most 64M"
	}
	return ""
}

func checkNonNegative(int64) string { return "" } // ParseSize never returns a negative

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
}

func levelName(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return l.String()
}

func checkMetricsAddr(v string) string {
	if v == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "must be host:port (e.g. 127.0.0.1:9464 or :9464)"
	}
	if n, err := strconv.Atoi(port); err != nil || !isDigits(port) || n < 0 || n > 65535 {
		return "port must be a number between 0 and 65535"
	}
	return ""
}

const (
	groupConn  = "Connection and credentials"
	groupCache = "Cache and fetching"
	groupPerm  = "Ownership and permissions"
	groupWrite = "Writes"
	groupProc  = "Process and logging"
)

// options is every -o option, in --help order.
var options = []*option{
	{name: "endpoint", kind: kindString, arg: "URL", def: "$OSS_ENDPOINT", group: groupConn, emptyOK: true,
		help: "OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com (https:// is added when no scheme is given)",
		set:  stringOpt(func(c *Config) *string { return &c.Endpoint }), get: getString(func(c *Config) *string { return &c.Endpoint })},
	{name: "region", kind: kindString, arg: "REGION", def: "$OSS_REGION, else derived from an oss-REGION.aliyuncs.com endpoint", group: groupConn, emptyOK: true,
		help: "region for V4 request signing, e.g. cn-hangzhou",
		set:  stringOpt(func(c *Config) *string { return &c.Region }), get: getString(func(c *Config) *string { return &c.Region })},
	{name: "path_style", kind: kindBool, def: "off (always on for an IP or localhost endpoint)", group: groupConn,
		help:    "address objects as https://host/bucket/key instead of https://bucket.host/key",
		setBool: boolOpt(func(c *Config) *bool { return &c.PathStyle }), get: getBool(func(c *Config) *bool { return &c.PathStyle })},
	{name: "anonymous", kind: kindBool, def: "off", group: groupConn,
		help:    "send unsigned requests (public-read buckets); no credentials needed",
		setBool: boolOpt(func(c *Config) *bool { return &c.Anonymous }), get: getBool(func(c *Config) *bool { return &c.Anonymous })},
	{name: "credentials_file", kind: kindPath, arg: "FILE", def: "none: $OSS_ACCESS_KEY_ID/$OSS_ACCESS_KEY_SECRET", group: groupConn, emptyOK: true,
		help: "ossfs-style file of AK:SK or BUCKET:AK:SK lines (optional :STS_TOKEN); must be mode 0600; re-read when it changes",
		set:  pathOpt("credentials_file", func(c *Config) *string { return &c.CredentialsFile }), get: getString(func(c *Config) *string { return &c.CredentialsFile })},
	{name: "read_timeout", kind: kindDuration, arg: "DURATION", def: DefaultReadTimeout.String(), group: groupConn,
		help: "a response body that delivers nothing this long is abandoned and retried",
		set:  durationOpt("read_timeout", func(c *Config) *time.Duration { return &c.ReadTimeout }, true), get: getDuration(func(c *Config) *time.Duration { return &c.ReadTimeout })},
	{name: "retries", kind: kindInt, arg: "N", def: strconv.Itoa(DefaultRetries), group: groupConn,
		help: fmt.Sprintf("retries of a failing part before EIO (0..%d); progress resets the count", MaxRetries),
		set:  intOpt("retries", func(c *Config) *int { return &c.Retries }, 0, MaxRetries), get: getInt(func(c *Config) *int { return &c.Retries })},
	{name: "parallel", kind: kindInt, arg: "N", def: strconv.Itoa(DefaultParallel), group: groupConn,
		help: fmt.Sprintf("concurrent GETs across the whole mount (1..%d)", MaxParallel),
		set:  intOpt("parallel", func(c *Config) *int { return &c.Parallel }, 1, MaxParallel), get: getInt(func(c *Config) *int { return &c.Parallel })},

	{name: "cache_dir", kind: kindPath, arg: "DIR", def: RootCacheDir + " for root, else $XDG_CACHE_HOME/ossmount or ~/.cache/ossmount", group: groupCache, emptyOK: true,
		help: "directory of the block cache and its checkpoints (kept across mounts)",
		set:  pathOpt("cache_dir", func(c *Config) *string { return &c.CacheDir }), get: getString(func(c *Config) *string { return &c.CacheDir })},
	{name: "cache_size", kind: kindSize, arg: "SIZE", def: FormatSize(DefaultCacheSize), group: groupCache,
		help: "bound of the cache; least recently used blocks are evicted (0: bounded by min_free only)",
		set:  sizeOpt("cache_size", func(c *Config) *int64 { return &c.CacheSize }, checkNonNegative), get: getSize(func(c *Config) *int64 { return &c.CacheSize })},
	{name: "min_free", kind: kindSize, arg: "SIZE", def: FormatSize(DefaultMinFree), group: groupCache,
		help: "free space to keep on the cache's filesystem (0: no check)",
		set:  sizeOpt("min_free", func(c *Config) *int64 { return &c.MinFree }, checkNonNegative), get: getSize(func(c *Config) *int64 { return &c.MinFree })},
	{name: "block_size", kind: kindSize, arg: "SIZE", def: FormatSize(DefaultBlockSize), group: groupCache,
		help: "unit of caching: a power of two from 64K to 64M",
		set:  sizeOpt("block_size", func(c *Config) *int64 { return &c.BlockSize }, checkBlockSize), get: getSize(func(c *Config) *int64 { return &c.BlockSize })},
	{name: "part_size", kind: kindSize, arg: "SIZE", def: FormatSize(DefaultPartSize), group: groupCache,
		help: "largest single ranged GET: a multiple of block_size, at most 1G",
		set:  sizeOpt("part_size", func(c *Config) *int64 { return &c.PartSize }, checkPartSize), get: getSize(func(c *Config) *int64 { return &c.PartSize })},
	{name: "kernel_readahead", kind: kindSize, arg: "SIZE", def: FormatSize(DefaultKernelReadahead), group: groupCache,
		help: "the kernel's readahead for this mount (its read_ahead_kb in /sys/class/bdi, set as root); larger means fewer, larger FUSE reads on sequential reads; 0 leaves the kernel's 128K",
		set:  sizeOpt("kernel_readahead", func(c *Config) *int64 { return &c.KernelReadahead }, checkKernelReadahead), get: getSize(func(c *Config) *int64 { return &c.KernelReadahead })},
	{name: "passthrough", kind: kindBool, def: "on", group: groupCache,
		help:    "let the kernel read a file whose every block is cached (and checked in this mount) straight from the cache file, with no round trip to the daemon per read (FUSE passthrough: Linux 6.9 or later, as root; off elsewhere)",
		setBool: boolOpt(func(c *Config) *bool { return &c.Passthrough }), get: getBool(func(c *Config) *bool { return &c.Passthrough })},
	{name: "revalidate", kind: kindEnum, arg: "etag|mtime", def: DefaultRevalidate, group: groupCache,
		help: "how open() asks whether a cached object changed: If-None-Match (etag) or If-Modified-Since (mtime)",
		set: func(c *Config, v string) error {
			if v != "etag" && v != "mtime" {
				return badValue("revalidate", v, "must be etag or mtime")
			}
			c.Revalidate = v
			return nil
		}, get: getString(func(c *Config) *string { return &c.Revalidate })},
	{name: "metadata_ttl", kind: kindDuration, arg: "DURATION", def: DefaultMetadataTTL.String(), group: groupCache,
		help: "how long stat, lookup and listing results are cached (0: not cached)",
		set:  durationOpt("metadata_ttl", func(c *Config) *time.Duration { return &c.MetadataTTL }, false), get: getDuration(func(c *Config) *time.Duration { return &c.MetadataTTL })},
	{name: "negative_ttl", kind: kindDuration, arg: "DURATION", def: DefaultNegativeTTL.String(), group: groupCache,
		help: `how long "no such file" is cached (0: not cached)`,
		set:  durationOpt("negative_ttl", func(c *Config) *time.Duration { return &c.NegativeTTL }, false), get: getDuration(func(c *Config) *time.Duration { return &c.NegativeTTL })},

	{name: "uid", kind: kindID, arg: "UID", def: "the caller's", group: groupPerm,
		help: "numeric owner of every file and directory",
		set:  idOpt("uid", func(c *Config) *uint32 { return &c.UID }), get: getID(func(c *Config) *uint32 { return &c.UID })},
	{name: "gid", kind: kindID, arg: "GID", def: "the caller's", group: groupPerm,
		help: "numeric group of every file and directory",
		set:  idOpt("gid", func(c *Config) *uint32 { return &c.GID }), get: getID(func(c *Config) *uint32 { return &c.GID })},
	{name: "umask", kind: kindOctal, arg: "OCTAL", def: "0022", group: groupPerm,
		help: "bits cleared from the default file_mode and dir_mode",
		set:  octalOpt("umask", func(c *Config) *uint32 { return &c.Umask }), get: getOctal(func(c *Config) *uint32 { return &c.Umask })},
	{name: "file_mode", kind: kindOctal, arg: "OCTAL", def: "0444 & ~umask (0444)", group: groupPerm,
		help: "permission bits of files",
		set:  octalOpt("file_mode", func(c *Config) *uint32 { return &c.FileMode }), get: getOctal(func(c *Config) *uint32 { return &c.FileMode })},
	{name: "dir_mode", kind: kindOctal, arg: "OCTAL", def: "0555 & ~umask (0555)", group: groupPerm,
		help: "permission bits of directories",
		set:  octalOpt("dir_mode", func(c *Config) *uint32 { return &c.DirMode }), get: getOctal(func(c *Config) *uint32 { return &c.DirMode })},
	{name: "allow_other", kind: kindBool, def: "off", group: groupPerm,
		help:    "let other users access the mount (implies default_permissions; non-root needs user_allow_other in /etc/fuse.conf)",
		setBool: boolOpt(func(c *Config) *bool { return &c.AllowOther }), get: getBool(func(c *Config) *bool { return &c.AllowOther })},
	{name: "allow_root", kind: kindBool, def: "off", group: groupPerm,
		help:    "let root access the mount (exclusive with allow_other)",
		setBool: boolOpt(func(c *Config) *bool { return &c.AllowRoot }), get: getBool(func(c *Config) *bool { return &c.AllowRoot })},
	{name: "default_permissions", kind: kindBool, def: "on with allow_other, else off", group: groupPerm,
		help:    "let the kernel check uid/gid/mode on access (turn off with no_default_permissions)",
		setBool: boolOpt(func(c *Config) *bool { return &c.DefaultPermissions }), get: getBool(func(c *Config) *bool { return &c.DefaultPermissions })},
	{name: "nonempty", kind: kindBool, def: "off", group: groupPerm,
		help:    "allow mounting over a non-empty directory",
		setBool: boolOpt(func(c *Config) *bool { return &c.Nonempty }), get: getBool(func(c *Config) *bool { return &c.Nonempty })},
	{name: "ro", kind: kindBool, def: "on", group: groupWrite,
		help:    "read-only (the default on the command line); any change fails with EROFS",
		setBool: func(c *Config, b bool) error { c.ReadWrite = !b; return nil }, get: func(*Config) (string, bool) { return "", false }},
	{name: "rw", kind: kindBool, def: "off", group: groupWrite,
		help:    "writable: new files are uploaded at close/fsync (mount.fuse3 passes rw for an fstab line without ro)",
		setBool: func(c *Config, b bool) error { c.ReadWrite = b; return nil }, get: getBool(func(c *Config) *bool { return &c.ReadWrite })},
	{name: "allow_overwrite", kind: kindBool, def: "off", group: groupWrite,
		help:    "with rw: let a write replace or append to an existing object (else create-only: EEXIST)",
		setBool: boolOpt(func(c *Config) *bool { return &c.AllowOverwrite }), get: getBool(func(c *Config) *bool { return &c.AllowOverwrite })},
	{name: "allow_delete", kind: kindBool, def: "off", group: groupWrite,
		help:    "with rw: let unlink delete objects (else EPERM)",
		setBool: boolOpt(func(c *Config) *bool { return &c.AllowDelete }), get: getBool(func(c *Config) *bool { return &c.AllowDelete })},
	{name: "upload_part_size", kind: kindSize, arg: "SIZE", def: FormatSize(DefaultUploadPartSize), group: groupWrite,
		help: "bytes per uploaded part (100K..1G); files smaller than one part go up in one request",
		set:  sizeOpt("upload_part_size", func(c *Config) *int64 { return &c.UploadPartSize }, checkUploadPartSize), get: getSize(func(c *Config) *int64 { return &c.UploadPartSize })},
	{name: "upload_parallel", kind: kindInt, arg: "N", def: strconv.Itoa(DefaultUploadParallel), group: groupWrite,
		help: fmt.Sprintf("parts uploaded at once across the mount (1..%d); memory for writes is (N+2) × upload_part_size", MaxParallel),
		set:  intOpt("upload_parallel", func(c *Config) *int { return &c.UploadParallel }, 1, MaxParallel), get: getInt(func(c *Config) *int { return &c.UploadParallel })},

	{name: "foreground", kind: kindBool, def: "off", group: groupProc,
		help:    "stay in the foreground and log to stderr (-f)",
		setBool: boolOpt(func(c *Config) *bool { return &c.Foreground }), get: getBool(func(c *Config) *bool { return &c.Foreground })},
	{name: "log_level", kind: kindEnum, arg: "LEVEL", def: "info", group: groupProc,
		help: "debug, info, warn or error; debug logs every OSS request",
		set: func(c *Config, v string) error {
			l, ok := logLevels[strings.ToLower(v)]
			if !ok {
				return badValue("log_level", v, "must be debug, info, warn or error")
			}
			c.LogLevel = l
			return nil
		}, get: func(c *Config) (string, bool) { return levelName(c.LogLevel), true }},
	{name: "log_file", kind: kindPath, arg: "FILE", def: "syslog when daemonized, stderr with -f", group: groupProc, emptyOK: true,
		help: "append the log to FILE",
		set:  pathOpt("log_file", func(c *Config) *string { return &c.LogFile }), get: getString(func(c *Config) *string { return &c.LogFile })},
	{name: "metrics_addr", kind: kindString, arg: "HOST:PORT", def: "none", group: groupProc, emptyOK: true,
		help: "serve the stats as Prometheus metrics on http://HOST:PORT/metrics (use 127.0.0.1: they are not authenticated)",
		set: func(c *Config, v string) error {
			if why := checkMetricsAddr(v); why != "" {
				return badValue("metrics_addr", v, why)
			}
			c.MetricsAddr = v
			return nil
		}, get: getString(func(c *Config) *string { return &c.MetricsAddr })},
	{name: "debug_fuse", kind: kindBool, def: "off", group: groupProc,
		help:    "log every FUSE request and reply (very verbose)",
		setBool: boolOpt(func(c *Config) *bool { return &c.DebugFUSE }), get: getBool(func(c *Config) *bool { return &c.DebugFUSE })},
}

var optionByName = func() map[string]*option {
	m := make(map[string]*option, len(options))
	for _, o := range options {
		m[o.name] = o
	}
	return m
}()

// ignoredOptions belong to mount(8), systemd or the kernel's generic mount
// flags (mount.fuse3 adds dev,suid): accepted, and meaningless here.
var ignoredOptions = map[string]bool{
	"_netdev": true, "nofail": true, "noauto": true, "auto": true, "defaults": true,
	"user": true, "users": true, "nouser": true, "owner": true, "group": true,
	"dev": true, "nodev": true, "suid": true, "nosuid": true, "exec": true, "noexec": true,
	"async": true, "sync": true, "dirsync": true,
	"atime": true, "noatime": true, "diratime": true, "nodiratime": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nostrictatime": true,
	"lazytime": true, "nolazytime": true, "iversion": true, "noiversion": true,
	"mand": true, "nomand": true, "silent": true, "loud": true, "nosymfollow": true,
}

// isIgnored reports whether key (of an -o element) is a mount(8)/systemd
// option to accept and ignore. x-* (x-systemd.*, x-gvfs-*) and comment=
// are reserved for userspace tools; user=NAME is what mount(8) passes for a
// user mount.
func isIgnored(key string) bool {
	return ignoredOptions[key] || strings.HasPrefix(key, "x-") || key == "comment"
}
