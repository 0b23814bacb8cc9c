package test

import (
	"bytes"
	"errors"
	"hash/crc64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

// stored checks that key holds want in the emulator, with the matching
// CRC64.
func (e *env) stored(key string, want []byte) {
	e.t.Helper()
	got, ok := e.emu.ObjectData(testBucket, key)
	if !ok {
		e.t.Fatalf("object %q not stored", key)
	}
	assertSame(e.t, "stored "+key, got, want)
	info, _ := e.emu.Object(testBucket, key)
	if info.CRC64 != crc64.Checksum(want, crc64.MakeTable(crc64.ECMA)) {
		e.t.Fatalf("object %q: CRC64 %d is not the written bytes'", key, info.CRC64)
	}
}

func (e *env) absent(key string) {
	e.t.Helper()
	if _, ok := e.emu.Object(testBucket, key); ok {
		e.t.Fatalf("object %q exists, want none", key)
	}
}

func (e *env) countOp(op string) int {
	n := 0
	for _, r := range e.emu.Requests() {
		if r.Op == op {
			n++
		}
	}
	return n
}

func writeFile(t *testing.T, p string, data []byte) error {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// small part size so that a few MiB make a multipart upload.
var rwSmall = []string{"rw", "upload_part_size=1M", "upload_parallel=3"}

func TestWriteCpAndReadBackFromCache(t *testing.T) {
	e := newEnv(t)
	e.mount(rwSmall...)
	src := filepath.Join(t.TempDir(), "src")
	big := pattern(1, 5<<20+12345) // multipart: 6 parts
	small := pattern(2, 1000)      // one PutObject
	if err := os.WriteFile(src, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", src, e.path("big.bin")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := writeFile(t, e.path("small.txt"), small); err != nil {
		t.Fatal(err)
	}
	e.stored("big.bin", big)
	e.stored("small.txt", small)
	if n := e.countOp("UploadPart"); n != 6 {
		t.Errorf("%d UploadParts, want 6", n)
	}
	if n := e.countOp("PutObject"); n != 1 {
		t.Errorf("%d PutObjects, want 1", n)
	}
	// Visible at once in this mount, and read back with no body bytes.
	e.emu.ResetRequests()
	st, err := os.Stat(e.path("big.bin"))
	if err != nil || st.Size() != int64(len(big)) {
		t.Fatalf("stat: %v %v", st, err)
	}
	ents, err := os.ReadDir(e.mnt)
	if err != nil || len(ents) != 2 {
		t.Fatalf("listing: %v %v", ents, err)
	}
	assertSame(t, "read back", mustRead(t, e.path("big.bin")), big)
	assertSame(t, "read back", mustRead(t, e.path("small.txt")), small)
	if n := bodyBytes(e.gets("big.bin")) + bodyBytes(e.gets("small.txt")); n != 0 {
		t.Errorf("reading back moved %d body bytes, want 0 (from the cache)", n)
	}
	if u := e.emu.Uploads(testBucket); len(u) != 0 {
		t.Errorf("uploads left: %v", u)
	}
}

func TestWriteToolsDdTarRsyncPython(t *testing.T) {
	e := newEnv(t)
	e.mount(append(rwSmall, "allow_delete")...)
	dir := t.TempDir()
	data := pattern(3, 3<<20+7)
	src := filepath.Join(dir, "d.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("dd", "if="+src, "of="+e.path("dd.bin"), "bs=64k", "conv=fsync", "status=none")
	e.stored("dd.bin", data)

	// tar -x: directories (markers) and files.
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub", "deeper"), 0o755)
	os.WriteFile(filepath.Join(tree, "a.txt"), []byte("alpha\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "sub", "b.bin"), data[:200000], 0o644)
	os.WriteFile(filepath.Join(tree, "sub", "deeper", "c"), nil, 0o644)
	run("tar", "-C", dir, "-cf", filepath.Join(dir, "t.tar"), "tree")
	run("tar", "-C", e.mnt, "--no-same-owner", "-xf", filepath.Join(dir, "t.tar"))
	e.stored("tree/a.txt", []byte("alpha\n"))
	e.stored("tree/sub/b.bin", data[:200000])
	e.stored("tree/sub/deeper/c", []byte{})

	// rsync -a: a temp file, then a rename.
	rs := filepath.Join(dir, "rs")
	os.MkdirAll(rs, 0o755)
	os.WriteFile(filepath.Join(rs, "r1"), data[:1<<20+3], 0o644)
	os.WriteFile(filepath.Join(rs, "r2"), []byte("two"), 0o644)
	if _, err := exec.LookPath("rsync"); err == nil {
		run("rsync", "-a", rs+"/", e.path("rs")+"/")
		e.stored("rs/r1", data[:1<<20+3])
		e.stored("rs/r2", []byte("two"))
		for _, k := range e.emu.Keys(testBucket, "rs/") {
			if strings.Contains(k, "/.r") {
				t.Errorf("rsync temp file left: %s", k)
			}
		}
	} else {
		t.Log("rsync not installed: skipped")
	}

	// Python.
	py := `import sys
with open(sys.argv[1], "wb") as f:
    for i in range(100):
        f.write(bytes([i % 256]) * 10000)
`
	// Shell redirections: the shell opens, duplicates and closes the
	// file before the command writes.
	run("sh", "-c", "echo one > "+e.path("sh.txt")+"; { echo two; sh -c 'echo three'; } >> /dev/null")
	e.stored("sh.txt", []byte("one\n"))
	run("sh", "-c", "(echo a; sh -c 'echo b') > "+e.path("sub.txt"))
	e.stored("sub.txt", []byte("a\nb\n"))

	run("python3", "-c", py, e.path("py.bin"))
	var want []byte
	for i := 0; i < 100; i++ {
		want = append(want, bytes.Repeat([]byte{byte(i)}, 10000)...)
	}
	e.stored("py.bin", want)
}

func TestWriteNamespace(t *testing.T) {
	e := newEnv(t)
	e.put("keep.txt", []byte("keep"))
	e.mount("rw", "allow_delete")
	if err := os.Mkdir(e.path("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.emu.Object(testBucket, "d/"); !ok {
		t.Fatal("mkdir made no marker")
	}
	if err := os.Mkdir(e.path("d"), 0o755); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("mkdir of an existing dir: %v, want EEXIST", err)
	}
	if err := writeFile(t, e.path("d/f"), []byte("f")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.path("d")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a non-empty dir: %v, want ENOTEMPTY", err)
	}
	if err := os.Rename(e.path("d"), e.path("d2")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename of a non-empty dir: %v, want EXDEV", err)
	}
	if err := os.Rename(e.path("d/f"), e.path("g")); err != nil {
		t.Fatal(err)
	}
	e.absent("d/f")
	e.stored("g", []byte("f"))
	assertSame(t, "renamed", mustRead(t, e.path("g")), []byte("f"))
	if _, err := os.Stat(e.path("d/f")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of the old name: %v", err)
	}
	if err := os.Remove(e.path("d")); err != nil {
		t.Fatalf("rmdir: %v", err)
	}
	e.absent("d/")
	if err := os.Remove(e.path("keep.txt")); err != nil {
		t.Fatalf("unlink: %v", err)
	}
	e.absent("keep.txt")
	if _, err := os.Stat(e.path("keep.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat after unlink: %v", err)
	}
	// An empty directory is renamed by moving its marker.
	if err := os.Mkdir(e.path("empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.path("empty"), e.path("moved")); err != nil {
		t.Fatalf("rename of an empty dir: %v", err)
	}
	e.absent("empty/")
	if _, ok := e.emu.Object(testBucket, "moved/"); !ok {
		t.Fatal("renamed dir has no marker")
	}
	if st, err := os.Stat(e.path("moved")); err != nil || !st.IsDir() {
		t.Fatalf("stat of the renamed dir: %v", err)
	}
	// A truncate to another size cannot be uploaded.
	if err := os.Truncate(e.path("g"), 5); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("truncate to another size: %v, want EINVAL", err)
	}
	// chmod, chown, utimes: accepted, no effect.
	if err := os.Chmod(e.path("g"), 0o600); err != nil {
		t.Errorf("chmod: %v", err)
	}
	if err := os.Chown(e.path("g"), 1000, 1000); err != nil {
		t.Errorf("chown: %v", err)
	}
	if err := os.Chtimes(e.path("g"), time.Now(), time.Now()); err != nil {
		t.Errorf("utimes: %v", err)
	}
}

func TestWriteWithoutAllowOptions(t *testing.T) {
	e := newEnv(t)
	e.put("old.txt", []byte("old"))
	e.mount("rw")
	if err := os.Remove(e.path("old.txt")); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("unlink without allow_delete: %v, want EPERM", err)
	}
	if err := os.WriteFile(e.path("old.txt"), []byte("new"), 0o644); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("overwrite without allow_overwrite: %v, want EEXIST", err)
	}
	e.stored("old.txt", []byte("old"))
}

func TestWriteOutOfOrderIsEINVAL(t *testing.T) {
	e := newEnv(t)
	e.mount(rwSmall...)
	f, err := os.Create(e.path("holes"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(pattern(4, 2<<20)); err != nil { // two parts sent
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte("x"), 10)
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("write behind the end: %v, want EINVAL", err)
	}
	if err := f.Close(); err == nil {
		t.Fatal("close after a refused write succeeded")
	}
	e.absent("holes")
	if u := e.emu.Uploads(testBucket); len(u) != 0 {
		t.Errorf("upload not aborted: %v", u)
	}
	if b, _ := os.ReadFile(e.logFile); !bytes.Contains(b, []byte("only sequential writes")) {
		t.Error("no log line says why the write was refused")
	}
}

func TestWriteConcurrentCreateIsEEXIST(t *testing.T) {
	e := newEnv(t)
	e.mount(rwSmall...)
	for _, size := range []int{1000, 3 << 20} { // PutObject, multipart
		name := "race" + string(rune('a'+size%7))
		f, err := os.Create(e.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(pattern(5, size)); err != nil {
			t.Fatal(err)
		}
		other := e.put(name, []byte("the other writer's"))
		err = f.Close()
		if !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("size %d: close after another writer created the key: %v, want EEXIST", size, err)
		}
		e.stored(name, []byte("the other writer's"))
		if info, _ := e.emu.Object(testBucket, name); info.ETag != other.ETag {
			t.Fatal("the other writer's object was replaced")
		}
	}
	if u := e.emu.Uploads(testBucket); len(u) != 0 {
		t.Errorf("upload not aborted: %v", u)
	}
}

func TestWriteAppend(t *testing.T) {
	e := newEnv(t)
	bigOld := pattern(6, 2<<20+5) // at least a part: UploadPartCopy
	e.put("small.log", []byte("line 1\n"))
	e.put("big.log", bigOld)
	e.mount(append(rwSmall, "allow_overwrite")...)
	for _, c := range []struct {
		key string
		old []byte
	}{{"small.log", []byte("line 1\n")}, {"big.log", bigOld}} {
		f, err := os.OpenFile(e.path(c.key), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		add := pattern(7, 1<<20+99)
		if _, err := f.Write(add); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		e.stored(c.key, append(append([]byte{}, c.old...), add...))
	}
	if n := e.countOp("UploadPartCopy"); n != 1 {
		t.Errorf("%d UploadPartCopy, want 1 (for big.log)", n)
	}
	// O_TRUNC replaces.
	if err := os.WriteFile(e.path("small.log"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.stored("small.log", []byte("new\n"))
}

func TestWriteAppendToAChangedObjectFails(t *testing.T) {
	e := newEnv(t)
	e.put("a.log", pattern(8, 2<<20))
	e.mount(append(rwSmall, "allow_overwrite")...)
	f, err := os.OpenFile(e.path("a.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	other := e.put("a.log", []byte("changed by someone else"))
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("append to an object changed since open: %v, want ESTALE", err)
	}
	f.Close()
	if info, _ := e.emu.Object(testBucket, "a.log"); info.ETag != other.ETag {
		t.Fatal("the other writer's version was replaced")
	}
}

func TestWriteUploadFaultsRetried(t *testing.T) {
	e := newEnv(t)
	e.mount(append(rwSmall, "retries=5")...)
	data := pattern(10, 4<<20+1)
	e.emu.SetUploadFaults(ossemu.UploadFaults{FailUploadPartN: 2, ResetAfterBytes: 300 << 10, ResetCount: 2, CorruptPartN: 4,
		StallAfterBytes: 100 << 10, StallDuration: 300 * time.Millisecond, StallCount: 1, RequestBytesPerSec: 64 << 20})
	if err := writeFile(t, e.path("faulty.bin"), data); err != nil {
		t.Fatalf("write under upload faults: %v", err)
	}
	e.stored("faulty.bin", data)
	faults := map[string]int{}
	for _, r := range e.emu.Requests() {
		for _, f := range strings.Split(r.Fault, ",") {
			faults[f]++
		}
	}
	if faults["5xx"] == 0 || faults["reset"] == 0 || faults["corrupt"] == 0 || faults["stall"] == 0 {
		t.Errorf("faults injected: %v, want 5xx, reset, corrupt and stall", faults)
	}
}

func TestWriteKilledLeavesNoObjectAndOrphanAborted(t *testing.T) {
	e := newEnv(t)
	e.mount(rwSmall...)
	f, err := os.Create(e.path("partial"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(pattern(11, 3<<20)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(e.emu.Uploads(testBucket)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(e.emu.Uploads(testBucket)) == 0 {
		t.Fatal("no multipart upload started")
	}
	e.kill9()
	f.Close()
	syscall.Unmount(e.mnt, syscall.MNT_DETACH)
	e.absent("partial")
	e.mount(rwSmall...)
	if u := e.emu.Uploads(testBucket); len(u) != 0 {
		t.Fatalf("orphan upload not aborted at the next mount: %v", u)
	}
	if n := e.countOp("AbortMultipartUpload"); n != 1 {
		t.Errorf("%d aborts, want 1", n)
	}
	e.absent("partial")
}

func TestWriteFsyncThenMoreTouchAndBusy(t *testing.T) {
	e := newEnv(t)
	e.put("taken", []byte("taken"))
	e.put("src", []byte("src"))
	e.mount(append(rwSmall, "allow_delete")...)
	// Writes after an fsync append to the committed object.
	f, err := os.Create(e.path("journal.log"))
	if err != nil {
		t.Fatal(err)
	}
	first, second := pattern(12, 1<<20+10), []byte("after fsync\n")
	f.Write(first)
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	e.stored("journal.log", first)
	// A file being written cannot be renamed or deleted.
	if err := os.Rename(e.path("journal.log"), e.path("j2")); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("rename of a file being written: %v, want EBUSY", err)
	}
	if _, err := f.Write(second); err != nil {
		t.Fatalf("write after fsync: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	e.stored("journal.log", append(append([]byte{}, first...), second...))

	// touch: an empty object.
	if out, err := exec.Command("touch", e.path("empty")).CombinedOutput(); err != nil {
		t.Fatalf("touch: %v %s", err, out)
	}
	e.stored("empty", []byte{})
	// A rename onto an existing file needs allow_overwrite.
	if err := os.Rename(e.path("src"), e.path("taken")); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("rename onto an existing file: %v, want EEXIST", err)
	}
	e.stored("taken", []byte("taken"))
	e.stored("src", []byte("src"))
	// Symbolic links are made (TestSymlinkCreate); hard links are not.
	if err := os.Link(e.path("src"), e.path("hard")); !errors.Is(err, syscall.ENOTSUP) {
		t.Errorf("link: %v, want ENOTSUP", err)
	}
}

func TestWriteVersionedBucketWarns(t *testing.T) {
	e := newEnv(t)
	e.emu.SetVersioning(testBucket, "Enabled")
	e.mount("rw")
	b, _ := os.ReadFile(e.logFile)
	if !bytes.Contains(b, []byte("bucket versioning is enabled")) {
		t.Fatal("no warning about a versioned bucket")
	}
}
