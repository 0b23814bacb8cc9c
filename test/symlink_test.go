package test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// OSS symbolic links (issue 20), in a mount of the prefix data/.
func symlinkFixture(t *testing.T) (*env, map[string][]byte) {
	e := newEnv(t)
	files := map[string][]byte{
		"target.bin":    pattern(301, 1*mib+123),
		"sub/deep.txt":  []byte("deep\n"),
		"sub/other.bin": pattern(302, 4096),
	}
	for k, v := range files {
		e.put("data/"+k, v)
	}
	e.put("elsewhere/x", []byte("outside the mount"))
	for link, target := range map[string]string{
		"data/ln":        "data/target.bin", // same directory
		"data/sub/up":    "data/target.bin", // the parent's
		"data/dirlink":   "data/sub/",       // a directory
		"data/chain":     "data/ln",         // a link to a link
		"data/dangling":  "data/nope",       // nothing there
		"data/outside":   "elsewhere/x",     // outside the mounted prefix
		"data/sub/space": "data/sub/deep.txt",
	} {
		e.emu.PutSymlink(testBucket, link, target)
	}
	e.source = testBucket + ":/data"
	e.mount()
	return e, files
}

// TestSymlinkListingReadlinkAndRead: links list and lstat as links (their
// size is their text's, not what OSS lists), readlink gives the target
// relative to the link, and reading through a link (to a file, a
// directory, another link) gives the target's bytes.
func TestSymlinkListingReadlinkAndRead(t *testing.T) {
	e, files := symlinkFixture(t)
	want := map[string]string{
		"ln": "target.bin", "sub/up": "../target.bin", "dirlink": "sub", "chain": "ln",
		"dangling": "nope", "outside": "oss://" + testBucket + "/elsewhere%2Fx", "sub/space": "deep.txt",
	}
	// As ls -l: the listings first, so the lstats below are answered from
	// them (where OSS gives a link another size than its text's).
	for _, d := range []string{"", "sub"} {
		if _, err := os.ReadDir(e.path(d)); err != nil {
			t.Fatal(err)
		}
	}
	for link, text := range want {
		fi, err := os.Lstat(e.path(link))
		if err != nil {
			t.Fatalf("lstat %s: %v", link, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 || fi.Size() != int64(len(text)) {
			t.Errorf("lstat %s: mode %v size %d; want a link of size %d", link, fi.Mode(), fi.Size(), len(text))
		}
		if got, err := os.Readlink(e.path(link)); err != nil || got != text {
			t.Errorf("readlink %s = %q, %v; want %q", link, got, err, text)
		}
	}
	entries, err := os.ReadDir(e.mnt)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]fs.FileMode{}
	for _, de := range entries {
		types[de.Name()] = de.Type()
	}
	for _, l := range []string{"ln", "dirlink", "chain", "dangling", "outside"} {
		if types[l] != fs.ModeSymlink {
			t.Errorf("readdir type of %s: %v", l, types[l])
		}
	}
	if types["target.bin"] != 0 || types["sub"] != fs.ModeDir {
		t.Errorf("readdir types %v", types)
	}
	for _, p := range []string{"ln", "sub/up", "chain"} {
		got, err := os.ReadFile(e.path(p))
		if err != nil {
			t.Fatalf("read through %s: %v", p, err)
		}
		assertSame(t, p, got, files["target.bin"])
	}
	if got, err := os.ReadFile(e.path("dirlink/deep.txt")); err != nil || string(got) != "deep\n" {
		t.Fatalf("read through the directory link: %q %v", got, err)
	}
	if fi, err := os.Stat(e.path("ln")); err != nil || fi.Size() != int64(len(files["target.bin"])) || !fi.Mode().IsRegular() {
		t.Fatalf("stat through the link: %v %v", fi, err)
	}
	for _, p := range []string{"dangling", "outside"} {
		if _, err := os.Stat(e.path(p)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("stat of dangling %s: %v; want ENOENT", p, err)
		}
	}
	if _, err := os.Readlink(e.path("target.bin")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("readlink of a file: %v; want EINVAL", err)
	}
	if err := os.Symlink("target.bin", e.path("new")); !errors.Is(err, syscall.EROFS) {
		t.Errorf("ln -s: %v; want EROFS (the mount is read-only)", err)
	}
}

// TestSymlinkFindAndCopy: find -L follows the links (the dangling ones
// stay links), and cp -a copies the tree with its links as links.
func TestSymlinkFindAndCopy(t *testing.T) {
	e, files := symlinkFixture(t)
	out, err := exec.Command("find", "-L", e.mnt, "-type", "f").CombinedOutput()
	if err != nil {
		t.Fatalf("find -L: %v\n%s", err, out)
	}
	got := strings.Fields(strings.ReplaceAll(string(out), e.mnt+"/", ""))
	sort.Strings(got)
	wantFiles := []string{"chain", "dirlink/deep.txt", "dirlink/other.bin", "dirlink/space", "dirlink/up", "ln", "sub/deep.txt", "sub/other.bin", "sub/space", "sub/up", "target.bin"}
	if strings.Join(got, " ") != strings.Join(wantFiles, " ") {
		t.Fatalf("find -L -type f:\n got %v\nwant %v", got, wantFiles)
	}
	out, err = exec.Command("find", "-L", e.mnt, "-type", "l").CombinedOutput()
	if err != nil {
		t.Fatalf("find -L -type l: %v\n%s", err, out)
	}
	if got := strings.Fields(strings.ReplaceAll(string(out), e.mnt+"/", "")); strings.Join(got, " ") != "dangling outside" && strings.Join(got, " ") != "outside dangling" {
		t.Fatalf("broken links: %v", got)
	}

	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", e.mnt, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		assertSame(t, "copy of "+name, got, data)
	}
	for link, text := range map[string]string{"ln": "target.bin", "sub/up": "../target.bin", "dirlink": "sub", "outside": "oss://" + testBucket + "/elsewhere%2Fx"} {
		if got, err := os.Readlink(filepath.Join(dst, link)); err != nil || got != text {
			t.Errorf("copied link %s = %q, %v; want %q", link, got, err, text)
		}
	}
	if got, err := os.ReadFile(filepath.Join(dst, "sub/up")); err != nil || len(got) != len(files["target.bin"]) {
		t.Errorf("the copied link does not lead to the copied file: %v", err)
	}
}

