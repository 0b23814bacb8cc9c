package test

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM while a file is open: the daemon keeps serving the open file,
// unmounts as soon as it is closed, flushes and exits 0, with no second
// signal.
func TestSIGTERMWithAnOpenFileUnmountsWhenClosed(t *testing.T) {
	e := newEnv(t)
	want := pattern(71, 3*mib)
	e.put("open.bin", want)
	e.mount()
	f, err := os.Open(e.path("open.bin"))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, mib)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The unmount waits for the file, which is still served meanwhile.
	e.waitLogged(t, `msg="mount busy`)
	rest, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("reading the open file after SIGTERM: %v", err)
	}
	assertSame(t, "open file after SIGTERM", append(head, rest...), want)
	select {
	case <-e.exited:
		t.Fatal("the daemon exited while a file was open")
	default:
	}
	f.Close()
	e.waitExitedCleanly(t)
}

// waitLogged waits until the daemon's log has line.
func (e *env) waitLogged(t *testing.T, line string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(readLog(e), line); {
		if time.Now().After(deadline) {
			t.Fatalf("%s not logged", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A second SIGTERM detaches a busy mount at once (lazy unmount); the open
// file still reads, and the daemon exits 0 once it is closed.
func TestSecondSIGTERMDetachesABusyMount(t *testing.T) {
	e := newEnv(t)
	want := pattern(76, 2*mib)
	e.put("open.bin", want)
	e.mount()
	f, err := os.Open(e.path("open.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 2 {
		if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		e.waitLogged(t, `msg="mount busy`)
	}
	e.waitLogged(t, "lazy unmount")
	if isMounted(e.mnt) {
		t.Fatal("still mounted after the second SIGTERM")
	}
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("reading the open file of a detached mount: %v", err)
	}
	assertSame(t, "open file of a detached mount", got, want)
	f.Close()
	e.waitExitedCleanly(t)
}

// waitExitedCleanly waits for the daemon to exit (the last open file was
// just closed) and checks it exited 0, unmounted, with a clean unmount
// logged.
func (e *env) waitExitedCleanly(t *testing.T) {
	t.Helper()
	select {
	case <-e.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon is still running 20 s after the last open file was closed")
	}
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("daemon exit code %d, want 0", code)
	}
	e.cmd = nil
	if isMounted(e.mnt) {
		t.Fatal("the mountpoint is still mounted")
	}
	if !strings.Contains(readLog(e), "msg=unmounted") {
		t.Error("no clean unmount logged")
	}
}
