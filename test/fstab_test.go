package test

// These tests mount the way users do: through /etc/fstab lines read by
// util-linux mount(8), which runs fuse3's mount.fuse3, which runs
// `ossmount SOURCE MOUNTPOINT -o OPTIONS` from the standard PATH, with the
// daemon detaching once the mount is live. mount(8) hands helpers no PATH,
// so /bin/sh's default one is used: the binary must be installed where
// `make install` puts it, /usr/local/bin.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const installedBin = "/usr/local/bin/ossmount"

var installOnce sync.Once

// installBinary makes /usr/local/bin/ossmount the binary under test, as
// `make install` does (make e2e runs it first; this covers `go test` runs).
// A rename, so a daemon still running the old file is not disturbed.
func installBinary(t *testing.T) {
	t.Helper()
	var err error
	installOnce.Do(func() {
		want, rerr := os.ReadFile(*ossmountBin)
		if rerr != nil {
			err = rerr
			return
		}
		if have, _ := os.ReadFile(installedBin); bytes.Equal(have, want) {
			return
		}
		tmp := installedBin + ".test-tmp"
		if err = os.WriteFile(tmp, want, 0o755); err == nil {
			err = os.Rename(tmp, installedBin)
		}
	})
	if err != nil {
		t.Fatalf("installing %s: %v", installedBin, err)
	}
}

