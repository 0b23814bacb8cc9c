package csi_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ossmount/ossmount/test/ossemu"
)

// pluginProcess is `ossmount csi` run as its own process, as on a node.
type pluginProcess struct {
	*plugin
	cmd     *exec.Cmd
	logFile string
	metrics string // http://ADDR/metrics
	exited  chan struct{}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startProcess(t *testing.T, dir string) *pluginProcess {
	t.Helper()
	sock := filepath.Join(dir, "csi.sock")
	addr := freeAddr(t)
	logFile := filepath.Join(dir, "plugin.log")
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(*ossmountBin, "csi", "--endpoint", "unix://"+sock, "--node-id", "node-1",
		"--cache-root", filepath.Join(dir, "cache"), "--state-dir", filepath.Join(dir, "state"),
		"--metrics-addr", addr, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pp := &pluginProcess{cmd: cmd, logFile: logFile, metrics: "http://" + addr + "/metrics", exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(pp.exited) }()
	pp.plugin = dial(t, sock)
	pp.stop = func() {
		pp.conn.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-pp.exited
	}
	t.Cleanup(func() {
		pp.stop()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("plugin log:\n%s", b)
		}
	})
	return pp
}

// kill9 kills the plugin the hard way.
func (pp *pluginProcess) kill9() {
	pp.conn.Close()
	_ = pp.cmd.Process.Signal(syscall.SIGKILL)
	<-pp.exited
}

// volume is one test volume's requests.
type volume struct {
	id, staging string
	attrs       map[string]string
	secrets     map[string]string
}

var roMany = &csipb.VolumeCapability{
	AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{}},
	AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY},
}

func (v *volume) stage(p *plugin) error {
	_, err := p.node.NodeStageVolume(context.Background(), &csipb.NodeStageVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, VolumeCapability: roMany, VolumeContext: v.attrs, Secrets: v.secrets,
	})
	return err
}

func (v *volume) publish(p *plugin, target string, secrets map[string]string) error {
	_, err := p.node.NodePublishVolume(context.Background(), &csipb.NodePublishVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, TargetPath: target, VolumeCapability: roMany,
		VolumeContext: v.attrs, Secrets: secrets, Readonly: true,
	})
	return err
}

func (v *volume) unpublish(p *plugin, target string) error {
	_, err := p.node.NodeUnpublishVolume(context.Background(), &csipb.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: target})
	return err
}

func (v *volume) unstage(p *plugin) error {
	_, err := p.node.NodeUnstageVolume(context.Background(), &csipb.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging})
	return err
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// getBody returns the GETs of key in the emulator's log since the last
// reset and the body bytes they carried.
func getBody(emu *ossemu.Server, key string) (n int, body int64) {
	for _, r := range emu.Requests() {
		if r.Method == "GET" && r.Key == key {
			n++
			body += r.BodyBytes
		}
	}
	return n, body
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

func mountID(t *testing.T, mp string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == mp {
			id = f[0]
		}
	}
	return id
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue finds `name{...volume_id="id"...} value` in a scrape.
func metricValue(scrape, name, id string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, `volume_id="`+id+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		return v, err == nil
	}
	return 0, false
}

