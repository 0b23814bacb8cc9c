package csi_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ossmount/ossmount/csi"
	"github.com/ossmount/ossmount/test/ossemu"
)

var ossmountBin = flag.String("ossmount", "", "the ossmount binary the plugin runs (built from ../cmd/ossmount when empty)")

const (
	testAK     = "LTAItestkey"
	testSK     = "test-secret-never-logged"
	testBucket = "bkt"
	testRegion = "cn-hangzhou"
)

// rootTests: the mount tests need root and /dev/fuse; without them they skip.
var rootTests = os.Geteuid() == 0

func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		rootTests = false
	}
	var tmp string
	if rootTests && *ossmountBin == "" {
		var err error
		tmp, err = os.MkdirTemp("", "ossmount-csi-bin")
		if err != nil {
			panic(err)
		}
		*ossmountBin = filepath.Join(tmp, "ossmount")
		out, err := exec.Command("go", "build", "-o", *ossmountBin, "../cmd/ossmount").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building ossmount: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if !rootTests {
		t.Skip("mounts FUSE filesystems: needs root and /dev/fuse")
	}
}

// emulator starts an OSS emulator with the test key and bucket.
func emulator(t *testing.T) (*ossemu.Server, string) {
	t.Helper()
	emu := ossemu.New(ossemu.Options{Credentials: map[string]string{testAK: testSK}})
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emu.CreateBucket(testBucket, false)
	t.Cleanup(func() { emu.Close() })
	return emu, url
}

// plugin is a running CSI plugin and a client of it.
type plugin struct {
	sock string
	conn *grpc.ClientConn
	node csipb.NodeClient
	ctrl csipb.ControllerClient
	stop func()
}

// startInProcess runs the plugin in this process on a unix socket.
func startInProcess(t *testing.T, dir string) *plugin {
	t.Helper()
	sock := filepath.Join(dir, "csi.sock")
	d, err := csi.New(csi.Options{
		Endpoint: "unix://" + sock, NodeID: "node-1",
		CacheRoot: filepath.Join(dir, "cache"), StateDir: filepath.Join(dir, "state"),
		Ossmount: *ossmountBin, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	p := dial(t, sock)
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			p.conn.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("plugin: %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	return p
}

func dial(t *testing.T, sock string) *plugin {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin socket %s: %v", sock, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return &plugin{sock: sock, conn: conn, node: csipb.NewNodeClient(conn), ctrl: csipb.NewControllerClient(conn)}
}

// testLogger logs to the test's log, so a failing test shows the plugin's
// side.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

var _ io.Writer = testWriter{}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// ossmountProcesses lists the PIDs of ossmount processes whose command
// line mentions s.
func ossmountProcesses(t *testing.T, s string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z") {
			continue // exited, waiting to be reaped
		}
		args := strings.Split(string(cmd), "\x00")
		if strings.Contains(filepath.Base(args[0]), "ossmount") && strings.Contains(string(cmd), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cleanupMounts unmounts whatever a failed test left under dir.
func cleanupMounts(t *testing.T, dir string) {
	t.Cleanup(func() {
		ms := mountsUnder(t, dir)
		for i := len(ms) - 1; i >= 0; i-- {
			_ = exec.Command("umount", "-l", ms[i]).Run()
		}
	})
}
