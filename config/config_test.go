package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// asUser runs the test as a non-root caller with uid/gid 1000.
func asUser(t *testing.T) {
	t.Helper()
	oe, ou, og := geteuid, getuid, getgid
	geteuid = func() int { return 1000 }
	getuid = func() int { return 1000 }
	getgid = func() int { return 1000 }
	t.Cleanup(func() { geteuid, getuid, getgid = oe, ou, og })
}

func asRoot(t *testing.T) {
	t.Helper()
	oe, ou, og := geteuid, getuid, getgid
	geteuid = func() int { return 0 }
	getuid = func() int { return 0 }
	getgid = func() int { return 0 }
	t.Cleanup(func() { geteuid, getuid, getgid = oe, ou, og })
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var noEnv = envOf(nil)

const ep = "endpoint=https://oss-cn-hangzhou.aliyuncs.com"

func mustParse(t *testing.T, args []string, env func(string) string) *Config {
	t.Helper()
	c, err := Parse(args, env)
	if err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	asRoot(t)
	c := mustParse(t, []string{"mybucket", "/mnt/oss", "-o", ep}, noEnv)
	want := &Config{
		Bucket: "mybucket", Mountpoint: "/mnt/oss",
		Endpoint: "https://oss-cn-hangzhou.aliyuncs.com", Region: "cn-hangzhou",
		CacheDir: "/var/cache/ossmount", CacheSize: 10 << 30, MinFree: 1 << 30,
		BlockSize: 1 << 20, PartSize: 8 << 20, KernelReadahead: 4 << 20, Passthrough: true, Parallel: 64, Revalidate: "etag",
		UploadPartSize: 8 << 20, UploadParallel: 16,
		MetadataTTL: time.Second, NegativeTTL: time.Second, ReadTimeout: 30 * time.Second,
		Retries: 5, Umask: 0o022, FileMode: 0o444, DirMode: 0o555, LogLevel: slog.LevelInfo,
		CredentialTimeout: 15 * time.Second, ECSMetadataEndpoint: "http://100.100.100.200",
	}
	want.set = c.set
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.IsSet("endpoint") || c.IsSet("region") {
		t.Errorf("IsSet: endpoint %v region %v", c.IsSet("endpoint"), c.IsSet("region"))
	}
}

func TestParseForms(t *testing.T) {
	asUser(t)
	home := map[string]string{"HOME": "/home/u"}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*Config) bool
	}{
		{"flags before", []string{"--cache-dir", "/c", "-f", "b12", "/m", "-o", ep}, nil,
			func(c *Config) bool {
				return c.CacheDir == "/c" && c.Foreground && c.Bucket == "b12" && c.Mountpoint == "/m"
			}},
		{"flags after", []string{"b12", "/m", "--cache-dir=/c", "-f", "-o", ep}, nil,
			func(c *Config) bool { return c.CacheDir == "/c" && c.Foreground }},
		{"flags between", []string{"b12", "--parallel", "4", "/m"}, home,
			func(c *Config) bool { return c.Parallel == 4 && c.Mountpoint == "/m" }},
		{"-o merge, last wins", []string{"-o", "parallel=4,retries=1", "b12", "/m", "-o", "parallel=8", "-oallow_root"}, home,
			func(c *Config) bool { return c.Parallel == 8 && c.Retries == 1 && c.AllowRoot }},
		{"-o and flag, last wins", []string{"b12", "/m", "-o", "parallel=8", "--parallel=9"}, home,
			func(c *Config) bool { return c.Parallel == 9 }},
		{"-fo cluster", []string{"b12", "/m", "-fo", "parallel=3"}, home,
			func(c *Config) bool { return c.Parallel == 3 && c.Foreground }},
		{"-d", []string{"b12", "/m", "-d"}, home,
			func(c *Config) bool { return c.DebugFUSE && c.Foreground }},
		{"escaped comma", []string{"b12", "/m", "-o", `log_file=/tmp/a\,b,cache_dir=/x\\y`}, home,
			func(c *Config) bool { return c.LogFile == "/tmp/a,b" && c.CacheDir == `/x\y` }},
		{"= in value", []string{"b12", "/m", "-o", "log_file=/tmp/a=b=c"}, home,
			func(c *Config) bool { return c.LogFile == "/tmp/a=b=c" }},
		{"spaces after commas", []string{"b12", "/m", "-o", "ro, allow_other ,nonempty"}, home,
			func(c *Config) bool { return c.AllowOther && c.Nonempty }},
		{"empty elements", []string{"b12", "/m", "-o", ",,ro,,", "-o", ""}, home,
			func(c *Config) bool { return true }},
		{"mount.fuse3 rw-less call", []string{"mybucket:/data", "/mnt/oss", "-o", "ro,allow_other," + ep + ",dev,suid"}, home,
			func(c *Config) bool { return c.Bucket == "mybucket" && c.Prefix == "data/" && c.AllowOther }},
		{"mount(8) user options", []string{"b12", "/m", "-o", "ro,nodev,nosuid,noexec,noatime,relatime,sync,user=joe"}, home,
			func(c *Config) bool { return true }},
		{"systemd options", []string{"b12", "/m", "-o", "_netdev,nofail,noauto,auto,defaults,users,nouser,x-systemd.automount,x-systemd.mount-timeout=30,comment=systemd.automount,x-gvfs-hide"}, home,
			func(c *Config) bool { return true }},
		{"generic options", []string{"b12", "/m", "-o", "dev,nodev,suid,nosuid,exec,noexec,async,atime,noatime,relatime,norelatime,lazytime"}, home,
			func(c *Config) bool { return true }},
		{"ro forms", []string{"b12", "/m", "-o", "ro,ro=true", "-r", "--ro", "--read-only"}, home,
			func(c *Config) bool { return !c.ReadWrite && c.FileMode == 0o444 }},
		{"read-only by default", []string{"b12", "/m"}, home,
			func(c *Config) bool { return !c.ReadWrite }},
		{"rw forms", []string{"b12", "/m", "-o", "rw"}, home,
			func(c *Config) bool { return c.ReadWrite && c.FileMode == 0o644 && c.DirMode == 0o755 }},
		{"rw flag forms", []string{"b12", "/m", "--rw", "--read-write", "-w", "-o", "ro=false"}, home,
			func(c *Config) bool { return c.ReadWrite }},
		{"last of ro and rw wins", []string{"b12", "/m", "-o", "rw,ro"}, home,
			func(c *Config) bool { return !c.ReadWrite }},
		{"mount.fuse3 call for an fstab line without ro", []string{"mybucket:/data", "/mnt/oss", "-o", "rw,_netdev,allow_other," + ep + ",dev,suid"}, home,
			func(c *Config) bool { return c.ReadWrite }},
		{"write options", []string{"b12", "/m", "-o", "rw,allow_overwrite,allow_delete,upload_part_size=16M,upload_parallel=3"}, home,
			func(c *Config) bool {
				return c.AllowOverwrite && c.AllowDelete && c.UploadPartSize == 16<<20 && c.UploadParallel == 3
			}},
		{"-- ends flags", []string{"-o", "parallel=2", "--", "b12", "-m"}, home,
			func(c *Config) bool { return c.Parallel == 2 && filepath.Base(c.Mountpoint) == "-m" }},
		{"relative mountpoint made absolute", []string{"b12", "mnt/x/"}, home,
			func(c *Config) bool {
				wd, _ := os.Getwd()
				return c.Mountpoint == filepath.Join(wd, "mnt/x")
			}},
		{"relative paths made absolute", []string{"b12", "/m", "-o", "cache_dir=c,credentials_file=./k,log_file=l"}, home,
			func(c *Config) bool {
				wd, _ := os.Getwd()
				return c.CacheDir == filepath.Join(wd, "c") && c.CredentialsFile == filepath.Join(wd, "k") && c.LogFile == filepath.Join(wd, "l")
			}},
		{"dashes in -o keys", []string{"b12", "/m", "-o", "cache-dir=/c"}, home,
			func(c *Config) bool { return c.CacheDir == "/c" }},
		{"underscores in flags", []string{"b12", "/m", "--cache_dir", "/c"}, home,
			func(c *Config) bool { return c.CacheDir == "/c" }},
		// bools
		{"bool forms", []string{"b12", "/m", "-o", "anonymous,path_style=1,nonempty=yes,debug_fuse=true,foreground=on"}, home,
			func(c *Config) bool { return c.Anonymous && c.PathStyle && c.Nonempty && c.DebugFUSE && c.Foreground }},
		{"bool false forms", []string{"b12", "/m", "-o", "anonymous,anonymous=false,nonempty,nonempty=0,foreground,foreground=no,path_style=off"}, home,
			func(c *Config) bool { return !c.Anonymous && !c.Nonempty && !c.Foreground && !c.PathStyle }},
		{"bool flags", []string{"b12", "/m", "--anonymous", "--allow-other=false", "--nonempty"}, home,
			func(c *Config) bool { return c.Anonymous && !c.AllowOther && c.Nonempty }},
		{"no_ prefix", []string{"b12", "/m", "-o", "anonymous,no_anonymous,debug_fuse,nodebug_fuse"}, home,
			func(c *Config) bool { return !c.Anonymous && !c.DebugFUSE }},
		// allow_other and default_permissions
		{"allow_other implies default_permissions", []string{"b12", "/m", "-o", "allow_other"}, home,
			func(c *Config) bool { return c.AllowOther && c.DefaultPermissions }},
		{"no_default_permissions", []string{"b12", "/m", "-o", "allow_other,no_default_permissions"}, home,
			func(c *Config) bool { return c.AllowOther && !c.DefaultPermissions && c.IsSet("default_permissions") }},
		{"nodefault_permissions", []string{"b12", "/m", "-o", "nodefault_permissions,allow_other"}, home,
			func(c *Config) bool { return c.AllowOther && !c.DefaultPermissions }},
		{"default_permissions=false", []string{"b12", "/m", "-o", "default_permissions=false,allow_other"}, home,
			func(c *Config) bool { return !c.DefaultPermissions }},
		{"--no-default-permissions", []string{"b12", "/m", "--allow-other", "--no-default-permissions"}, home,
			func(c *Config) bool { return c.AllowOther && !c.DefaultPermissions }},
		{"default_permissions alone", []string{"b12", "/m", "-o", "default_permissions"}, home,
			func(c *Config) bool { return !c.AllowOther && c.DefaultPermissions }},
		{"no default_permissions without allow_other", []string{"b12", "/m"}, home,
			func(c *Config) bool { return !c.DefaultPermissions }},
		// sizes
		{"sizes", []string{"b12", "/m", "-o", "cache_size=1.5G,min_free=512MiB,block_size=64K,part_size=256K"}, home,
			func(c *Config) bool {
				return c.CacheSize == 3<<29 && c.MinFree == 512<<20 && c.BlockSize == 64<<10 && c.PartSize == 256<<10
			}},
		{"size bytes and T", []string{"b12", "/m", "-o", "cache_size=1T,min_free=512"}, home,
			func(c *Config) bool { return c.CacheSize == 1<<40 && c.MinFree == 512 }},
		{"size lower case units", []string{"b12", "/m", "-o", "cache_size=2g,block_size=4mb,part_size=4MiB"}, home,
			func(c *Config) bool { return c.CacheSize == 2<<30 && c.BlockSize == 4<<20 && c.PartSize == 4<<20 }},
		{"cache_size 0", []string{"b12", "/m", "-o", "cache_size=0,min_free=0"}, home,
			func(c *Config) bool { return c.CacheSize == 0 && c.MinFree == 0 }},
		// durations
		{"durations", []string{"b12", "/m", "-o", "metadata_ttl=1m,negative_ttl=0,read_timeout=90"}, home,
			func(c *Config) bool {
				return c.MetadataTTL == time.Minute && c.NegativeTTL == 0 && c.ReadTimeout == 90*time.Second
			}},
		{"duration ms", []string{"b12", "/m", "--metadata-ttl", "1500ms"}, home,
			func(c *Config) bool { return c.MetadataTTL == 1500*time.Millisecond }},
		// ints, ids, modes
		{"ints", []string{"b12", "/m", "-o", "parallel=1024,retries=0"}, home,
			func(c *Config) bool { return c.Parallel == 1024 && c.Retries == 0 }},
		{"uid gid", []string{"b12", "/m", "-o", "uid=0,gid=4294967294"}, home,
			func(c *Config) bool { return c.UID == 0 && c.GID == 4294967294 }},
		{"caller's uid gid by default", []string{"b12", "/m"}, home,
			func(c *Config) bool { return c.UID == 1000 && c.GID == 1000 }},
		{"umask", []string{"b12", "/m", "-o", "umask=0077"}, home,
			func(c *Config) bool { return c.Umask == 0o077 && c.FileMode == 0o400 && c.DirMode == 0o500 }},
		{"umask 027 short", []string{"b12", "/m", "-o", "umask=27"}, home,
			func(c *Config) bool { return c.FileMode == 0o440 && c.DirMode == 0o550 }},
		{"explicit modes win over umask in any order", []string{"b12", "/m", "-o", "file_mode=0644,umask=0777,dir_mode=0o755"}, home,
			func(c *Config) bool { return c.FileMode == 0o644 && c.DirMode == 0o755 && c.Umask == 0o777 }},
		{"revalidate mtime", []string{"b12", "/m", "-o", "revalidate=mtime"}, home,
			func(c *Config) bool { return c.Revalidate == "mtime" }},
		{"log levels", []string{"b12", "/m", "-o", "log_level=DEBUG"}, home,
			func(c *Config) bool { return c.LogLevel == slog.LevelDebug }},
		{"log warning", []string{"b12", "/m", "--log-level", "warning"}, home,
			func(c *Config) bool { return c.LogLevel == slog.LevelWarn }},
		{"log error", []string{"b12", "/m", "--log-level=error"}, home,
			func(c *Config) bool { return c.LogLevel == slog.LevelError }},
		{"metrics addr", []string{"b12", "/m", "-o", "metrics_addr=127.0.0.1:9464"}, home,
			func(c *Config) bool { return c.MetricsAddr == "127.0.0.1:9464" }},
		{"metrics addr ipv6", []string{"b12", "/m", "-o", "metrics_addr=[::1]:9464"}, home,
			func(c *Config) bool { return c.MetricsAddr == "[::1]:9464" }},
		{"kernel readahead off", []string{"b12", "/m", "-o", "kernel_readahead=0"}, home,
			func(c *Config) bool { return c.KernelReadahead == 0 }},
		{"kernel readahead flag", []string{"b12", "/m", "--kernel-readahead", "16M"}, home,
			func(c *Config) bool { return c.KernelReadahead == 16<<20 }},
		{"passthrough off", []string{"b12", "/m", "-o", "passthrough=off"}, home,
			func(c *Config) bool { return !c.Passthrough }},
		{"passthrough off flag", []string{"b12", "/m", "--no-passthrough"}, home,
			func(c *Config) bool { return !c.Passthrough }},
		// sources
		{"bucket only", []string{"b12", "/m"}, home, func(c *Config) bool { return c.Bucket == "b12" && c.Prefix == "" }},
		{"bucket:/", []string{"b12:/", "/m"}, home, func(c *Config) bool { return c.Bucket == "b12" && c.Prefix == "" }},
		{"bucket:", []string{"b12:", "/m"}, home, func(c *Config) bool { return c.Prefix == "" }},
		{"bucket:/prefix", []string{"my-bucket-1:/data", "/m"}, home, func(c *Config) bool { return c.Bucket == "my-bucket-1" && c.Prefix == "data/" }},
		{"bucket:prefix", []string{"b12:data/sub", "/m"}, home, func(c *Config) bool { return c.Prefix == "data/sub/" }},
		{"bucket:/prefix/", []string{"b12:/data/sub/", "/m"}, home, func(c *Config) bool { return c.Prefix == "data/sub/" }},
		{"prefix with colon and spaces", []string{"b12:/a:b/c d", "/m"}, home, func(c *Config) bool { return c.Prefix == "a:b/c d/" }},
		// environment
		{"env endpoint and region", []string{"b12", "/m"}, map[string]string{"HOME": "/h", "OSS_ENDPOINT": "oss-cn-beijing.aliyuncs.com", "OSS_REGION": "cn-x"},
			func(c *Config) bool { return c.Endpoint == "https://oss-cn-beijing.aliyuncs.com" && c.Region == "cn-x" }},
		{"option beats env", []string{"b12", "/m", "-o", "endpoint=http://e.example:8080/,region=r1"}, map[string]string{"HOME": "/h", "OSS_ENDPOINT": "x", "OSS_REGION": "y"},
			func(c *Config) bool { return c.Endpoint == "http://e.example:8080" && c.Region == "r1" }},
		{"region derived from env endpoint", []string{"b12", "/m"}, map[string]string{"HOME": "/h", "OSS_ENDPOINT": "https://oss-ap-southeast-1-internal.aliyuncs.com"},
			func(c *Config) bool { return c.Region == "ap-southeast-1" }},
		{"explicit empty region is derived", []string{"b12", "/m", "-o", "region=," + ep}, map[string]string{"HOME": "/h", "OSS_REGION": "y"},
			func(c *Config) bool { return c.Region == "cn-hangzhou" }},
		{"xdg cache", []string{"b12", "/m"}, map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "/xdg"},
			func(c *Config) bool { return c.CacheDir == "/xdg/ossmount" }},
		{"home cache", []string{"b12", "/m"}, map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "relative"},
			func(c *Config) bool { return c.CacheDir == "/h/.cache/ossmount" }},
		// path style
		{"ip endpoint is path style", []string{"b12", "/m", "-o", "endpoint=http://127.0.0.1:9000"}, home,
			func(c *Config) bool { return c.PathStyle }},
		{"localhost endpoint is path style even if refused", []string{"b12", "/m", "-o", "endpoint=http://localhost:9000,path_style=false"}, home,
			func(c *Config) bool { return c.PathStyle }},
		{"ipv6 endpoint", []string{"b12", "/m", "-o", "endpoint=http://[::1]:9000"}, home,
			func(c *Config) bool { return c.PathStyle }},
		{"bare ip endpoint", []string{"b12", "/m", "-o", "endpoint=10.0.0.1"}, home,
			func(c *Config) bool { return c.PathStyle && c.Endpoint == "https://10.0.0.1" }},
		{"dns endpoint is virtual hosted", []string{"b12", "/m", "-o", ep}, home,
			func(c *Config) bool { return !c.PathStyle }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			c := mustParse(t, tt.args, envOf(env))
			if !tt.check(c) {
				t.Errorf("Parse(%q) = %+v", tt.args, c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	asRoot(t)
	tests := []struct {
		args []string
		want string // substring of the error
	}{
		{nil, "missing BUCKET"},
		{[]string{"b12"}, "missing MOUNTPOINT"},
		{[]string{"b12", "/m", "extra"}, `unexpected argument "extra"`},
		{[]string{"stats", "/m", "x"}, `unexpected argument "x"`},
		{[]string{"b12", "/m", "-o", "upload_part_size=50K"}, "between 100K and 1G"},
		{[]string{"b12", "/m", "-o", "upload_parallel=0"}, "between 1 and"},
		{[]string{"b12", "/m", "-o", "foo"}, `unknown option "foo"`},
		{[]string{"b12", "/m", "-o", "foo=bar"}, `unknown option "foo"`},
		{[]string{"b12", "/m", "-o", "ro,allow_other,bogus_opt=1"}, `unknown option "bogus_opt"`},
		{[]string{"b12", "/m", "--foo"}, `unknown option "--foo"`},
		{[]string{"b12", "/m", "--foo=1"}, `unknown option "--foo"`},
		{[]string{"b12", "/m", "-x"}, `unknown option "-x"`},
		{[]string{"b12", "/m", "-o", "noro"}, `unknown option "noro"`},
		{[]string{"b12", "/m", "-o", "=x"}, `invalid option "=x"`},
		{[]string{"b12", "/m", "-o"}, "-o needs"},
		{[]string{"b12", "/m", "--cache-dir"}, "needs a value"},
		{[]string{"b12", "/m", "-o", "cache_size"}, "option cache_size needs a value"},
		{[]string{"b12", "/m", "-o", "parallel="}, "option parallel needs a value"},
		{[]string{"b12", "/m", "-o", "no_default_permissions=1"}, "takes no value"},
		// sizes
		{[]string{"b12", "/m", "-o", "cache_size=-1G"}, `option cache_size: invalid value "-1G": must not be negative`},
		{[]string{"b12", "/m", "-o", "cache_size=10X"}, `option cache_size: invalid value "10X"`},
		{[]string{"b12", "/m", "-o", "cache_size=G"}, `option cache_size: invalid value "G"`},
		{[]string{"b12", "/m", "-o", "cache_size=1.G"}, `invalid value "1.G"`},
		{[]string{"b12", "/m", "-o", "cache_size=1..5G"}, `invalid value "1..5G"`},
		{[]string{"b12", "/m", "-o", "cache_size=8E"}, "too large"},
		{[]string{"b12", "/m", "-o", "cache_size=99999999999999999999"}, "too large"},
		{[]string{"b12", "/m", "-o", "cache_size= 1G"}, `invalid value " 1G"`},
		{[]string{"b12", "/m", "-o", "min_free=1Q"}, "option min_free"},
		{[]string{"b12", "/m", "-o", "block_size=3K"}, `option block_size: invalid value "3K": must be a power of two`},
		{[]string{"b12", "/m", "-o", "block_size=32K"}, "between 64K and 64M"},
		{[]string{"b12", "/m", "-o", "block_size=128M"}, "between 64K and 64M"},
		{[]string{"b12", "/m", "-o", "part_size=2G"}, "option part_size"},
		{[]string{"b12", "/m", "-o", "part_size=0"}, "option part_size"},
		// durations
		{[]string{"b12", "/m", "-o", "metadata_ttl=-1s"}, `option metadata_ttl: invalid value "-1s": must not be negative`},
		{[]string{"b12", "/m", "-o", "metadata_ttl=soon"}, `option metadata_ttl: invalid value "soon"`},
		{[]string{"b12", "/m", "-o", "negative_ttl=1x"}, "option negative_ttl"},
		{[]string{"b12", "/m", "-o", "read_timeout=0"}, "option read_timeout: invalid value \"0\": must be greater than zero"},
		{[]string{"b12", "/m", "-o", "read_timeout=99999999999999999"}, "too large"},
		// ints
		{[]string{"b12", "/m", "-o", "parallel=0"}, `option parallel: invalid value "0": must be between 1 and 1024`},
		{[]string{"b12", "/m", "-o", "parallel=1025"}, "option parallel"},
		{[]string{"b12", "/m", "-o", "parallel=4x"}, "not a whole number"},
		{[]string{"b12", "/m", "--parallel", "-1"}, "option parallel"},
		{[]string{"b12", "/m", "-o", "retries=-1"}, "option retries"},
		{[]string{"b12", "/m", "-o", "uid=-1"}, "option uid"},
		{[]string{"b12", "/m", "-o", "uid=4294967295"}, "option uid"},
		{[]string{"b12", "/m", "-o", "gid=root"}, `option gid: invalid value "root"`},
		{[]string{"b12", "/m", "-o", "umask=0088"}, "option umask"},
		{[]string{"b12", "/m", "-o", "umask=01777"}, "option umask"},
		{[]string{"b12", "/m", "-o", "file_mode=rw"}, "option file_mode"},
		{[]string{"b12", "/m", "-o", "dir_mode="}, "option dir_mode needs a value"},
		// enums and bools
		{[]string{"b12", "/m", "-o", "revalidate=size"}, `option revalidate: invalid value "size"`},
		{[]string{"b12", "/m", "-o", "log_level=trace"}, `option log_level: invalid value "trace"`},
		{[]string{"b12", "/m", "-o", "allow_other=maybe"}, `option allow_other: invalid value "maybe"`},
		{[]string{"b12", "/m", "--anonymous=2"}, `option anonymous: invalid value "2"`},
		{[]string{"b12", "/m", "-o", "metrics_addr=9464"}, "option metrics_addr"},
		{[]string{"b12", "/m", "-o", "metrics_addr=:99999"}, "option metrics_addr"},
		{[]string{"b12", "/m", "-o", "kernel_readahead=65M"}, "kernel_readahead"},
		// sources
		{[]string{"B12", "/m"}, "lowercase"},
		{[]string{"ab", "/m"}, "3 to 63"},
		{[]string{strings.Repeat("a", 64), "/m"}, "3 to 63"},
		{[]string{"-ab", "/m"}, "unknown option"},
		{[]string{"--", "-ab", "/m"}, "hyphen"},
		{[]string{"ab-", "/m"}, "hyphen"},
		{[]string{"my_bucket", "/m"}, "lowercase"},
		{[]string{"my.bucket", "/m"}, "lowercase"},
		{[]string{":/data", "/m"}, "no bucket name"},
		{[]string{"b12:/a/../b", "/m"}, `".." component`},
		{[]string{"b12:/a/./b", "/m"}, `"." component`},
		{[]string{"b12:/..", "/m"}, `".." component`},
		{[]string{"b12:/a//b", "/m"}, "empty path component"},
		{[]string{"b12://a", "/m"}, "empty path component"},
		{[]string{"b12:/a//", "/m"}, "empty path component"},
		{[]string{"b12", ""}, "invalid mountpoint"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.args, noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error is not one line: %q", tt.args, err)
		}
	}
}

func TestHelpVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"b12", "/m", "--help"}, {"-fh"}} {
		if _, err := Parse(args, noEnv); !errors.Is(err, ErrHelp) {
			t.Errorf("Parse(%q) = %v, want ErrHelp", args, err)
		}
	}
	for _, args := range [][]string{{"--version"}, {"-V"}, {"b12", "--version"}} {
		if _, err := Parse(args, noEnv); !errors.Is(err, ErrVersion) {
			t.Errorf("Parse(%q) = %v, want ErrVersion", args, err)
		}
	}
}

