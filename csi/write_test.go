package csi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestWriterModes: a volume staged with a writer access mode is writable
// through its targets (one daemon: a file created through one target reads
// back through another, and the emulator holds the object); a readonly
// publish of it is EROFS at that target; a volume staged with a reader mode
// stays EROFS, and a publish asking to write it is FailedPrecondition; a
// daemon restarted at a publish is writable again, its readonly target not.
func TestWriterModes(t *testing.T) {
	needRoot(t)
	emu, url := emulator(t)
	dir := t.TempDir()
	cleanupMounts(t, dir)
	p := startInProcess(t, dir)
	ctx := context.Background()
	sec := map[string]string{"akId": testAK, "akSecret": testSK}
	rwx := capability(csipb.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	stage := func(id string, c *csipb.VolumeCapability, attrs map[string]string) string {
		staging := filepath.Join(dir, id, "staging")
		_, err := p.node.NodeStageVolume(ctx, &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: c, VolumeContext: attrs, Secrets: sec})
		must(t, "stage "+id, err)
		return staging
	}
	publish := func(id, staging, target string, c *csipb.VolumeCapability, ro bool) error {
		_, err := p.node.NodePublishVolume(ctx, &csipb.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: c, Readonly: ro})
		return err
	}

	wAttrs := map[string]string{"bucket": testBucket, "url": url, "region": testRegion, "path": "/w", "readOnly": "false", "otherOpts": "-o allow_delete"}
	ws := stage("vol-w", rwx, wAttrs)
	t1, t2, t3 := filepath.Join(dir, "vol-w", "t1"), filepath.Join(dir, "vol-w", "t2"), filepath.Join(dir, "vol-w", "t3")
	must(t, "publish t1", publish("vol-w", ws, t1, rwx, false))
	must(t, "publish t2", publish("vol-w", ws, t2, rwx, false))
	must(t, "publish t3 readonly", publish("vol-w", ws, t3, rwx, true))
	must(t, "publish t1 again", publish("vol-w", ws, t1, rwx, false))
	if err := publish("vol-w", ws, t3, rwx, false); status.Code(err) != codes.AlreadyExists {
		t.Errorf("publish t3 again without readonly: %v, want AlreadyExists", err)
	}
	data := []byte("written through the CSI volume\n")
	must(t, "write through t1", os.WriteFile(filepath.Join(t1, "out.txt"), data, 0o644))
	if got := readFile(t, filepath.Join(t2, "out.txt")); string(got) != string(data) {
		t.Errorf("read back through t2: %q", got)
	}
	if got, ok := emu.ObjectData(testBucket, "w/out.txt"); !ok || string(got) != string(data) {
		t.Errorf("emulator holds %q (%v), want %q", got, ok, data)
	}
	if err := os.WriteFile(filepath.Join(t3, "ro.txt"), data, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write through the readonly target t3: %v, want EROFS", err)
	}
	// The daemon dies: the next publish restarts it writable, from the
	// volume's record, and renews each bind mount as it was published.
	daemons := ossmountProcesses(t, ws)
	if len(daemons) != 1 {
		t.Fatalf("daemons of vol-w: %v", daemons)
	}
	must(t, "kill -9 daemon", syscall.Kill(daemons[0], syscall.SIGKILL))
	waitGone(t, daemons[0])
	must(t, "publish t1 after the daemon died", publish("vol-w", ws, t1, rwx, false))
	must(t, "write through t2 after the restart", os.WriteFile(filepath.Join(t2, "again.txt"), data, 0o644))
	if err := os.WriteFile(filepath.Join(t3, "ro.txt"), data, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write through the readonly target t3 after the restart: %v, want EROFS", err)
	}
	// allow_delete from otherOpts reached the daemon.
	must(t, "unlink through t1", os.Remove(filepath.Join(t1, "out.txt")))
	if _, ok := emu.Object(testBucket, "w/out.txt"); ok {
		t.Error("the object is still in the bucket after unlink")
	}

	rox := capability(csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	rAttrs := map[string]string{"bucket": testBucket, "url": url, "region": testRegion, "path": "/r", "otherOpts": "-o allow_delete"}
	rs := stage("vol-r", rox, rAttrs)
	r1 := filepath.Join(dir, "vol-r", "t1")
	must(t, "publish reader", publish("vol-r", rs, r1, rox, false))
	if err := os.WriteFile(filepath.Join(r1, "x.txt"), data, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write through a reader-mode volume: %v, want EROFS", err)
	}
	if err := os.WriteFile(filepath.Join(rs, "x.txt"), data, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write at a reader-mode staging path: %v, want EROFS", err)
	}
	// Staged read-only, published for writing: refused, naming why.
	err := publish("vol-r", rs, filepath.Join(dir, "vol-r", "t2"), rwx, false)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(fmt.Sprint(err), "staged read-only") {
		t.Errorf("write publish of a read-only stage: %v, want FailedPrecondition", err)
	}
	// ... but published readonly with a writer capability it serves.
	must(t, "readonly publish of the reader volume", publish("vol-r", rs, filepath.Join(dir, "vol-r", "t3"), rwx, true))

	for _, c := range []struct{ id, staging string }{{"vol-w", ws}, {"vol-r", rs}} {
		for _, tg := range []string{"t1", "t2", "t3"} {
			_, err := p.node.NodeUnpublishVolume(ctx, &csipb.NodeUnpublishVolumeRequest{VolumeId: c.id, TargetPath: filepath.Join(dir, c.id, tg)})
			must(t, "unpublish", err)
		}
		_, err := p.node.NodeUnstageVolume(ctx, &csipb.NodeUnstageVolumeRequest{VolumeId: c.id, StagingTargetPath: c.staging})
		must(t, "unstage", err)
	}
	if left := mountsUnder(t, dir); len(left) > 0 {
		t.Errorf("mounts left: %v", left)
	}
}
