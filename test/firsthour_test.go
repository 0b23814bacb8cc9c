package test

// What a new user meets in the first hour: subcommands on wrong paths,
// the root inode, listings with . and .., xattrs that cp -a would copy,
// warm and stats figures, messages of a failed mount (issue 17).

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// runOssmount runs the binary with args (and extra environment) and
// returns its combined output and exit code.
func runOssmount(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(*ossmountBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), 0
}

// With an endpoint and credentials in the environment (a production host),
// `ossmount stats DIR` on a directory that is no mount says so and touches
// nothing; it used to try to mount a bucket named "stats". The bucket is
// mounted as stats:/.
func TestSubcommandOutsideAMount(t *testing.T) {
	e := newEnv(t)
	e.emu.CreateBucket("stats", false)
	e.emu.Put("stats", "hello.txt", []byte("hi"))
	env := []string{"OSS_ENDPOINT=" + e.url, "OSS_REGION=cn-hangzhou", "OSS_ACCESS_KEY_ID=" + testAK, "OSS_ACCESS_KEY_SECRET=" + testSK}
	dir := t.TempDir()
	cache := filepath.Join(t.TempDir(), "cache")
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) }) // were it mounted
	for _, args := range [][]string{
		{"stats", dir},
		{"warm", dir},
		{"stats", dir, "-o", "cache_dir=" + cache},
		{"cache", "ls", e.mnt},
	} {
		out, code := runOssmount(t, env, args...)
		t.Logf("ossmount %s: exit %d: %s", strings.Join(args, " "), code, out)
		switch {
		case args[0] == "cache":
			if code != 2 || !strings.Contains(out, `unknown cache command "ls": use one of du, verify, clear`) {
				t.Errorf("cache ls: exit %d, %q", code, out)
			}
		case code != 1 || !strings.Contains(out, dir+" is not inside an ossmount mount") && !strings.Contains(out, "write it as "+args[0]+":/"):
			t.Errorf("%q: exit %d, %q", args, code, out)
		}
	}
	if _, err := os.Stat(cache); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a subcommand created %s: %v", cache, err)
	}
	if isMounted(dir) {
		t.Fatalf("a subcommand mounted %s", dir)
	}
	// The bucket named stats, mounted as stats:/ (as an fstab source would be).
	out, code := runOssmount(t, env, "stats:/", e.mnt, "-o", "cache_dir="+e.cacheDir+",log_file="+e.logFile)
	if code != 0 {
		t.Fatalf("mounting stats:/: exit %d: %s", code, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(e.mnt, 0) })
	if got := string(mustRead(t, e.path("hello.txt"))); got != "hi" {
		t.Errorf("hello.txt of bucket stats: %q", got)
	}
	out, code = runOssmount(t, nil, "stats", e.mnt)
	if code != 0 || !strings.Contains(out, "stats on "+e.mnt) {
		t.Errorf("stats of the mount of bucket stats: exit %d: %s", code, out)
	}
}

// The root is inode 1 and listings start with . and ..
func TestRootInodeAndDotEntries(t *testing.T) {
	e := newEnv(t)
	e.put("a.txt", []byte("a"))
	e.put("d/b.txt", []byte("b"))
	e.mount()
	var st syscall.Stat_t
	if err := syscall.Stat(e.mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Ino != 1 {
		t.Errorf("root inode %d, want 1", st.Ino)
	}
	var dst syscall.Stat_t
	if err := syscall.Stat(e.path("d"), &dst); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir  string
		want string
		dot  uint64 // inode of "."
		up   uint64 // inode of ".."
	}{
		{e.mnt, ".\n..\na.txt\nd\n", 1, 1},
		{e.path("d"), ".\n..\nb.txt\n", dst.Ino, 1},
	} {
		out, err := exec.Command("ls", "-a1", c.dir).CombinedOutput()
		if err != nil || string(out) != c.want {
			t.Errorf("ls -a1 %s: %q (%v), want %q", c.dir, out, err, c.want)
		}
		ents := dirents(t, c.dir)
		if ents["."] != c.dot || ents[".."] != c.up {
			t.Errorf("%s: d_ino of . %d and .. %d, want %d and %d", c.dir, ents["."], ents[".."], c.dot, c.up)
		}
	}
}

// dirents reads a directory with getdents64 and returns name -> d_ino.
func dirents(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	out := map[string]uint64{}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := int(b[16]) | int(b[17])<<8
			ino := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			out[string(name)] = ino
			b = b[reclen:]
		}
	}
}