func TestUsageDocumentsEveryOption(t *testing.T) {
	u := Usage()
	for _, o := range options {
		if !strings.Contains(u, "\n  "+o.name) {
			t.Errorf("Usage does not document %s", o.name)
		}
		if o.def == "" || !strings.Contains(u, "default: "+o.def) {
			t.Errorf("Usage does not give the default of %s", o.name)
		}
	}
	for _, s := range []string{"10G", "1M", "8M", "30s", "/var/cache/ossmount", "OSS_ACCESS_KEY_ID", "-f", "--help"} {
		if !strings.Contains(u, s) {
			t.Errorf("Usage does not mention %s", s)
		}
	}
}

func TestRegionFromEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"oss-cn-hangzhou.aliyuncs.com":                 "cn-hangzhou",
		"https://oss-cn-hangzhou.aliyuncs.com":         "cn-hangzhou",
		"oss-cn-hangzhou-internal.aliyuncs.com":        "cn-hangzhou",
		"OSS-US-WEST-1.ALIYUNCS.COM":                   "us-west-1",
		"cn-shanghai.oss.aliyuncs.com":                 "cn-shanghai",
		"oss-cn-shanghai-finance-1-pub.aliyuncs.com":   "cn-shanghai-finance-1-pub",
		"http://oss-eu-central-1.aliyuncs.com:80":      "eu-central-1",
		"oss-accelerate.aliyuncs.com":                  "",
		"oss-accelerate-overseas.aliyuncs.com":         "",
		"s3.example.com":                               "",
		"127.0.0.1":                                    "",
		"":                                             "",
		"aliyuncs.com":                                 "",
		"oss-.aliyuncs.com":                            "",
		"mybucket.oss-cn-beijing.aliyuncs.com":         "cn-beijing",
		"https://oss-cn-hangzhou.aliyuncs.com.evil.io": "",
	} {
		if got := RegionFromEndpoint(in); got != want {
			t.Errorf("RegionFromEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	asRoot(t)
	ok := []string{ep, "region=r", "cache_dir=/c"}
	tests := []struct {
		opts []string
		want string // "" = valid
	}{
		{ok, ""},
		{[]string{"endpoint=oss-cn-hangzhou.aliyuncs.com"}, ""},
		{[]string{"endpoint=http://127.0.0.1:9000", "region=cn-hangzhou"}, ""},
		{[]string{"endpoint=http://localhost:9000", "anonymous"}, ""},
		{[]string{"region=r"}, "no endpoint"},
		{[]string{"endpoint=http://127.0.0.1:9000"}, "no region"},
		{[]string{"endpoint=ftp://x.example"}, "scheme must be http or https"},
		{[]string{"endpoint=https://u:secretpw@x.example", "region=r"}, "user information"},
		{[]string{"endpoint=https://x.example/path", "region=r"}, "no path"},
		{[]string{"endpoint=https://x.example/?a=b", "region=r"}, "no path"},
		{[]string{"endpoint=https://:9000", "region=r"}, "no host"},
		{[]string{"endpoint=https://x.example:0", "region=r"}, "bad port"},
		{[]string{"endpoint=http://[::1", "region=r"}, "not a URL"},
		{append(ok, "block_size=1M", "part_size=1536K"), "part_size 1536K must be a multiple of block_size 1M"},
		{append(ok, "block_size=4M", "part_size=2M"), "multiple of block_size"},
		{append(ok, "block_size=64K", "part_size=256K"), ""},
		{append(ok, "cache_size=2M", "block_size=64K", "part_size=256K"), ""},
		{append(ok, "cache_size=1M"), "cache_size 1M is smaller than part_size 8M"},
		{append(ok, "cache_size=0"), ""},
		{append(ok, "allow_other", "allow_root"), "allow_other and allow_root"},
		{append(ok, "anonymous", "credentials_file=/k"), "anonymous and credentials_file"},
		{append(ok, "cache_dir=/m/cache"), "inside the mountpoint"},
		{append(ok, "cache_dir=/m"), "inside the mountpoint"},
		{append(ok, "cache_dir=/mx"), ""},
		{append(ok, "allow_overwrite"), "need rw"},
		{append(ok, "ro", "allow_delete"), "need rw"},
		{append(ok, "rw", "allow_overwrite", "allow_delete"), ""},
	}
	for _, tt := range tests {
		args := []string{"b12", "/m", "-o", strings.Join(tt.opts, ",")}
		c := mustParse(t, args, noEnv)
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%q) = %v", tt.opts, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%q) = %v, want an error containing %q", tt.opts, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Validate error shows the endpoint password: %v", err)
		}
	}
}

