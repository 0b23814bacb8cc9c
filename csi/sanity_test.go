package csi_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
)

// TestSanity runs the CSI conformance suite (csi-test's pkg/sanity)
// against the real plugin over its unix socket, with real ossmount mounts
// over the emulator. CreateVolume is offered, so the suite's stage and
// publish cases run. What it skips, and why, is in docs/csi.md (Testing).
func TestSanity(t *testing.T) {
	needRoot(t)
	emu, url := emulator(t)
	emu.Put(testBucket, "hello.txt", []byte("hello from the emulator\n"))
	dir := t.TempDir()
	cleanupMounts(t, dir)
	p := startInProcess(t, dir)

	secrets := filepath.Join(dir, "secrets.yaml")
	y := "NodeStageVolumeSecret:\n  akId: " + testAK + "\n  akSecret: " + testSK + "\n"
	if err := os.WriteFile(secrets, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sanity.NewTestConfig()
	cfg.Address = "unix:" + p.sock
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.SecretsFile = secrets
	cfg.TestVolumeParameters = map[string]string{"bucket": testBucket, "url": url, "region": testRegion, "path": "/sanity"}
	cfg.IdempotentCount = 3
	sanity.Test(t, cfg)

	if left := mountsUnder(t, dir); len(left) > 0 {
		t.Errorf("mounts left after the suite: %v", left)
	}
	if left := ossmountProcesses(t, dir); len(left) > 0 {
		t.Errorf("daemons left after the suite: %v", left)
	}
}
