package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseOptions feeds Parse arbitrary sources, mountpoints, -o lists and
// flags. Parse and Validate must never panic; a Config that Parse accepts
// must survive String and Args (Args parsing back to the same Config), and
// one that Validate also accepts must keep the invariants the rest of
// ossmount relies on.
func FuzzParseOptions(f *testing.F) {
	f.Add("mybucket:/data", "/mnt/oss", "_netdev,ro,allow_other,endpoint=https://oss-cn-hangzhou.aliyuncs.com,credentials_file=/etc/ossmount.cred", "")
	f.Add("bkt", "/m", "endpoint=http://127.0.0.1:9000,region=cn-hangzhou,cache_dir=/c,log_file=/l,log_level=debug,block_size=64K,part_size=256K", "-f")
	f.Add("bkt:sub/dir/", "rel", "cache_size=1.5G,min_free=512MiB,metadata_ttl=1m,negative_ttl=0,read_timeout=90", "--parallel 4 --revalidate=mtime")
	f.Add("bkt:/", "/m", `log_file=/a\,b,umask=077,file_mode=0644,no_default_permissions,x-systemd.automount,comment=a=b`, "-d --no-allow-other")
	f.Add("bkt", "/m", "rw", "")
	f.Add("bkt", "/m", "block_size=3K,part_size=-1", "--cache-dir")
	f.Add("b-1:/a/../b", "/m", "uid=4294967295,gid=x", "-o")
	f.Add("bkt", "/m", "endpoint=localhost:9000,anonymous,cache_size=0,metrics_addr=[::1]:9464", "-fo nonempty")
	f.Add("bkt", "/m", "endpoint=oss-cn-beijing.aliyuncs.com,part_size=1G,block_size=64M,cache_size=1T,retries=1000,parallel=1024", "-- extra")
	env := envOf(map[string]string{"HOME": "/home/u", "OSS_ENDPOINT": "oss-cn-shenzhen.aliyuncs.com"})
	f.Fuzz(func(t *testing.T, src, mnt, opts, flags string) {
		args := append(strings.Fields(flags), src, mnt, "-o", opts)
		c, err := Parse(args, env)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a Config with error %v", err)
			}
			return
		}
		_ = c.String()
		c2, err := Parse(c.Args(), env)
		if err != nil {
			t.Fatalf("Parse(Args()) = %v\nargs %q", err, c.Args())
		}
		if !sameConfig(c, c2) {
			t.Fatalf("Args round trip differs:\n%+v\n%+v", c, c2)
		}
		if err := c.Validate(); err != nil {
			return
		}
		switch {
		case !ValidBucketName(c.Bucket):
			t.Fatalf("bucket %q", c.Bucket)
		case c.Prefix != "" && (!strings.HasSuffix(c.Prefix, "/") || strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//")):
			t.Fatalf("prefix %q", c.Prefix)
		case !filepath.IsAbs(c.Mountpoint) || !filepath.IsAbs(c.CacheDir):
			t.Fatalf("relative path: %q %q", c.Mountpoint, c.CacheDir)
		case c.BlockSize&(c.BlockSize-1) != 0 || c.BlockSize < MinBlockSize || c.BlockSize > MaxBlockSize:
			t.Fatalf("block_size %d", c.BlockSize)
		case c.PartSize <= 0 || c.PartSize%c.BlockSize != 0 || c.PartSize > MaxPartSize:
			t.Fatalf("part_size %d, block_size %d", c.PartSize, c.BlockSize)
		case c.CacheSize < 0 || c.MinFree < 0 || c.CacheSize != 0 && c.CacheSize < c.PartSize:
			t.Fatalf("cache_size %d min_free %d", c.CacheSize, c.MinFree)
		case c.Parallel < 1 || c.Parallel > MaxParallel || c.Retries < 0 || c.Retries > MaxRetries:
			t.Fatalf("parallel %d retries %d", c.Parallel, c.Retries)
		case c.Revalidate != "etag" && c.Revalidate != "mtime":
			t.Fatalf("revalidate %q", c.Revalidate)
		case c.MetadataTTL < 0 || c.NegativeTTL < 0 || c.ReadTimeout <= 0:
			t.Fatalf("durations %v %v %v", c.MetadataTTL, c.NegativeTTL, c.ReadTimeout)
		case c.Umask > 0o777 || c.FileMode > 0o777 || c.DirMode > 0o777:
			t.Fatalf("modes %o %o %o", c.Umask, c.FileMode, c.DirMode)
		case !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://"):
			t.Fatalf("endpoint %q", c.Endpoint)
		case c.Region == "" && !c.Anonymous:
			t.Fatalf("no region")
		case c.AllowOther && c.AllowRoot:
			t.Fatalf("allow_other and allow_root")
		case c.AllowOther && !c.DefaultPermissions && !c.IsSet("default_permissions"):
			t.Fatalf("allow_other without default_permissions")
		case PathStyleHost(endpointHost(c.Endpoint)) && !c.PathStyle:
			t.Fatalf("local endpoint %q not path style", c.Endpoint)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate is not idempotent: %v", err)
		}
	})
}
