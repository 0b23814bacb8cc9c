package csi_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWarmAttribute: a volume with the warm attribute has its paths
// fetched into the cache after staging, with progress in the plugin's log
// and metrics; pods then read them without a GET of data.
func TestWarmAttribute(t *testing.T) {
	needRoot(t)
	emu, url := emulator(t)
	const pub = "public-bkt" // read anonymously: the volume has no secret
	emu.CreateBucket(pub, true)
	a, b := bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 2<<20+7)
	emu.Put(pub, "ds/models/a.bin", a)
	emu.Put(pub, "ds/models/sub/b.bin", b)
	emu.Put(pub, "ds/other.bin", []byte("not warmed"))
	dir := t.TempDir()
	cleanupMounts(t, dir)
	pp := startProcess(t, dir)
	v := &volume{id: "pv-warm", staging: filepath.Join(dir, "staging"),
		attrs: map[string]string{"bucket": pub, "path": "ds", "url": url, "region": testRegion, "warm": "models"}}
	must(t, "stage", v.stage(pp.plugin))
	t.Cleanup(func() { _ = v.unstage(pp.plugin) })

	deadline := time.Now().Add(60 * time.Second)
	for {
		m := scrape(t, pp.metrics)
		if done, ok := metricValue(m, "ossmount_csi_warm_complete", v.id); ok && done == 1 {
			total, _ := metricValue(m, "ossmount_csi_warm_total_bytes", v.id)
			got, _ := metricValue(m, "ossmount_csi_warm_done_bytes", v.id)
			if want := float64(len(a) + len(b)); total != want || got != want {
				t.Errorf("warm metrics: %v of %v bytes, want %v of %v", got, total, want, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the warm did not complete; metrics:\n%s", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for key, size := range map[string]int{"ds/models/a.bin": len(a), "ds/models/sub/b.bin": len(b)} {
		if _, body := getBody(emu, key); body < int64(size) {
			t.Errorf("warm fetched %d bytes of %s (%d)", body, key, size)
		}
	}
	if n, _ := getBody(emu, "ds/other.bin"); n != 0 {
		t.Errorf("warm fetched ds/other.bin, which is outside its path")
	}
	if log, _ := os.ReadFile(pp.logFile); !bytes.Contains(log, []byte("warm: done")) || !bytes.Contains(log, []byte("warm: started")) {
		t.Errorf("the plugin log does not show the warm's progress")
	}

	emu.ResetRequests()
	target := filepath.Join(dir, "pod/mount")
	must(t, "publish", v.publish(pp.plugin, target, nil))
	t.Cleanup(func() { _ = v.unpublish(pp.plugin, target) })
	if got := readFile(t, filepath.Join(target, "models/a.bin")); !bytes.Equal(got, a) {
		t.Fatal("a.bin differs")
	}
	if got := readFile(t, filepath.Join(target, "models/sub/b.bin")); !bytes.Equal(got, b) {
		t.Fatal("b.bin differs")
	}
	for _, key := range []string{"ds/models/a.bin", "ds/models/sub/b.bin"} {
		if n, body := getBody(emu, key); body != 0 {
			t.Errorf("reading warmed %s made %d GETs with %d body bytes, want 0 bytes", key, n, body)
		}
	}
}