// TestNodeLifecycle drives one volume through the node calls, as kubelet
// would, with the plugin as its own process: two pods share one daemon
// and one set of GETs; the plugin restarts under live mounts and adopts
// them; a daemon killed with -9 is restarted from its cache at the next
// stage (0 bytes fetched again); new secrets at a publish reach the daemon
// without a remount; unpublish and unstage leave no mount and no process.
func TestNodeLifecycle(t *testing.T) {
	needRoot(t)
	emu, url := emulator(t)
	want := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	emu.Put(testBucket, "data/model.bin", want)
	dir := t.TempDir()
	cleanupMounts(t, dir)
	pp := startProcess(t, dir)

	v := &volume{id: "pv-data", staging: filepath.Join(dir, "kubelet/globalmount"),
		attrs:   map[string]string{"bucket": testBucket, "path": "/data", "url": url, "region": testRegion},
		secrets: map[string]string{"akId": testAK, "akSecret": testSK}}
	t1, t2 := filepath.Join(dir, "pods/a/mount"), filepath.Join(dir, "pods/b/mount")
	must(t, "stage", v.stage(pp.plugin))
	must(t, "publish a", v.publish(pp.plugin, t1, nil))
	must(t, "publish b", v.publish(pp.plugin, t2, nil))

	// Two pods read the same bytes through one daemon and one set of GETs:
	// the second pod's read costs no body byte.
	emu.ResetRequests()
	if got := readFile(t, filepath.Join(t1, "model.bin")); !bytes.Equal(got, want) {
		t.Fatal("pod a read different bytes")
	}
	_, bodyA := getBody(emu, "data/model.bin")
	if bodyA < int64(len(want)) {
		t.Fatalf("pod a's read fetched %d body bytes of a %d-byte object", bodyA, len(want))
	}
	if got := readFile(t, filepath.Join(t2, "model.bin")); !bytes.Equal(got, want) {
		t.Fatal("pod b read different bytes")
	}
	if _, body := getBody(emu, "data/model.bin"); body != bodyA {
		t.Errorf("pod b's read fetched %d more body bytes; want 0 (one daemon, one cache)", body-bodyA)
	}
	daemons := ossmountProcesses(t, v.staging)
	if len(daemons) != 1 {
		t.Fatalf("daemons serving the volume: %v, want one", daemons)
	}
	pid := daemons[0]
	if st, err := os.Stat(filepath.Join(dir, "state/credentials")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("credentials dir: %v %v", st.Mode(), err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "state/credentials/*")); len(files) != 1 {
		t.Errorf("credentials files: %v", files)
	} else if st, _ := os.Stat(files[0]); st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", st.Mode().Perm())
	}

	// Publishing again changes nothing.
	before := mountID(t, t1)
	must(t, "publish a again", v.publish(pp.plugin, t1, nil))
	if after := mountID(t, t1); after != before {
		t.Errorf("a repeated publish remounted the target (mount %s -> %s)", before, after)
	}
	must(t, "stage again", v.stage(pp.plugin))

	// The plugin dies: the pods keep reading; the next plugin adopts the
	// volume without remounting.
	pp.kill9()
	if got := readFile(t, filepath.Join(t1, "model.bin")); !bytes.Equal(got, want) {
		t.Fatal("pod a lost its data while the plugin was down")
	}
	pp = startProcess(t, dir)
	if got := ossmountProcesses(t, v.staging); len(got) != 1 || got[0] != pid {
		t.Errorf("after the plugin restarted, daemons %v, want the same one (%d)", got, pid)
	}
	stats, err := pp.node.NodeGetVolumeStats(context.Background(), &csipb.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: t1})
	if err != nil {
		t.Fatalf("the restarted plugin does not know the volume: %v", err)
	}
	if len(stats.GetUsage()) == 0 {
		t.Error("no usage in the volume stats")
	}
	before = mountID(t, t2)
	must(t, "publish b after the restart", v.publish(pp.plugin, t2, nil))
	if after := mountID(t, t2); after != before {
		t.Errorf("publish after the restart remounted the target (mount %s -> %s)", before, after)
	}
	if log, _ := os.ReadFile(pp.logFile); !bytes.Contains(log, []byte("adopted a staged volume")) {
		t.Error("the restarted plugin did not log the adoption")
	}

	// The daemon dies (kill -9): the mount is dead until the next stage,
	// which restarts the daemon on its cache and renews the bind mounts.
	must(t, "kill -9 daemon", syscall.Kill(pid, syscall.SIGKILL))
	waitGone(t, pid)
	var sfs unix.Statfs_t
	if err := unix.Statfs(t1, &sfs); err == nil {
		t.Fatal("the mount still answers after its daemon was killed")
	}
	emu.ResetRequests()
	must(t, "stage after the daemon died", v.stage(pp.plugin))
	for _, target := range []string{t1, t2} {
		if got := readFile(t, filepath.Join(target, "model.bin")); !bytes.Equal(got, want) {
			t.Fatalf("%s read different bytes after the daemon restarted", target)
		}
	}
	if n, body := getBody(emu, "data/model.bin"); body != 0 {
		t.Errorf("after the daemon restarted, %d GETs fetched %d body bytes again; want 0 (the cache survives)", n, body)
	}
	daemons = ossmountProcesses(t, v.staging)
	if len(daemons) != 1 || daemons[0] == pid {
		t.Fatalf("daemons after the restart: %v (old %d)", daemons, pid)
	}
	m := scrape(t, pp.metrics)
	if n, ok := metricValue(m, "ossmount_csi_daemon_restarts_total", v.id); !ok || n != 1 {
		t.Errorf("ossmount_csi_daemon_restarts_total = %v (%v), want 1", n, ok)
	}
	if n, ok := metricValue(m, "ossmount_cache_hit_bytes_total", v.id); !ok || n < float64(len(want)) {
		t.Errorf("ossmount_cache_hit_bytes_total = %v (%v), want >= %d", n, ok, len(want))
	}
	if n, ok := metricValue(m, "ossmount_csi_volume_up", v.id); !ok || n != 1 {
		t.Errorf("ossmount_csi_volume_up = %v (%v), want 1", n, ok)
	}

	// STS rotation: the old key stops working; new secrets given at a
	// publish reach the daemon without a remount.
	const ak2, sk2 = "STS.rotated", "rotated-secret"
	emu.RotateCredentials(map[string]string{ak2: sk2}, nil)
	emu.Put(testBucket, "data/after-rotation.txt", []byte("fresh\n"))
	if _, err := os.ReadFile(filepath.Join(t1, "after-rotation.txt")); err == nil {
		t.Fatal("the old key still works: the emulator did not rotate")
	}
	before = mountID(t, t1)
	must(t, "publish with new secrets", v.publish(pp.plugin, t1, map[string]string{"akId": ak2, "akSecret": sk2, "securityToken": "sts-token-never-logged"}))
	var got []byte
	deadline := time.Now().Add(15 * time.Second)
	for err = os.ErrNotExist; err != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond) // the daemon looks at the file at most once a second
		got, err = os.ReadFile(filepath.Join(t1, "after-rotation.txt"))
	}
	if err != nil || string(got) != "fresh\n" {
		t.Fatalf("after rotating the secrets: %q, %v", got, err)
	}
	if after := mountID(t, t1); after != before {
		t.Errorf("rotating secrets remounted the target")
	}

	// Unpublish both, unstage: nothing mounted, no daemon, the cache kept.
	must(t, "unpublish a", v.unpublish(pp.plugin, t1))
	must(t, "unpublish a again", v.unpublish(pp.plugin, t1))
	must(t, "unpublish b", v.unpublish(pp.plugin, t2))
	must(t, "unstage", v.unstage(pp.plugin))
	must(t, "unstage again", v.unstage(pp.plugin))
	if left := mountsUnder(t, dir); len(left) > 0 {
		t.Errorf("mounts left: %v", left)
	}
	if left := ossmountProcesses(t, v.staging); len(left) > 0 {
		t.Errorf("daemons left: %v", left)
	}
	for _, target := range []string{t1, t2} {
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("target %s left behind (%v)", target, err)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "state/volumes/*")); len(files) > 0 {
		t.Errorf("state left: %v", files)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "state/credentials/*")); len(files) > 0 {
		t.Errorf("credentials left: %v", files)
	}
	if caches, _ := filepath.Glob(filepath.Join(dir, "cache/*")); len(caches) != 1 {
		t.Errorf("cache dirs %v, want the volume's one kept", caches)
	}
	if _, ok := metricValue(scrape(t, pp.metrics), "ossmount_csi_volume_up", v.id); ok {
		t.Error("an unstaged volume is still in the metrics")
	}
	// No secret in any log: the plugin's, the daemon's.
	logs, _ := filepath.Glob(filepath.Join(dir, "state/logs/*"))
	for _, f := range append(logs, pp.logFile) {
		b, _ := os.ReadFile(f)
		for _, secret := range []string{testSK, sk2, "sts-token-never-logged"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds a secret", f)
			}
		}
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z")) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d does not exit", pid)
}