func TestValidateNoCacheDir(t *testing.T) {
	asUser(t)
	c := mustParse(t, []string{"b12", "/m", "-o", ep}, noEnv)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cache_dir") {
		t.Fatalf("Validate without HOME = %v", err)
	}
}

func TestValidateHandMade(t *testing.T) {
	c := &Config{Bucket: "b12", Mountpoint: "/m", Endpoint: "x.example", Region: "r", CacheDir: "/c",
		BlockSize: 1 << 20, PartSize: 1 << 20, Parallel: 1, Revalidate: "etag", ReadTimeout: time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "https://x.example" {
		t.Errorf("Validate did not normalize the endpoint: %q", c.Endpoint)
	}
	bad := *c
	bad.BlockSize = 3 << 20
	if bad.Validate() == nil {
		t.Error("Validate accepted block_size 3M")
	}
	bad = *c
	bad.Prefix = "/x"
	if bad.Validate() == nil {
		t.Error("Validate accepted prefix /x")
	}
	bad = *c
	bad.Revalidate = ""
	if bad.Validate() == nil {
		t.Error("Validate accepted an empty revalidate")
	}
}

func TestStringAndArgs(t *testing.T) {
	asUser(t)
	args := []string{"my-bucket:/data/x y/", "rel mnt", "-o", `endpoint=https://u:hunter2@oss-cn-hangzhou.aliyuncs.com,allow_other,cache_dir=/c\,d,cache_size=1536M,umask=027,log_file=/l og,metrics_addr=:9464,revalidate=mtime,log_level=debug`, "-f"}
	c := mustParse(t, args, envOf(map[string]string{"HOME": "/h"}))
	s := c.String()
	for _, want := range []string{`source="my-bucket:/data/x y/"`, "endpoint=", "region=cn-hangzhou", "cache_size=1536M", "block_size=1M",
		"umask=0027", "file_mode=0440", "dir_mode=0550", "default_permissions=true", "allow_other=true", "foreground=true",
		`log_file="/l og"`, "metrics_addr=:9464", "revalidate=mtime", "log_level=debug", "read_timeout=30s", "retries=5",
		"parallel=64", "uid=1000", "metadata_ttl=1s", "negative_ttl=1s", "min_free=1G", "part_size=8M", "path_style=false",
		"anonymous=false", "credentials_file=", "nonempty=false", "debug_fuse=false", "allow_root=false", "gid=1000"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "hunter2") || strings.Contains(s, "\n") {
		t.Errorf("String() shows the endpoint password or is not one line: %s", s)
	}
	// Args round-trips, whatever the environment and working directory.
	c2 := mustParse(t, c.Args(), envOf(map[string]string{"OSS_ENDPOINT": "other", "OSS_REGION": "other", "HOME": "/other"}))
	if !sameConfig(c, c2) {
		t.Errorf("Args round trip:\n%+v\n%+v\nargs %q", c, c2, c.Args())
	}
}

// sameConfig compares everything but the record of explicit options.
func sameConfig(a, b *Config) bool {
	x, y := *a, *b
	x.set, y.set = nil, nil
	return reflect.DeepEqual(x, y)
}

func TestSizes(t *testing.T) {
	good := map[string]int64{
		"0": 0, "512": 512, "512b": 512, "64K": 64 << 10, "64k": 64 << 10, "64KB": 64 << 10, "64KiB": 64 << 10,
		"1M": 1 << 20, "10G": 10 << 30, "1T": 1 << 40, "512MiB": 512 << 20, "1.5G": 3 << 29, "0.5K": 512,
		"1.0001K": 1024, "2P": 2 << 50, "7E": 7 << 60, "9223372036854775807": 1<<63 - 1,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "-0", "1.5.5G", ".5G", "1.G", "G", "1GG", "1 G", " 1G", "1G ", "0x10", "1e3", "+1", "8E", "9223372036854775808", "1Z", "∞", "1_000"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for _, n := range []int64{0, 1, 1023, 1024, 1536 << 20, 10 << 30, 1<<63 - 1, 7 << 60} {
		s := FormatSize(n)
		if back, err := ParseSize(s); err != nil || back != n {
			t.Errorf("FormatSize(%d) = %q, parses back as %d, %v", n, s, back, err)
		}
	}
	if FormatSize(10<<30) != "10G" || FormatSize(1536<<20) != "1536M" || FormatSize(1025) != "1025" {
		t.Error("FormatSize does not use the largest exact unit")
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "30": 30 * time.Second, "30s": 30 * time.Second, "1m": time.Minute, "1h2m": time.Hour + 2*time.Minute, "250ms": 250 * time.Millisecond, "0s": 0} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "-1s", "1x", "s", "1.5", "9999999999999999999", "9223372037"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) succeeded", in)
		}
	}
}