// cp -a copies no user.oss.* or user.ossmount.* attribute onto local
// files: listxattr shows none of them, getxattr by name still answers.
func TestXattrsAreNotListed(t *testing.T) {
	e := newEnv(t)
	info := e.put("x.bin", []byte("data"))
	e.mount()
	for _, p := range []string{e.path("x.bin"), e.mnt} {
		buf := make([]byte, 4096)
		n, err := unix.Listxattr(p, buf)
		for errors.Is(err, unix.EINTR) {
			n, err = unix.Listxattr(p, buf)
		}
		if err != nil || n != 0 {
			t.Errorf("listxattr %s: %q (%v), want no names", p, buf[:max(n, 0)], err)
		}
	}
	if got := getxattr(t, e.path("x.bin"), "user.oss.etag"); got != info.ETag {
		t.Errorf("user.oss.etag by name: %q, want %q", got, info.ETag)
	}
	if got := getxattr(t, e.path("x.bin"), "user.ossmount.cached_bytes"); got == "" {
		t.Error("user.ossmount.cached_bytes by name: empty")
	}
	if got := getxattr(t, e.mnt, "user.ossmount.control"); got == "" {
		t.Error("user.ossmount.control by name: empty")
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", e.mnt, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	for _, p := range []string{dst, filepath.Join(dst, "x.bin")} {
		buf := make([]byte, 4096)
		n, err := unix.Listxattr(p, buf)
		if err == nil && bytes.Contains(buf[:n], []byte("user.oss")) {
			t.Errorf("cp -a copied ossmount's attributes onto %s: %q", p, buf[:n])
		}
	}
}

// warm tells fetched bytes from bytes that were cached already, and its
// rate is that of the fetched ones.
func TestWarmCountsCachedBytesApart(t *testing.T) {
	e := newEnv(t)
	e.put("data/a.bin", pattern(1, 600*kib))
	e.put("data/b.bin", pattern(2, 300*kib))
	e.mount(smallBlocks...)
	mustRead(t, e.path("data/b.bin")) // cached before the warm
	out, code := runOssmount(t, nil, "warm", e.path("data"))
	t.Logf("first warm:\n%s", out)
	if code != 0 || !strings.Contains(out, "warming 2 files, 900.0 KiB") ||
		!strings.Contains(out, "warmed 2 files, 900.0 KiB: fetched 600.0 KiB in ") ||
		!strings.Contains(out, "300.0 KiB were cached already") {
		t.Errorf("first warm: exit %d:\n%s", code, out)
	}
	out, code = runOssmount(t, nil, "warm", e.path("data/a.bin"))
	t.Logf("second warm:\n%s", out)
	if code != 0 || !strings.Contains(out, "warmed 1 file, 600.0 KiB: all of it was cached already, nothing fetched") {
		t.Errorf("second warm: exit %d:\n%s", code, out)
	}
}

// On a terminal warm draws a bar with bytes, rate and the current file; a
// terminal that reports 0 columns gets progress lines instead of nothing.
func TestWarmProgressOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	e := newEnv(t)
	e.put("dir/some-file.bin", pattern(3, 2*mib))
	e.put("dir/other.bin", pattern(4, 2*mib))
	e.mount(smallBlocks...)
	for _, c := range []struct {
		cols int
		want []string
	}{
		{120, []string{"dir/other.bin", "/4.0 MiB", "iB/s", "warmed 2 files, 4.0 MiB: fetched 4.0 MiB"}},
		{0, []string{"warm: 4.0 MiB of 4.0 MiB (100%): 4.0 MiB fetched", "dir/other.bin", "warmed 2 files, 4.0 MiB: fetched 4.0 MiB"}},
	} {
		if c.cols == 0 {
			if out, err := exec.Command(*ossmountBin, "cache", "clear", e.mnt).CombinedOutput(); err != nil {
				t.Fatalf("cache clear: %v: %s", err, out)
			}
		}
		sh := fmt.Sprintf("stty cols %d rows 40; %s warm %s", c.cols, *ossmountBin, e.path("dir"))
		out, err := exec.Command("script", "-qfec", sh, "/dev/null").CombinedOutput()
		t.Logf("%d columns:\n%q", c.cols, out)
		if err != nil {
			t.Fatalf("%d columns: %v", c.cols, err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%d columns: output lacks %q", c.cols, w)
			}
		}
	}
}

