package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An fstab line without ro mounts writable: mount(8) passes rw to
// mount.fuse3, which passes it to ossmount.
func TestFstabLineWithoutRoMountsWritable(t *testing.T) {
	e := newDaemonEnv(t)
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("%s %s fuse.ossmount _netdev,%s 0 0\n", testBucket, e.mnt, e.opts())
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run(t, nil, "mount", "-T", fstab, e.mnt); code != 0 {
		t.Fatalf("mount -T: exit %d: %s", code, stderr)
	}
	mustLive(t, e.mnt)
	out, err := exec.Command("findmnt", "-n", "-o", "OPTIONS", e.mnt).Output()
	if err != nil || !strings.HasPrefix(string(out), "rw,") {
		t.Fatalf("findmnt: %q %v", out, err)
	}
	if err := os.WriteFile(e.path("from-fstab.txt"), []byte("written\n"), 0o644); err != nil {
		t.Fatalf("write: %v", err)
	}
	e.stored("from-fstab.txt", []byte("written\n"))
	if code, stderr := run(t, nil, "umount", e.mnt); code != 0 {
		t.Fatalf("umount: exit %d: %s", code, stderr)
	}
	waitNoDaemon(t, e.mnt)
}