// TestSymlinkCreate: with writes on, ln -s makes an OSS link whose target
// is the key the text names relative to the link; readlink gives the text
// back and reads follow it. Texts that lead out of the mount are EINVAL
// and make nothing; an existing name is EEXIST.
func TestSymlinkCreate(t *testing.T) {
	e := newEnv(t)
	target := pattern(303, 200*1024)
	e.put("data/target.bin", target)
	e.put("data/sub/deep.txt", []byte("deep\n"))
	e.source = testBucket + ":/data"
	e.mount("rw")
	// Listed first: the new links must show in the listings this mount
	// keeps, as new files do.
	for _, d := range []string{"", "sub"} {
		if _, err := os.ReadDir(e.path(d)); err != nil {
			t.Fatal(err)
		}
	}
	isLink := func(key, wantTarget string) {
		t.Helper()
		info, ok := e.emu.Object(testBucket, key)
		if !ok || info.SymlinkTarget != wantTarget {
			t.Fatalf("object %s: %+v (exists %v); want a link to %q", key, info, ok, wantTarget)
		}
	}
	for _, c := range []struct{ link, text, key, readlink string }{
		{"ln", "target.bin", "data/target.bin", "target.bin"},
		{"sub/up", "../target.bin", "data/target.bin", "../target.bin"},
		{"sub/here", "./deep.txt", "data/sub/deep.txt", "deep.txt"},
	} {
		if err := os.Symlink(c.text, e.path(c.link)); err != nil {
			t.Fatalf("ln -s %s %s: %v", c.text, c.link, err)
		}
		isLink("data/"+c.link, c.key)
		fi, err := os.Lstat(e.path(c.link))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 || fi.Size() != int64(len(c.readlink)) {
			t.Fatalf("lstat %s: %v %v", c.link, fi, err)
		}
		if got, err := os.Readlink(e.path(c.link)); err != nil || got != c.readlink {
			t.Errorf("readlink %s = %q, %v; want %q", c.link, got, err, c.readlink)
		}
	}
	assertSame(t, "read through ln", mustRead(t, e.path("ln")), target)
	assertSame(t, "read through sub/up", mustRead(t, e.path("sub/up")), target)
	assertSame(t, "read through sub/here", mustRead(t, e.path("sub/here")), []byte("deep\n"))
	entries, err := os.ReadDir(e.path("sub"))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]fs.FileMode{}
	for _, de := range entries {
		types[de.Name()] = de.Type()
	}
	if types["up"] != fs.ModeSymlink || types["here"] != fs.ModeSymlink {
		t.Errorf("listing of sub: %v", types)
	}
	// Out of the mount: refused, nothing made.
	for _, c := range []struct{ link, text string }{
		{"abs", "/etc/passwd"}, {"sub/climb", "../../elsewhere/x"}, {"root", "."},
	} {
		if err := os.Symlink(c.text, e.path(c.link)); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ln -s %s %s: %v; want EINVAL", c.text, c.link, err)
		}
		e.absent("data/" + c.link)
		if _, err := os.Lstat(e.path(c.link)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("lstat %s after the refused ln -s: %v", c.link, err)
		}
	}
	// Onto an existing name: a file, a link.
	for _, name := range []string{"target.bin", "ln"} {
		if err := os.Symlink("sub/deep.txt", e.path(name)); !errors.Is(err, syscall.EEXIST) {
			t.Errorf("ln -s onto %s: %v; want EEXIST", name, err)
		}
	}
	isLink("data/ln", "data/target.bin")
	e.stored("data/target.bin", target)
	// Created in the bucket by someone else meanwhile (this mount had not
	// seen it): forbid-overwrite answers EEXIST.
	if _, err := os.Lstat(e.path("late")); !errors.Is(err, syscall.ENOENT) {
		t.Fatal(err)
	}
	e.emu.PutSymlink(testBucket, "data/late", "data/target.bin")
	if err := os.Symlink("sub/deep.txt", e.path("late")); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("ln -s onto a key made meanwhile: %v; want EEXIST", err)
	}
	isLink("data/late", "data/target.bin")
}