// TestCleanupAfterDaemonDied: unpublish and unstage of a volume whose
// daemon was killed clear the dead mounts ("Transport endpoint is not
// connected") and forget the volume.
func TestCleanupAfterDaemonDied(t *testing.T) {
	needRoot(t)
	emu, url := emulator(t)
	emu.Put(testBucket, "f.txt", []byte("x"))
	dir := t.TempDir()
	cleanupMounts(t, dir)
	p := startInProcess(t, dir)
	v := &volume{id: "pv-dies", staging: filepath.Join(dir, "staging"),
		attrs:   map[string]string{"bucket": testBucket, "url": url, "region": testRegion},
		secrets: map[string]string{"akId": testAK, "akSecret": testSK}}
	target := filepath.Join(dir, "pod/mount")
	must(t, "stage", v.stage(p))
	must(t, "publish", v.publish(p, target, nil))
	readFile(t, filepath.Join(target, "f.txt"))
	daemons := ossmountProcesses(t, v.staging)
	if len(daemons) != 1 {
		t.Fatalf("daemons %v", daemons)
	}
	must(t, "kill -9", syscall.Kill(daemons[0], syscall.SIGKILL))
	waitGone(t, daemons[0])
	var sfs unix.Statfs_t
	if err := unix.Statfs(target, &sfs); err == nil {
		t.Fatal("the target still answers after its daemon was killed")
	}
	stats, err := p.node.NodeGetVolumeStats(context.Background(), &csipb.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: target})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("stats of a dead volume: %v %v, want Unavailable", stats, err)
	}
	must(t, "unpublish", v.unpublish(p, target))
	must(t, "unstage", v.unstage(p))
	if left := mountsUnder(t, dir); len(left) > 0 {
		t.Errorf("mounts left: %v", left)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "state/volumes/*")); len(files) > 0 {
		t.Errorf("state left: %v", files)
	}
}