// stats: a cold read has no hits (what readahead brought is counted as
// read ahead), absent names are negative lookups, not errors, and a cache
// clear of a key that was never cached says so and exits 1.
func TestStatsFiguresAreHonest(t *testing.T) {
	e := newEnv(t)
	e.put("big.bin", pattern(5, 3*mib))
	e.mount(smallBlocks...)
	readSmall(t, e.path("big.bin"), 3*mib)
	for _, name := range []string{"nope", "nope2", "big.bin/x"} {
		if _, err := os.Stat(e.path(name)); err == nil {
			t.Fatalf("%s exists", name)
		}
	}
	snap := e.stats()
	if snap.CacheHitBytes != 0 || snap.CacheHitRatio != 0 || snap.CacheMissBytes+snap.CacheAhead != 3*mib || snap.CacheAhead == 0 {
		t.Errorf("cold read: hit %d, miss %d, read ahead %d, ratio %.3f; want no hits", snap.CacheHitBytes, snap.CacheMissBytes, snap.CacheAhead, snap.CacheHitRatio)
	}
	if snap.Negative < 2 || snap.Errors["not_found"] != 0 {
		t.Errorf("absent names: %d negative lookups, errors %v; want them apart from errors", snap.Negative, snap.Errors)
	}
	out, _ := runOssmount(t, nil, "stats", e.mnt)
	t.Logf("stats:\n%s", out)
	for _, want := range []string{"hit ratio 0.0%", "of 1 object;", "errors       none"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q", want)
		}
	}
	out, code := runOssmount(t, nil, "cache", "du", e.mnt)
	if code != 0 || !strings.Contains(out, "in 1 object (") {
		t.Errorf("cache du: exit %d: %s", code, out)
	}
	out, code = runOssmount(t, nil, "cache", "clear", "--key", "never-cached.bin", e.mnt)
	t.Logf("cache clear --key never-cached.bin: exit %d: %s", code, out)
	if code != 1 || !strings.Contains(out, "nothing cached for key never-cached.bin") {
		t.Errorf("clear of a key never cached: exit %d: %s", code, out)
	}
	out, code = runOssmount(t, nil, "cache", "clear", "--key", "big.bin", e.mnt)
	if code != 0 || !strings.Contains(out, "cleared big.bin: 1 object version,") {
		t.Errorf("clear of a cached key: exit %d: %s", code, out)
	}
}

// readSmall reads p sequentially in 32 KiB reads with the kernel's
// readahead off, so the daemon sees many small reads (its own readahead
// then serves most of them).
func readSmall(t *testing.T, p string, size int) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32*kib)
	n := 0
	for {
		k, err := f.Read(buf)
		n += k
		if err != nil || k == 0 {
			break
		}
	}
	if n != size {
		t.Fatalf("read %d bytes of %s, want %d", n, p, size)
	}
}

// mountDaemon mounts like a user does (daemonized) and returns the
// combined output and exit code; the mount, if any, is unmounted at the
// end of the test.
func (e *env) mountDaemon(source string, opts ...string) (string, int) {
	e.t.Helper()
	o := append([]string{"endpoint=" + e.url, "region=cn-hangzhou"}, opts...)
	out, code := runOssmount(e.t, []string{"OSS_ACCESS_KEY_ID=" + testAK, "OSS_ACCESS_KEY_SECRET=" + testSK},
		source, e.mnt, "-o", strings.Join(o, ","))
	if code == 0 {
		e.t.Cleanup(func() { unmountDaemon(e.t, e.mnt) })
	}
	return out, code
}

// unmountDaemon unmounts mnt and waits until it is gone.
func unmountDaemon(t *testing.T, mnt string) {
	if err := syscall.Unmount(mnt, 0); err != nil {
		_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
	}
}

