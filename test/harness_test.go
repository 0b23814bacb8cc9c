// Package test holds ossmount's end-to-end tests: they start the OSS
// emulator in-process, really mount bin/ossmount over it (as root, through
// /dev/fuse), and check what ordinary file operations return, byte for
// byte, and what went over the wire, through the emulator's request log.
package test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

var ossmountBin = flag.String("ossmount", "", "path to the ossmount binary (built by make e2e)")

const (
	testAK     = "LTAItestkey"
	testSK     = "test-secret-never-logged"
	testBucket = "bkt"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if *ossmountBin == "" {
		dir, err := os.MkdirTemp("", "ossmount-bin")
		if err != nil {
			panic(err)
		}
		*ossmountBin = filepath.Join(dir, "ossmount")
		out, err := exec.Command("go", "build", "-o", *ossmountBin, "../cmd/ossmount").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building ossmount: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "end-to-end tests mount FUSE filesystems and must run as root")
		os.Exit(1)
	}
	code := m.Run()
	printRelTable()
	os.Exit(code)
}

// env is one emulator plus one mountpoint and cache dir.
type env struct {
	t        *testing.T
	emu      *ossemu.Server
	url      string
	mnt      string
	cacheDir string
	logFile  string
	cmd      *exec.Cmd
	exited   chan struct{}
	extraEnv []string    // added to the daemon's environment by mount
	source   string      // BUCKET[:/PREFIX] mount mounts; testBucket when ""
	stderr   *syncBuffer // the daemon's stderr, since the last mount
}

func newEnv(t *testing.T) *env {
	t.Helper()
	emu := ossemu.New(ossemu.Options{Credentials: map[string]string{testAK: testSK}})
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emu.CreateBucket(testBucket, false)
	dir := t.TempDir()
	e := &env{t: t, emu: emu, url: url, mnt: filepath.Join(dir, "mnt"), cacheDir: filepath.Join(dir, "cache"), logFile: filepath.Join(dir, "ossmount.log")}
	if err := os.Mkdir(e.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.unmount()
		emu.Close()
		if t.Failed() {
			if b, err := os.ReadFile(e.logFile); err == nil {
				t.Logf("ossmount log (tail):\n%s", tail(string(b), 4000))
			}
		}
	})
	return e
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// mount starts ossmount in the foreground (so the test owns its PID) and
// waits until the kernel serves the mount.
func (e *env) mount(opts ...string) {
	e.t.Helper()
	o := []string{"endpoint=" + e.url, "region=cn-hangzhou", "cache_dir=" + e.cacheDir, "log_file=" + e.logFile, "log_level=debug"}
	o = append(o, opts...)
	src := e.source
	if src == "" {
		src = testBucket
	}
	cmd := exec.Command(*ossmountBin, src, e.mnt, "-f", "-o", strings.Join(o, ","))
	cmd.Env = append(os.Environ(), "OSS_ACCESS_KEY_ID="+testAK, "OSS_ACCESS_KEY_SECRET="+testSK)
	cmd.Env = append(cmd.Env, e.extraEnv...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	e.stderr = stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd = cmd
	e.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(e.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// Mounted and alive (a dead mount a killed daemon left answers ENOTCONN;
		// mount ids are reused, so they cannot tell the two apart).
		var sfs syscall.Statfs_t // statfs reaches the daemon; stat may be answered from the kernel's cache
		if isMounted(e.mnt) && syscall.Statfs(e.mnt, &sfs) == nil {
			return
		}
		select {
		case <-e.exited:
			e.t.Fatalf("ossmount exited before mounting: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	e.t.Fatalf("mount did not appear: %s", stderr.String())
}

// unmount unmounts cleanly and waits for the daemon to exit.
func (e *env) unmount() {
	if e.cmd == nil {
		return
	}
	if isMounted(e.mnt) {
		if err := syscall.Unmount(e.mnt, 0); err != nil {
			_ = syscall.Unmount(e.mnt, syscall.MNT_DETACH)
		}
	}
	select {
	case <-e.exited:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	e.cmd = nil
}

// kill9 kills the daemon the hard way, leaving a dead mount behind.
func (e *env) kill9() {
	e.t.Helper()
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
	e.cmd = nil
}

func isMounted(mp string) bool { return mountID(mp) != "" }

// mountID is the id of the topmost mount at mp, "" if none.
func mountID(mp string) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	id := ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == mp {
			id = f[0]
		}
	}
	return id
}

func (e *env) path(rel string) string { return filepath.Join(e.mnt, rel) }

// pattern returns deterministic pseudo-random bytes.
func pattern(seed int64, size int) []byte {
	b := make([]byte, size)
	if _, err := (&ossemu.PatternReaderAt{Seed: seed, Size: int64(size)}).ReadAt(b, 0); err != nil && err != io.EOF {
		panic(err)
	}
	return b
}

func (e *env) put(key string, data []byte, opts ...ossemu.PutOption) ossemu.ObjectInfo {
	return e.emu.Put(testBucket, key, data, opts...)
}

// gets returns the logged GETs of key since the last reset.
func (e *env) gets(key string) []ossemu.Request {
	var out []ossemu.Request
	for _, r := range e.emu.Requests() {
		if r.Method == "GET" && r.Key == key {
			out = append(out, r)
		}
	}
	return out
}

func bodyBytes(rs []ossemu.Request) int64 {
	var n int64
	for _, r := range rs {
		n += r.BodyBytes
	}
	return n
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

func assertSame(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: content differs (got %d bytes, want %d, first difference at %d)", what, len(got), len(want), i)
	}
}

// readConcurrently reads p fully from n goroutines and checks each copy.
func readConcurrently(t *testing.T, p string, n int, want []byte) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(p)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("reader got different bytes")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