// daemonPIDs lists running ossmount processes serving (or starting on) mp.
func daemonPIDs(mp string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != "ossmount" {
			continue
		}
		for _, a := range args[1:] {
			if a == mp {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// waitNoDaemon waits until no ossmount process serves mp and nothing is
// mounted there; it fails the test if that takes unreasonably long.
func waitNoDaemon(t *testing.T, mp string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if len(daemonPIDs(mp)) == 0 && !isMounted(mp) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: still mounted=%v, daemon pids %v", mp, isMounted(mp), daemonPIDs(mp))
}

// daemonEnv is a mount made by the daemonizing command (not the harness's
// foreground child): its cleanup unmounts and reaps whatever it left.
type daemonEnv struct {
	*env
	credFile string
}

func newDaemonEnv(t *testing.T) *daemonEnv {
	t.Helper()
	installBinary(t)
	e := &daemonEnv{env: newEnv(t)}
	e.credFile = filepath.Join(filepath.Dir(e.mnt), "passwd")
	writeCredFile(t, e.credFile, testBucket+":"+testAK+":"+testSK+"\n", 0o600)
	t.Cleanup(func() {
		if isMounted(e.mnt) {
			if err := syscall.Unmount(e.mnt, 0); err != nil {
				_ = syscall.Unmount(e.mnt, syscall.MNT_DETACH)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for len(daemonPIDs(e.mnt)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, pid := range daemonPIDs(e.mnt) { // only ours: the mountpoint is this test's temp dir
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return e
}

func writeCredFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// opts are the -o options every daemon mount here uses.
func (e *daemonEnv) opts(extra ...string) string {
	o := []string{"endpoint=" + e.url, "region=cn-hangzhou", "cache_dir=" + e.cacheDir,
		"log_file=" + e.logFile, "log_level=debug", "credentials_file=" + e.credFile}
	return strings.Join(append(o, extra...), ",")
}

// run runs a command with a clean environment (no OSS_* variables unless
// given) and returns its exit code and stderr.
func run(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s: %v", name, err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%s %v did not return within 60s; stderr: %s", name, args, stderr.String())
		return 0, ""
	}
}

// mustLive checks, right when the command returned, that the mount answers.
func mustLive(t *testing.T, mp string) {
	t.Helper()
	var sfs syscall.Statfs_t
	if !isMounted(mp) {
		t.Fatalf("%s is not mounted after the command returned 0", mp)
	}
	if err := syscall.Statfs(mp, &sfs); err != nil {
		t.Fatalf("statfs %s right after mounting: %v", mp, err)
	}
	if pids := daemonPIDs(mp); len(pids) != 1 {
		t.Fatalf("want one daemon serving %s, found %v", mp, pids)
	}
}

// checkRemountServesFromCache proves the checkpoints were flushed at
// unmount: a new daemon serves the same file with one 304 and no body bytes.
func (e *daemonEnv) checkRemountServesFromCache(t *testing.T, key string, want []byte) {
	t.Helper()
	if code, stderr := run(t, nil, installedBin, testBucket, e.mnt, "-o", e.opts()); code != 0 {
		t.Fatalf("remount: exit %d: %s", code, stderr)
	}
	e.emu.ResetRequests()
	assertSame(t, "after remount", mustRead(t, e.path(key)), want)
	gets := e.gets(key)
	if n := bodyBytes(gets); n != 0 || len(gets) != 1 || gets[0].Status != 304 {
		t.Fatalf("after remount: %d GETs (%+v), %d body bytes; want one 304 and 0 bytes", len(gets), gets, n)
	}
	if code, stderr := run(t, nil, "umount", e.mnt); code != 0 {
		t.Fatalf("umount: exit %d: %s", code, stderr)
	}
	waitNoDaemon(t, e.mnt)
}

func TestFstabMountT(t *testing.T) {
	e := newDaemonEnv(t)
	want := pattern(31, 3*mib+17)
	e.put("data/f.bin", want)
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("%s:/data %s fuse.ossmount _netdev,nofail,noauto,x-systemd.automount,x-systemd.mount-timeout=30,comment=test,defaults,ro,allow_other,%s 0 0\n",
		testBucket, e.mnt, e.opts())
	if err := os.WriteFile(fstab, []byte("# ossmount test\n"+line), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run(t, nil, "mount", "-T", fstab, e.mnt); code != 0 {
		t.Fatalf("mount -T: exit %d: %s", code, stderr)
	}
	mustLive(t, e.mnt)
	// The prefix is the root; the mount is read-only and typed fuse.ossmount.
	assertSame(t, "f.bin through fstab", mustRead(t, e.path("f.bin")), want)
	out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE,OPTIONS,SOURCE", e.mnt).Output()
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(out)); len(f) != 3 || f[0] != "fuse.ossmount" || !strings.HasPrefix(f[1], "ro,") || f[2] != testBucket+":/data" {
		t.Fatalf("findmnt: %q", out)
	}
	if code, stderr := run(t, nil, "umount", e.mnt); code != 0 {
		t.Fatalf("umount: exit %d: %s", code, stderr)
	}
	waitNoDaemon(t, e.mnt)
	if b, _ := os.ReadFile(e.logFile); !strings.Contains(string(b), "msg=unmounted") {
		t.Fatalf("daemon did not log a clean unmount")
	}
}

func TestFstabMountAllAndFusermount(t *testing.T) {
	e := newDaemonEnv(t)
	want := pattern(32, 2*mib)
	e.put("g.bin", want)
	fstab := filepath.Join(t.TempDir(), "fstab")
	lines := fmt.Sprintf("%s %s fuse.ossmount _netdev,ro,%s 0 0\n", testBucket, e.mnt, e.opts())
	// A noauto line mount -a must skip (its mountpoint does not exist).
	lines += fmt.Sprintf("%s %s/absent fuse.ossmount noauto,ro,%s 0 0\n", testBucket, e.mnt, e.opts())
	if err := os.WriteFile(fstab, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run(t, nil, "mount", "-a", "-T", fstab); code != 0 {
		t.Fatalf("mount -a: exit %d: %s", code, stderr)
	}
	mustLive(t, e.mnt)
	assertSame(t, "g.bin", mustRead(t, e.path("g.bin")), want)
	if code, stderr := run(t, nil, "fusermount3", "-u", e.mnt); code != 0 {
		t.Fatalf("fusermount3 -u: exit %d: %s", code, stderr)
	}
	waitNoDaemon(t, e.mnt)
	e.checkRemountServesFromCache(t, "g.bin", want)
}

// TestEtcFstab uses the real /etc/fstab path, in a private mount namespace
// where a test file is bind-mounted over it, so the machine's is untouched.
func TestEtcFstab(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is needed")
	}
	e := newDaemonEnv(t)
	want := pattern(33, mib+5)
	e.put("h.bin", want)
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("%s %s fuse.ossmount _netdev,ro,%s 0 0\n", testBucket, e.mnt, e.opts())
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy")
	script := fmt.Sprintf(`set -e
mount --bind %[1]s /etc/fstab
mount %[2]s
cp %[2]s/h.bin %[3]s
umount %[2]s
mount -a -t fuse.ossmount
cmp %[2]s/h.bin %[3]s
umount %[2]s`, fstab, e.mnt, out)
	if code, stderr := run(t, nil, "unshare", "--mount", "--propagation", "private", "sh", "-c", script); code != 0 {
		t.Fatalf("mount/umount through /etc/fstab: exit %d: %s", code, stderr)
	}
	assertSame(t, "h.bin copied through mount MOUNTPOINT", mustRead(t, out), want)
	waitNoDaemon(t, e.mnt)
}

func TestMountByHandAndSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			e := newDaemonEnv(t)
			want := pattern(34, 3*mib)
			e.put("pre/fix/s.bin", want)
			e.put("outside.bin", []byte("not under the prefix"))
			// Long flags rather than -o, and a prefix mount.
			code, stderr := run(t, nil, installedBin, "--endpoint", e.url, "--region=cn-hangzhou", "--cache-dir", e.cacheDir,
				"--log-file", e.logFile, "--credentials-file", e.credFile, "--parallel", "4",
				testBucket+":/pre/fix", e.mnt)
			if code != 0 {
				t.Fatalf("ossmount: exit %d: %s", code, stderr)
			}
			if stderr != "" {
				t.Fatalf("a successful mount printed: %q", stderr)
			}
			mustLive(t, e.mnt)
			names, err := os.ReadDir(e.mnt)
			if err != nil || len(names) != 1 || names[0].Name() != "s.bin" {
				t.Fatalf("prefix root lists %v, %v; want just s.bin", names, err)
			}
			assertSame(t, "s.bin", mustRead(t, e.path("s.bin")), want)
			pid := daemonPIDs(e.mnt)[0]
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatal(err)
			}
			waitNoDaemon(t, e.mnt)
			if b, _ := os.ReadFile(e.logFile); !strings.Contains(string(b), "msg=unmounted") {
				t.Fatalf("no clean unmount logged after %v", sig)
			}
			// Checkpoints were flushed: everything is served from the cache.
			if code, stderr := run(t, nil, installedBin, testBucket+":/pre/fix", e.mnt, "-o", e.opts()); code != 0 {
				t.Fatalf("remount: exit %d: %s", code, stderr)
			}
			e.emu.ResetRequests()
			assertSame(t, "s.bin after remount", mustRead(t, e.path("s.bin")), want)
			if n := bodyBytes(e.gets("pre/fix/s.bin")); n != 0 {
				t.Fatalf("after remount %d body bytes were fetched again", n)
			}
		})
	}
}

// TestMountFailures: every failure before the mount is live exits non-zero
// with one line naming the cause, and leaves no mount and no process.
func TestMountFailures(t *testing.T) {
	e := newDaemonEnv(t)
	e.put("x", []byte("x"))
	dir := t.TempDir()
	nonEmpty := filepath.Join(dir, "nonempty")
	must(t, os.MkdirAll(filepath.Join(nonEmpty, "something"), 0o755))
	notDir := filepath.Join(dir, "file")
	must(t, os.WriteFile(notDir, nil, 0o644))
	looseCred := filepath.Join(dir, "loose")
	writeCredFile(t, looseCred, testAK+":"+testSK+"\n", 0o644)
	badCred := filepath.Join(dir, "bad")
	writeCredFile(t, badCred, testAK+":wrong-secret\n", 0o600)
	envCreds := []string{"OSS_ACCESS_KEY_ID=" + testAK, "OSS_ACCESS_KEY_SECRET=" + testSK}
	base := "region=cn-hangzhou,cache_dir=" + e.cacheDir + ",log_file=" + e.logFile

	cases := []struct {
		name     string
		env      []string
		src, mp  string
		opts     string
		wantLine string
	}{
		{"unreachable endpoint", envCreds, testBucket, e.mnt, "endpoint=http://127.0.0.1:1," + base, "cannot reach endpoint http://127.0.0.1:1"},
		{"no such bucket", envCreds, "no-such-bucket", e.mnt, "endpoint=" + e.url + "," + base, `bucket "no-such-bucket" does not exist`},
		{"403 on credentials", nil, testBucket, e.mnt, "endpoint=" + e.url + ",credentials_file=" + badCred + "," + base, "access denied"},
		{"no credentials", nil, testBucket, e.mnt, "endpoint=" + e.url + "," + base, "no credentials"},
		{"credentials file readable by others", nil, testBucket, e.mnt, "endpoint=" + e.url + ",credentials_file=" + looseCred + "," + base, "chmod 600"},
		{"unknown option", envCreds, testBucket, e.mnt, "endpoint=" + e.url + ",frobnicate=1," + base, "frobnicate"},
		{"bad value", envCreds, testBucket, e.mnt, "endpoint=" + e.url + ",cache_size=lots," + base, "cache_size"},
		{"allow_overwrite without rw", envCreds, testBucket, e.mnt, "endpoint=" + e.url + ",allow_overwrite," + base, "need rw"},
		{"mountpoint missing", envCreds, testBucket, filepath.Join(dir, "absent"), "endpoint=" + e.url + "," + base, "does not exist"},
		{"mountpoint not empty", envCreds, testBucket, nonEmpty, "endpoint=" + e.url + "," + base, "not empty"},
		{"mountpoint not a directory", envCreds, testBucket, notDir, "endpoint=" + e.url + "," + base, "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stderr := run(t, c.env, installedBin, c.src, c.mp, "-o", c.opts)
			checkFailure(t, code, stderr, c.wantLine)
			waitNoDaemon(t, c.mp)
		})
	}

	t.Run("already mounted", func(t *testing.T) {
		if code, stderr := run(t, nil, installedBin, testBucket, e.mnt, "-o", e.opts()); code != 0 {
			t.Fatalf("first mount: exit %d: %s", code, stderr)
		}
		mustLive(t, e.mnt)
		code, stderr := run(t, nil, installedBin, testBucket, e.mnt, "-o", e.opts())
		checkFailure(t, code, stderr, "already mounted")
		if pids := daemonPIDs(e.mnt); len(pids) != 1 {
			t.Fatalf("want only the first daemon, found %v", pids)
		}
		if _, err := os.ReadFile(e.path("x")); err != nil {
			t.Fatalf("the first mount broke: %v", err)
		}
		if code, stderr := run(t, nil, "umount", e.mnt); code != 0 {
			t.Fatalf("umount: %d %s", code, stderr)
		}
		waitNoDaemon(t, e.mnt)
	})

	t.Run("through mount -T", func(t *testing.T) {
		fstab := filepath.Join(t.TempDir(), "fstab")
		writeCredFile(t, e.credFile, testAK+":"+testSK+"\n", 0o600) // good for any bucket
		line := fmt.Sprintf("no-such-bucket %s fuse.ossmount _netdev,ro,%s 0 0\n", e.mnt, e.opts())
		must(t, os.WriteFile(fstab, []byte(line), 0o644))
		code, stderr := run(t, nil, "mount", "-T", fstab, e.mnt)
		if code == 0 || !strings.Contains(stderr, `bucket "no-such-bucket" does not exist`) {
			t.Fatalf("mount -T of a missing bucket: exit %d, stderr %q", code, stderr)
		}
		waitNoDaemon(t, e.mnt)
	})
}

func checkFailure(t *testing.T, code int, stderr, want string) {
	t.Helper()
	if code == 0 {
		t.Fatalf("exit 0; want a failure naming %q", want)
	}
	line := strings.TrimSuffix(stderr, "\n")
	if line == "" || strings.Contains(line, "\n") || !strings.HasPrefix(line, "ossmount: ") || !strings.Contains(line, want) {
		t.Fatalf("stderr %q: want one line starting \"ossmount: \" naming %q", stderr, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDebugLogAndSecrets: log_level=debug shows each OSS request with its
// method, key, range, conditions, status, request id and duration, and no
// secret reaches the log, the daemon's command line or stderr.
func TestDebugLogAndSecrets(t *testing.T) {
	const token = "sts-token-never-logged"
	e := newDaemonEnv(t)
	e.emu.RotateCredentials(map[string]string{testAK: testSK}, map[string]string{testAK: token})
	writeCredFile(t, e.credFile, testAK+":"+testSK+":"+token+"\n", 0o600)
	want := pattern(35, 2*mib)
	e.put("d.bin", want)
	code, stderr := run(t, nil, installedBin, testBucket, e.mnt, "-o", e.opts())
	if code != 0 {
		t.Fatalf("mount: exit %d: %s", code, stderr)
	}
	mustLive(t, e.mnt)
	assertSame(t, "d.bin", mustRead(t, e.path("d.bin")), want)
	assertSame(t, "d.bin again", mustRead(t, e.path("d.bin")), want)
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", daemonPIDs(e.mnt)[0]))
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", daemonPIDs(e.mnt)[0]))
	if code, stderr := run(t, nil, "umount", e.mnt); code != 0 {
		t.Fatalf("umount: %d %s", code, stderr)
	}
	waitNoDaemon(t, e.mnt)
	log, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var ranged, conditional bool
	for _, l := range strings.Split(string(log), "\n") {
		if !strings.Contains(l, "op=GET") || !strings.Contains(l, "key=d.bin") {
			continue
		}
		for _, f := range []string{"status=", "request_id=", "duration="} {
			if !strings.Contains(l, f) {
				t.Fatalf("request log line lacks %s: %s", f, l)
			}
		}
		ranged = ranged || strings.Contains(l, "range=\"bytes=")
		conditional = conditional || strings.Contains(l, "status=304") && !strings.Contains(l, `if_none_match="" `)
	}
	if !ranged || !conditional {
		t.Fatalf("debug log lacks a ranged GET (%v) or a conditional 304 (%v):\n%s", ranged, conditional, tail(string(log), 3000))
	}
	for _, secret := range []string{testSK, token} {
		for what, b := range map[string][]byte{"log": log, "cmdline": cmdline, "environ": environ, "stderr": []byte(stderr)} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("secret %q appears in the daemon's %s", secret, what)
			}
		}
	}
}

// TestForegroundLogsToStderr: -f keeps the process and logs to stderr.
func TestForegroundLogsToStderr(t *testing.T) {
	e := newDaemonEnv(t)
	e.put("fg.txt", []byte("fg"))
	cmd := exec.Command(installedBin, "-f", testBucket, e.mnt, "-o",
		"endpoint="+e.url+",region=cn-hangzhou,cache_dir="+e.cacheDir+",credentials_file="+e.credFile+",log_level=debug")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "msg=mounted") {
		select {
		case <-exited:
			t.Fatalf("ossmount -f exited: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mounted line on stderr: %s", stderr.String())
		}
	}
	if got := string(mustRead(t, e.path("fg.txt"))); got != "fg" {
		t.Fatalf("fg.txt = %q", got)
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("ossmount -f did not exit on SIGTERM")
	}
	out := stderr.String()
	if !strings.Contains(out, "op=GET") || !strings.Contains(out, "msg=unmounted") {
		t.Fatalf("stderr lacks request or unmount lines:\n%s", tail(out, 3000))
	}
	if strings.Contains(out, testSK) {
		t.Fatal("secret on stderr")
	}
	waitNoDaemon(t, e.mnt)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCredentialsPrecedenceAndRotation: credentials_file wins over the
// environment, and rewriting the file (an STS refresh) is picked up by the
// running mount without a remount.
func TestCredentialsPrecedenceAndRotation(t *testing.T) {
	e := newDaemonEnv(t)
	e.emu.RotateCredentials(map[string]string{testAK: testSK}, map[string]string{testAK: "token-1"})
	// Lines for other buckets and comments, as in an ossfs passwd file.
	writeCredFile(t, e.credFile, "# ossfs format\nother-bucket:LTAIother:other-secret\n"+testBucket+":"+testAK+":"+testSK+":token-1\n", 0o600)
	e.put("a.txt", []byte("a"))
	e.put("b.txt", []byte("b"))
	wrongEnv := []string{"OSS_ACCESS_KEY_ID=LTAIwrong", "OSS_ACCESS_KEY_SECRET=wrong", "OSS_SESSION_TOKEN=wrong"}
	if code, stderr := run(t, wrongEnv, installedBin, testBucket, e.mnt, "-o", e.opts()); code != 0 {
		t.Fatalf("mount with the file's credentials and wrong env ones: exit %d: %s", code, stderr)
	}
	mustLive(t, e.mnt)
	if got := string(mustRead(t, e.path("a.txt"))); got != "a" {
		t.Fatalf("a.txt = %q", got)
	}
	// The STS credential expires: the server only takes the new one.
	const ak2, sk2 = "LTAIrotated", "rotated-secret"
	e.emu.RotateCredentials(map[string]string{ak2: sk2}, map[string]string{ak2: "token-2"})
	if _, err := os.ReadFile(e.path("b.txt")); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("read with expired credentials: %v; want EACCES", err)
	}
	writeCredFile(t, e.credFile, testBucket+":"+ak2+":"+sk2+":token-2\n", 0o600)
	time.Sleep(1100 * time.Millisecond) // past negative_ttl/metadata_ttl (1s) for b.txt's failed lookup
	if got, err := os.ReadFile(e.path("b.txt")); err != nil || string(got) != "b" {
		t.Fatalf("after rewriting the credentials file: %q, %v", got, err)
	}
	if b, _ := os.ReadFile(e.logFile); bytes.Contains(b, []byte(sk2)) || bytes.Contains(b, []byte("token-2")) {
		t.Fatal("rotated secret logged")
	}
}

// TestEnvCredentials: without a credentials file the environment is used
// (including OSS_SESSION_TOKEN).
func TestEnvCredentials(t *testing.T) {
	e := newDaemonEnv(t)
	e.emu.RotateCredentials(map[string]string{testAK: testSK}, map[string]string{testAK: "env-token"})
	e.put("e.txt", []byte("e"))
	env := []string{"OSS_ACCESS_KEY_ID=" + testAK, "OSS_ACCESS_KEY_SECRET=" + testSK, "OSS_SESSION_TOKEN=env-token"}
	opts := "endpoint=" + e.url + ",region=cn-hangzhou,cache_dir=" + e.cacheDir + ",log_file=" + e.logFile
	if code, stderr := run(t, env, installedBin, testBucket, e.mnt, "-o", opts); code != 0 {
		t.Fatalf("mount with env credentials: exit %d: %s", code, stderr)
	}
	mustLive(t, e.mnt)
	if got := string(mustRead(t, e.path("e.txt"))); got != "e" {
		t.Fatalf("e.txt = %q", got)
	}
}

// TestHelpAndVersion: --help documents every option with its default.
func TestHelpAndVersion(t *testing.T) {
	installBinary(t)
	out, err := exec.Command(installedBin, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"endpoint", "region", "anonymous", "path_style", "credentials_file", "cache_dir", "cache_size",
		"min_free", "block_size", "part_size", "parallel", "revalidate", "metadata_ttl", "negative_ttl", "uid", "gid", "umask",
		"file_mode", "dir_mode", "allow_other", "allow_root", "default_permissions", "nonempty", "foreground", "log_level", "log_file", "ro"} {
		if !strings.Contains(string(out), opt) {
			t.Errorf("--help does not mention %s", opt)
		}
	}
	if !strings.Contains(string(out), "default") {
		t.Error("--help shows no defaults")
	}
	v, err := exec.Command(installedBin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(v), "ossmount ") {
		t.Fatalf("--version: %q %v", v, err)
	}
}
