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
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(readLog(e), `msg="mount busy`); {
		if time.Now().After(deadline) {
			t.Fatal("no \"mount busy\" line logged after SIGTERM with a file open")
		}
		time.Sleep(20 * time.Millisecond)
	}
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
