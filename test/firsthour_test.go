package test

// What a new user meets in the first hour: subcommands on wrong paths,
// the root inode, listings with . and .., xattrs that cp -a would copy,
// warm and stats figures, messages of a failed mount (issue 17).

import (
	"bytes"
	"errors"
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
