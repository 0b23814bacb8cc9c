package blockcache

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/ossmount/ossmount/checkpoint"
)

// readFd reads n bytes of b's file from offset 0, as the kernel would.
func readFd(t *testing.T, b *Backing, n int64) []byte {
	t.Helper()
	p := make([]byte, n)
	k, err := os.NewFile(uintptr(b.Fd()), "backing").ReadAt(p, 0)
	if int64(k) != n {
		t.Fatalf("read %d of %d bytes through the backing fd: %v", k, n, err)
	}
	return p
}

func TestBackingOnlyWhenWholeAndChecked(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	size := int64(3*bs + 100)
	data := content(40, size)
	v := version("b", size)
	o := object(t, c, v)
	writeBlock(t, o, data, 0)
	writeBlock(t, o, data, 1)
	if _, err := o.OpenBacking(); !errors.Is(err, ErrNotBackable) {
		t.Fatalf("partial version: %v, want ErrNotBackable", err)
	}
	writeBlock(t, o, data, 2)
	writeBlock(t, o, data, 3)
	b, err := o.OpenBacking()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFd(t, b, size), data) {
		t.Fatal("backing file differs from the object")
	}
	if st := c.Stats(); st.Backed != 1 || st.BackingOpens != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	b.Close()
	b.Close() // idempotent
	if st := c.Stats(); st.Backed != 0 {
		t.Fatalf("Backed = %d after Close", st.Backed)
	}
	c.Close()

	// Loaded from disk, blocks are unchecked until read: not backable
	// before every block has been read once in this process.
	c = open(t, dir, 0)
	o = object(t, c, v)
	mustRead(t, o, 0, 2*bs)
	if _, err := o.OpenBacking(); !errors.Is(err, ErrNotBackable) {
		t.Fatalf("unchecked blocks: %v, want ErrNotBackable", err)
	}
	mustRead(t, o, 2*bs, size-2*bs)
	b, err = o.OpenBacking()
	if err != nil {
		t.Fatalf("after reading every block: %v", err)
	}
	b.Close()
}

func TestBackingPinsAgainstEviction(t *testing.T) {
	c := open(t, t.TempDir(), 8*bs)
	a, b := version("a", 4*bs), version("b", 12*bs)
	dataA, dataB := content(41, 4*bs), content(42, 12*bs)
	oa := object(t, c, a)
	writeAll(t, oa, dataA)
	back, err := oa.OpenBacking()
	if err != nil {
		t.Fatal(err)
	}
	// b alone would push every block of a out.
	ob := object(t, c, b)
	for i := range b.NumBlocks() {
		writeBlock(t, ob, dataB, i)
		if st := c.Stats(); st.Used > 8*bs {
			t.Fatalf("Used %d beyond MaxBytes with a pinned version", st.Used)
		}
	}
	if m := oa.Missing(0, 3); len(m) != 0 {
		t.Fatalf("blocks %v of the backed version evicted", m)
	}
	if !bytes.Equal(readFd(t, back, 4*bs), dataA) {
		t.Fatal("backing file changed under the kernel")
	}
	back.Close()
	// Unpinned, it is the most recently used: b's older blocks go first.
	writeAll(t, ob, dataB)
	if st := c.Stats(); st.Used > 8*bs {
		t.Fatalf("Used %d after the pin went", st.Used)
	}
}

func TestBackingBudgetIsHalfTheCache(t *testing.T) {
	c := open(t, t.TempDir(), 8*bs)
	small, big := version("s", 2*bs), version("g", 3*bs)
	os1, og := object(t, c, small), object(t, c, big)
	writeAll(t, os1, content(43, 2*bs))
	writeAll(t, og, content(44, 3*bs))
	b1, err := os1.OpenBacking()
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	// 2 + 3 blocks pinned would be over half of 8.
	if _, err := og.OpenBacking(); !errors.Is(err, ErrNotBackable) {
		t.Fatalf("over the budget: %v, want ErrNotBackable", err)
	}
	// A second Backing of a pinned version costs nothing more.
	b2, err := os1.OpenBacking()
	if err != nil {
		t.Fatal(err)
	}
	b2.Close()
	b1.Close()
	b3, err := og.OpenBacking()
	if err != nil {
		t.Fatalf("after the other pin went: %v", err)
	}
	b3.Close()
}

// backedVersion caches a 3-block version whole in a new cache and opens a
// Backing of it (closed when the test ends).
func backedVersion(t *testing.T, key string, seed uint64) (dir string, c *Cache, v checkpoint.Version, data []byte, o *Object, back *Backing) {
	t.Helper()
	dir = t.TempDir()
	c = open(t, dir, 0)
	v = version(key, 3*bs)
	data = content(seed, 3*bs)
	o = object(t, c, v)
	writeAll(t, o, data)
	back, err := o.OpenBacking()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	return dir, c, v, data, o, back
}

// Deleting a backed version's files leaves the kernel's file intact, and a
// refetch writes a new file rather than into the one the kernel reads.
func TestBackingSurvivesDrop(t *testing.T) {
	_, c, v, data, o, back := backedVersion(t, "d", 45)
	c.DropKey(v.Bucket, v.Key)
	if o.Has(0) {
		t.Fatal("dropped version still has blocks")
	}
	other := content(46, 3*bs)
	writeAll(t, o, other) // not what OSS would send, but it shows where writes land
	if !bytes.Equal(readFd(t, back, 3*bs), data) {
		t.Fatal("the backing file changed after a drop and a rewrite")
	}
	if !bytes.Equal(mustRead(t, o, 0, 3*bs), other) {
		t.Fatal("the new file")
	}
}

// A block of a backed version that fails a later check (cache verify)
// drops the version's files instead of punching a hole the kernel would
// serve as zeros.
func TestBackingBadBlockDropsWholeVersion(t *testing.T) {
	dir, c, v, data, o, back := backedVersion(t, "v", 47)
	dataFile, _ := files(dir, v)
	f, err := os.OpenFile(dataFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{data[bs+7] ^ 1}, bs+7)
	f.Close()
	rep, err := c.Verify(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Bad) != 1 || rep.Bad[0].Block != 1 {
		t.Fatalf("Verify = %+v", rep)
	}
	if m := o.Missing(0, 2); len(m) != 3 {
		t.Fatalf("blocks left of a backed version with a bad block: missing only %v", m)
	}
	if _, err := os.Stat(dataFile); !os.IsNotExist(err) {
		t.Fatalf("data file still there: %v", err)
	}
	got := readFd(t, back, 3*bs)
	if bytes.Equal(got[bs:2*bs], make([]byte, bs)) {
		t.Fatal("a hole was punched in the backing file")
	}
}
