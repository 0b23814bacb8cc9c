package csi

import (
	"strings"
	"testing"
)

func TestVolumeAttributesNameTheKeyAtFault(t *testing.T) {
	good := func() map[string]string {
		return map[string]string{"bucket": "bkt", "url": "http://127.0.0.1:9000", "region": "cn-hangzhou"}
	}
	cases := []struct {
		name   string
		edit   func(map[string]string)
		anon   bool
		key    string
		reason string
	}{
		{"missing bucket", func(m map[string]string) { delete(m, "bucket") }, false, "bucket", "missing"},
		{"bad bucket", func(m map[string]string) { m["bucket"] = "Not_A_Bucket" }, false, "bucket", "not a valid"},
		{"bad path", func(m map[string]string) { m["path"] = "/a/../b" }, false, "path", ""},
		{"missing url", func(m map[string]string) { delete(m, "url") }, false, "url", "missing"},
		{"bad url", func(m map[string]string) { m["url"] = "ftp://host" }, false, "url", "scheme"},
		{"url with a path", func(m map[string]string) { m["url"] = "https://host/bkt" }, false, "url", "path"},
		{"no region", func(m map[string]string) { m["url"] = "https://oss.example.com"; delete(m, "region") }, false, "region", "missing"},
		{"unknown option", func(m map[string]string) { m["otherOpts"] = "-o max_stat_cache_size=0" }, false, "otherOpts", "max_stat_cache_size"},
		{"owned option", func(m map[string]string) { m["otherOpts"] = "-o cache_dir=/tmp/x" }, false, "otherOpts", "cache_dir"},
		{"bad value", func(m map[string]string) { m["otherOpts"] = "-o parallel=0" }, false, "otherOpts", "parallel"},
		{"not an -o", func(m map[string]string) { m["otherOpts"] = "--foo" }, false, "otherOpts", "--foo"},
		{"rw in otherOpts", func(m map[string]string) { m["otherOpts"] = "-o allow_delete,rw" }, false, "otherOpts", "option rw"},
		{"ro in otherOpts", func(m map[string]string) { m["otherOpts"] = "-oro" }, false, "otherOpts", "option ro"},
		{"readOnly garbage", func(m map[string]string) { m["readOnly"] = "maybe" }, false, "readOnly", "maybe"},
		{"unknown key", func(m map[string]string) { m["fuseType"] = "ossfs2" }, false, "fuseType", "unknown"},
		{"warm outside", func(m map[string]string) { m["warm"] = "../x" }, false, "warm", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := good()
			c.edit(m)
			spec, err := parseVolumeContext(m)
			if err == nil {
				err = spec.check(c.anon)
			}
			if err == nil {
				t.Fatalf("accepted %v", m)
			}
			if !strings.HasPrefix(err.Error(), "volume attribute "+c.key+":") || !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q does not name %s (%s)", err, c.key, c.reason)
			}
		})
	}
}

func TestVolumeAttributesAccepted(t *testing.T) {
	m := map[string]string{
		"bucket": "bkt", "path": "/data/set/", "url": "oss-cn-shenzhen.aliyuncs.com",
		"otherOpts": "-o allow_other -o cache_size=50G,parallel=32 -oupload_parallel=4", "readOnly": "true", "warm": "models, /index.json,",
		// added by the provisioner and by kubelet: ignored
		"storage.kubernetes.io/csiProvisionerIdentity": "x", "csi.storage.k8s.io/pod.name": "p",
	}
	spec, err := parseVolumeContext(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.check(true); err != nil {
		t.Fatal(err)
	}
	if spec.Prefix != "data/set/" || spec.Bucket != "bkt" {
		t.Errorf("bucket %q prefix %q", spec.Bucket, spec.Prefix)
	}
	if strings.Join(spec.Options, ",") != "allow_other,cache_size=50G,parallel=32,upload_parallel=4" {
		t.Errorf("options %v", spec.Options)
	}
	if !spec.ReadOnly {
		t.Error("readOnly: true not read")
	}
	w, err := parseVolumeContext(map[string]string{"bucket": "bkt", "url": "http://127.0.0.1:9000", "region": "cn-hangzhou", "readOnly": "false", "otherOpts": "-o allow_overwrite,allow_delete"})
	if err != nil || w.ReadOnly {
		t.Fatalf("readOnly: false: %v %v", w, err)
	}
	// rw and the write options reach the daemon only when staged writable.
	if a := strings.Join(w.args("/m", "/c", "", "/l"), " "); strings.Contains(a, ",rw") || strings.Contains(a, "allow_delete") || strings.Contains(a, "allow_overwrite") {
		t.Errorf("read-only staging: %s", a)
	}
	w.Writable = true
	if a := strings.Join(w.args("/m", "/c", "", "/l"), " "); !strings.Contains(a, ",rw,allow_overwrite,allow_delete") {
		t.Errorf("writable staging: %s", a)
	}
	if strings.Join(spec.Warm, ",") != "models,index.json" {
		t.Errorf("warm %v", spec.Warm)
	}
	// The cache directory depends on what identifies the data only.
	other := *spec
	other.Options = nil
	if other.cacheName() != spec.cacheName() {
		t.Error("options changed the cache directory")
	}
	other.Prefix = "data/"
	if other.cacheName() == spec.cacheName() {
		t.Error("another prefix has the same cache directory")
	}
}

func TestSecrets(t *testing.T) {
	if s, err := parseSecrets(nil); s != nil || err != nil {
		t.Errorf("no secrets: %v %v, want anonymous", s, err)
	}
	for _, c := range []struct {
		m   map[string]string
		key string
	}{
		{map[string]string{"akId": "LTAIxxxxxxxxxxxx"}, "akSecret"},
		{map[string]string{"akSecret": "s"}, "akId"},
		{map[string]string{"akId": "a", "akSecret": "s", "token": "t"}, "token"},
		{map[string]string{"akId": "a:b", "akSecret": "s"}, "akId"},
	} {
		_, err := parseSecrets(c.m)
		if err == nil || !strings.Contains(err.Error(), "secret key "+c.key) {
			t.Errorf("%v: error %v does not name %s", c.m, err, c.key)
		}
	}
	s, err := parseSecrets(map[string]string{"akId": "a", "akSecret": "s", "securityToken": "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.file("bkt")); got != "bkt:a:s:t\n" {
		t.Errorf("credentials file %q", got)
	}
}

// A public-read bucket behind an endpoint that names no region mounts
// anonymously (the daemon needs no region for unsigned requests); with
// secrets the region is required, at stage.
func TestAnonymousVolumeNeedsNoRegion(t *testing.T) {
	m := map[string]string{"bucket": "bkt", "url": "https://oss.example.com"}
	spec, err := parseVolumeContext(m)
	if err != nil {
		t.Fatalf("refused %v: %v", m, err)
	}
	if err := spec.check(true); err != nil {
		t.Fatalf("anonymous: %v", err)
	}
	if err := spec.check(false); err == nil || !strings.Contains(err.Error(), "region") {
		t.Fatalf("with secrets: %v, want the region named", err)
	}
}