// Messages of a refused mount point the right way, and come at once.
func TestMountMessagesPointTheRightWay(t *testing.T) {
	e := newEnv(t)
	// Anonymous on a bucket that is not public-read.
	out, code := e.mountDaemon(testBucket, "anonymous", "cache_dir="+e.cacheDir, "log_file="+e.logFile)
	if code != 1 || !strings.Contains(out, "the bucket is not public-read; give credentials instead of anonymous") {
		t.Errorf("anonymous on a private bucket: exit %d: %s", code, out)
	}
	// An endpoint without a scheme is https://; the emulator speaks HTTP.
	hostPort := strings.TrimPrefix(e.url, "http://")
	out, code = e.mountDaemon(testBucket, "endpoint="+hostPort, "cache_dir="+e.cacheDir, "log_file="+e.logFile, "log_level=debug")
	want := "endpoint https://" + hostPort + " answers plain HTTP, not HTTPS: use endpoint=http://" + hostPort
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("endpoint without a scheme: exit %d: %s\nwant %s", code, out, want)
	}
	if log, _ := os.ReadFile(e.logFile); bytes.Contains(log, []byte("retrying")) {
		t.Errorf("a plain-HTTP endpoint was retried:\n%s", log)
	}
	// A second mount on a cache dir a live mount uses.
	out, code = e.mountDaemon(testBucket, "cache_dir="+e.cacheDir, "log_file="+e.logFile)
	if code != 0 {
		t.Fatalf("mount: exit %d: %s", code, out)
	}
	other := filepath.Join(t.TempDir(), "mnt2")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	out, code = runOssmount(t, []string{"OSS_ACCESS_KEY_ID=" + testAK, "OSS_ACCESS_KEY_SECRET=" + testSK}, testBucket, other,
		"-o", "endpoint="+e.url+",region=cn-hangzhou,cache_dir="+e.cacheDir)
	if code == 0 {
		unmountDaemon(t, other)
	}
	want = "cache_dir " + e.cacheDir + " is in use by the ossmount mount of bkt on " + e.mnt + "; give each mount its own cache_dir="
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("second mount on a cache dir in use: exit %d: %s\nwant %s", code, out, want)
	}
}

// A prefix that holds nothing mounts, with a warning on stderr and in the log.
func TestEmptyPrefixWarns(t *testing.T) {
	e := newEnv(t)
	e.put("data/a.txt", []byte("a"))
	out, code := e.mountDaemon(testBucket+":/nope", "cache_dir="+e.cacheDir, "log_file="+e.logFile)
	want := `warning: prefix "nope/" holds no object in bucket "bkt"`
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("mount of an empty prefix: exit %d: %q, want %q", code, out, want)
	}
	if log, _ := os.ReadFile(e.logFile); !bytes.Contains(log, []byte(`prefix \"nope/\" holds no object`)) {
		t.Errorf("no warning in the log:\n%s", log)
	}
	unmountDaemon(t, e.mnt)
	if out, code := e.mountDaemon(testBucket+":/data", "cache_dir="+e.cacheDir, "log_file="+e.logFile); code != 0 || strings.Contains(out, "warning") {
		t.Errorf("mount of a prefix with objects: exit %d: %q", code, out)
	}
}

// A mount that fails creates nothing: no cache dir, no log file.
func TestFailedMountLeavesNothing(t *testing.T) {
	e := newEnv(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	base := filepath.Join(t.TempDir(), "var")
	existing := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		source string
		opts   []string
	}{
		{"no such bucket", "nob", []string{"cache_dir=" + filepath.Join(base, "cache", "ossmount")}},
		{"metrics port taken", testBucket, []string{"cache_dir=" + filepath.Join(base, "cache", "ossmount"), "metrics_addr=" + taken.Addr().String()}},
		{"metrics port taken, cache dir exists", testBucket, []string{"cache_dir=" + existing, "metrics_addr=" + taken.Addr().String()}},
	} {
		out, code := e.mountDaemon(c.source, c.opts...)
		if code != 1 {
			t.Errorf("%s: exit %d: %s", c.name, code, out)
		}
		if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s was left behind (%v)", c.name, base, err)
		}
		if _, err := os.Stat(filepath.Join(existing, "ossmount.log")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: ossmount.log was left in the cache dir (%v)", c.name, err)
		}
	}
}

// A bucket named like a subcommand mounts from fstab as NAME:/ (mount.fuse3
// runs `ossmount stats:/ MOUNTPOINT -o ...`).
func TestFstabMountTOfABucketNamedStats(t *testing.T) {
	e := newDaemonEnv(t)
	writeCredFile(t, e.credFile, testAK+":"+testSK+"\n", 0o600) // for any bucket
	e.emu.CreateBucket("stats", false)
	e.emu.Put("stats", "s.txt", []byte("stats bucket"))
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("stats:/ %s fuse.ossmount _netdev,ro,%s 0 0\n", e.mnt, e.opts())
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run(t, nil, "mount", "-T", fstab, e.mnt); code != 0 {
		t.Fatalf("mount -T of stats:/: exit %d: %s", code, stderr)
	}
	mustLive(t, e.mnt)
	if got := string(mustRead(t, e.path("s.txt"))); got != "stats bucket" {
		t.Errorf("s.txt: %q", got)
	}
	if code, stderr := run(t, nil, "umount", e.mnt); code != 0 {
		t.Fatalf("umount: exit %d: %s", code, stderr)
	}
	waitNoDaemon(t, e.mnt)
}
