package test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// demoRun runs test/demo.sh ARG with the binaries under test, in dir,
// without a terminal, and returns its output and exit code.
func demoRun(t *testing.T, dir, ossemu, arg string, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("./demo.sh", arg)
	cmd.Env = append(os.Environ(), append([]string{"OSSMOUNT=" + *ossmountBin, "OSSEMU=" + ossemu, "DEMO_DIR=" + dir}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &out, nil
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// processesRunning lists the processes whose command line holds s.
func processesRunning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// freePortNumber is a port nothing listens on now.
func freePortNumber(t *testing.T) string {
	_, port, _ := net.SplitHostPort(freePort(t))
	return port
}

// make demo: a taken port is named with the variable to change, a failed
// mount stops the emulator, and a run without a terminal says how to stop.
func TestDemoScript(t *testing.T) {
	bin := t.TempDir()
	ossemu := filepath.Join(bin, "ossemu")
	if out, err := exec.Command("go", "build", "-o", ossemu, "./cmd/ossemu").CombinedOutput(); err != nil {
		t.Fatalf("building ossemu: %v: %s", err, out)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, takenPort, _ := net.SplitHostPort(taken.Addr().String())
	dir := t.TempDir()
	t.Cleanup(func() { demoRun(t, dir, ossemu, "stop") })
	noneLeft := func(what string) {
		t.Helper()
		if ps := processesRunning(ossemu); len(ps) > 0 {
			t.Errorf("%s: processes left: %q", what, ps)
		}
		if isMounted(filepath.Join(dir, "mnt")) {
			t.Errorf("%s: mount left", what)
		}
	}

	for _, v := range []string{"OSSEMU_PORT", "METRICS_PORT"} {
		out, code := demoRun(t, dir, ossemu, "start", v+"="+takenPort)
		t.Logf("%s taken: exit %d:\n%s", v, code, out)
		if code == 0 || !strings.Contains(out, "port "+takenPort+" on 127.0.0.1 is in use") || !strings.Contains(out, "make demo "+v+"=") {
			t.Errorf("%s taken: exit %d, no hint naming %s:\n%s", v, code, v, out)
		}
		noneLeft(v + " taken")
	}

	// The mount fails (mnt not empty) after the emulator started.
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "stray"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ports := []string{"OSSEMU_PORT=" + freePortNumber(t), "METRICS_PORT=" + freePortNumber(t)}
	out, code := demoRun(t, dir, ossemu, "start", ports...)
	t.Logf("mnt not empty: exit %d:\n%s", code, out)
	if code == 0 || !strings.Contains(out, "is not empty") || !strings.Contains(out, "nothing is left running") {
		t.Errorf("mnt not empty: exit %d:\n%s", code, out)
	}
	noneLeft("mount failed")

	// Started without a terminal: it returns, says how to stop, and stop stops.
	if err := os.Remove(filepath.Join(mnt, "stray")); err != nil {
		t.Fatal(err)
	}
	out, code = demoRun(t, dir, ossemu, "start", ports...)
	t.Logf("started: exit %d:\n%s", code, out)
	if code != 0 || !strings.Contains(out, "stop it with: make demo-stop") || strings.Contains(out, "Press Ctrl-C") {
		t.Errorf("start without a terminal: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(mnt, "README.txt")); err != nil {
		t.Errorf("demo mount: %v", err)
	}
	if out, code := demoRun(t, dir, ossemu, "stop"); code != 0 || !strings.Contains(out, "demo stopped") {
		t.Errorf("stop: exit %d: %s", code, out)
	}
	noneLeft("stopped")
}
