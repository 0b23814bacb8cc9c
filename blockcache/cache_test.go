package blockcache

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/checkpoint"
)

// ecmaTable is the reference the tests check the cache's CRCs against:
// hash/crc64, not the crc64ecma package the cache uses.
var ecmaTable = crc64.MakeTable(crc64.ECMA)

const bs = 16 << 10

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func open(t *testing.T, dir string, maxBytes int64) *Cache {
	t.Helper()
	c, err := Open(Options{Dir: dir, MaxBytes: maxBytes, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func content(seed uint64, n int64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5555))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func version(key string, size int64) checkpoint.Version {
	return checkpoint.Version{Bucket: "bkt", Key: key, ETag: `"e-` + key + `"`, Size: size,
		LastModified: time.Unix(1700000000, 0), BlockSize: bs}
}

func object(t *testing.T, c *Cache, v checkpoint.Version) *Object {
	t.Helper()
	o, err := c.Object(v)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func writeAll(t *testing.T, o *Object, data []byte) {
	t.Helper()
	for b := range o.Version().NumBlocks() {
		writeBlock(t, o, data, b)
	}
}

func writeBlock(t *testing.T, o *Object, data []byte, b int) {
	t.Helper()
	off, n := o.Version().BlockRange(b)
	if err := o.WriteBlock(b, data[off:off+n]); err != nil {
		t.Fatalf("WriteBlock(%d): %v", b, err)
	}
	if !o.Has(b) {
		t.Fatalf("block %d not present after WriteBlock", b)
	}
}

func mustRead(t *testing.T, o *Object, off, n int64) []byte {
	t.Helper()
	p := make([]byte, n)
	k, err := o.ReadAt(p, off)
	if err != nil {
		t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
	}
	return p[:k]
}

func TestWriteRead(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	size := int64(3*bs + 1234)
	data := content(1, size)
	v := version("a/b.bin", size)
	o := object(t, c, v)
	if o2 := object(t, c, v); o2 != o {
		t.Fatal("two Objects for one version")
	}
	if _, err := o.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrNotCached) {
		t.Fatalf("empty cache: %v", err)
	}
	writeBlock(t, o, data, 3) // the short last block
	writeBlock(t, o, data, 1)
	if got := o.Missing(0, 10); fmt.Sprint(got) != "[0 2]" {
		t.Fatalf("Missing = %v", got)
	}
	if got := o.CachedBytes(); got != bs+1234 {
		t.Fatalf("CachedBytes = %d", got)
	}
	if _, ok := o.CRC64(); ok {
		t.Fatal("CRC64 with blocks missing")
	}
	// A range touching a missing block is not served at all.
	if n, err := o.ReadAt(make([]byte, bs), bs+bs/2); !errors.Is(err, ErrNotCached) || n != 0 {
		t.Fatalf("ReadAt over a missing block: %d, %v", n, err)
	}
	if got := mustRead(t, o, bs+100, 500); !bytes.Equal(got, data[bs+100:bs+600]) {
		t.Fatal("bad data in block 1")
	}
	writeBlock(t, o, data, 0)
	writeBlock(t, o, data, 2)
	// Spanning all blocks.
	if got := mustRead(t, o, 7, size-7); !bytes.Equal(got, data[7:]) {
		t.Fatal("bad data across blocks")
	}
	// Clipped at the end.
	p := make([]byte, 5000)
	n, err := o.ReadAt(p, size-1000)
	if n != 1000 || err != io.EOF || !bytes.Equal(p[:n], data[size-1000:]) {
		t.Fatalf("clipped read: %d, %v", n, err)
	}
	if n, err := o.ReadAt(p, size); n != 0 || err != io.EOF {
		t.Fatalf("read at EOF: %d, %v", n, err)
	}
	if crc, ok := o.CRC64(); !ok || crc != crc64.Checksum(data, ecmaTable) {
		t.Fatalf("CRC64 = %x, %v", crc, ok)
	}
	// Rewriting a present block is a no-op.
	if err := o.WriteBlock(1, make([]byte, bs)); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, o, bs, bs); !bytes.Equal(got, data[bs:2*bs]) {
		t.Fatal("rewrite changed a present block")
	}
	// Bad arguments.
	if err := o.WriteBlock(4, data[:10]); err == nil {
		t.Fatal("WriteBlock out of range")
	}
	if err := o.WriteBlock(0, data[:10]); err == nil {
		t.Fatal("WriteBlock with a short buffer")
	}
	if err := o.WriteBlock(3, data[3*bs:]); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Used != size || st.Blocks != 4 || st.Objects != 1 || st.WriteErrors != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if vv, ok := c.Cached("bkt", "a/b.bin"); !ok || vv.ID() != v.ID() {
		t.Fatalf("Cached = %+v, %v", vv, ok)
	}
	if _, ok := c.Cached("bkt", "other"); ok {
		t.Fatal("Cached of an unknown key")
	}
}

func TestEmptyObject(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	o := object(t, c, version("empty", 0))
	if n, err := o.ReadAt(make([]byte, 4), 0); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if crc, ok := o.CRC64(); !ok || crc != 0 {
		t.Fatalf("CRC64 = %x, %v", crc, ok)
	}
	if err := o.WriteBlock(0, nil); err == nil {
		t.Fatal("WriteBlock on an empty object")
	}
	if o.Has(0) || len(o.Missing(0, 5)) != 0 {
		t.Fatal("empty object has blocks")
	}
	if _, err := c.Object(checkpoint.Version{Key: "x", Size: 10}); err == nil {
		t.Fatal("Object with a zero block size")
	}
}

// files returns the .data and .ckpt paths of v under dir.
func files(dir string, v checkpoint.Version) (data, ckpt string) {
	id := v.ID()
	p := filepath.Join(dir, "objects", id[:2], id)
	return p + ".data", p + ".ckpt"
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	size := int64(5*bs + 7)
	data := content(2, size)
	v := version("r", size)
	o := object(t, c, v)
	for _, b := range []int{0, 1, 2, 5} {
		writeBlock(t, o, data, b)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrNotCached) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
	if err := o.WriteBlock(3, data[3*bs:4*bs]); err == nil {
		t.Fatal("WriteBlock after Close")
	}

	c = open(t, dir, 0)
	// Versions read back from disk compare by ID (LastModified is UTC).
	vv, ok := c.Cached("bkt", "r")
	if !ok || vv.ID() != v.ID() {
		t.Fatalf("Cached after reopen = %+v, %v", vv, ok)
	}
	o = object(t, c, v)
	if fmt.Sprint(o.Missing(0, 5)) != "[3 4]" {
		t.Fatalf("Missing after reopen = %v", o.Missing(0, 5))
	}
	if st := c.Stats(); st.Blocks != 4 || st.Used != 3*bs+7 {
		t.Fatalf("Stats after reopen = %+v", st)
	}
	verified := func(b int) bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.state[b]&flVerified != 0
	}
	if verified(1) {
		t.Fatal("a block loaded from disk is verified before any read")
	}
	if got := mustRead(t, o, bs+10, 20); !bytes.Equal(got, data[bs+10:bs+30]) {
		t.Fatal("bad data after reopen")
	}
	if !verified(1) || verified(0) {
		t.Fatal("first read did not verify exactly the block it touched")
	}
	if got := mustRead(t, o, 0, 3*bs); !bytes.Equal(got, data[:3*bs]) {
		t.Fatal("bad data after reopen")
	}
	if got := mustRead(t, o, 5*bs, 7); !bytes.Equal(got, data[5*bs:]) {
		t.Fatal("bad last block after reopen")
	}
	// New writes after reopen go to the same files.
	writeBlock(t, o, data, 3)
	writeBlock(t, o, data, 4)
	c.Close()
	c = open(t, dir, 0)
	o = object(t, c, v)
	if got := mustRead(t, o, 0, size); !bytes.Equal(got, data) {
		t.Fatal("bad data after second reopen")
	}
	if crc, ok := o.CRC64(); !ok || crc != crc64.Checksum(data, ecmaTable) {
		t.Fatal("CRC64 after reopen")
	}
	if st := c.Stats(); st.CRCFailures != 0 {
		t.Fatalf("CRCFailures = %d", st.CRCFailures)
	}
}

func TestCorruptBlock(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	size := int64(4 * bs)
	data := content(3, size)
	v := version("c", size)
	writeAll(t, object(t, c, v), data)
	c.Close()

	dataFile, ckptFile := files(dir, v)
	f, err := os.OpenFile(dataFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{data[bs+100] ^ 0xff}, bs+100)
	f.Close()

	c = open(t, dir, 0)
	o := object(t, c, v)
	if got := mustRead(t, o, 0, bs); !bytes.Equal(got, data[:bs]) {
		t.Fatal("block 0")
	}
	if _, err := o.ReadAt(make([]byte, 10), bs+500); !errors.Is(err, ErrNotCached) {
		t.Fatalf("corrupt block: %v, want ErrNotCached", err)
	}
	if o.Has(1) {
		t.Fatal("corrupt block still present")
	}
	if st := c.Stats(); st.CRCFailures != 1 || st.Blocks != 3 {
		t.Fatalf("Stats = %+v", st)
	}
	// A range over it misses too; refetching repairs it.
	if _, err := o.ReadAt(make([]byte, 3*bs), 0); !errors.Is(err, ErrNotCached) {
		t.Fatalf("range over the dropped block: %v", err)
	}
	writeBlock(t, o, data, 1)
	if got := mustRead(t, o, 0, size); !bytes.Equal(got, data) {
		t.Fatal("after refetch")
	}
	if st := c.Stats(); st.CRCFailures != 1 {
		t.Fatalf("CRCFailures = %d", st.CRCFailures)
	}
	c.Close()
	// The drop was recorded: a checkpoint with all four blocks again.
	l, blocks, err := checkpoint.Load(ckptFile, v)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if len(blocks) != 4 {
		t.Fatalf("checkpoint lists %v", blocks)
	}
}

func TestCorruptBlockDropIsDurable(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	v := version("d", 2*bs)
	data := content(4, 2*bs)
	writeAll(t, object(t, c, v), data)
	c.Close()
	dataFile, ckptFile := files(dir, v)
	os.Truncate(dataFile, bs+10) // block 1 cut short
	c = open(t, dir, 0)
	o := object(t, c, v)
	if _, err := o.ReadAt(make([]byte, 10), bs); !errors.Is(err, ErrNotCached) {
		t.Fatalf("truncated block: %v", err)
	}
	if got := mustRead(t, o, 0, bs); !bytes.Equal(got, data[:bs]) {
		t.Fatal("block 0")
	}
	c.Close()
	l, blocks, err := checkpoint.Load(ckptFile, v)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, ok := blocks[1]; ok || len(blocks) != 1 {
		t.Fatalf("checkpoint lists %v", blocks)
	}
}

func TestScanDiscards(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	good, bad, foreign, nodata := version("good", bs), version("bad", bs), version("foreign", bs), version("nodata", bs)
	for _, v := range []checkpoint.Version{good, bad, foreign, nodata} {
		writeAll(t, object(t, c, v), content(5, bs))
	}
	c.Close()

	// A damaged header.
	badData, badCkpt := files(dir, bad)
	b, _ := os.ReadFile(badCkpt)
	b[12] ^= 0x55
	os.WriteFile(badCkpt, b, 0o600)
	// A valid checkpoint under another version's name.
	foreignData, foreignCkpt := files(dir, foreign)
	_, goodCkpt := files(dir, good)
	g, _ := os.ReadFile(goodCkpt)
	os.WriteFile(foreignCkpt, g, 0o600)
	// A checkpoint without its data file.
	nodataData, nodataCkpt := files(dir, nodata)
	os.Remove(nodataData)
	// An orphan data file and left-over temporary files.
	orphan := filepath.Join(dir, "objects", "00", strings.Repeat("0", 32)+".data")
	os.MkdirAll(filepath.Dir(orphan), 0o700)
	os.WriteFile(orphan, []byte("x"), 0o600)
	tmp := goodCkpt + ".tmp12345"
	os.WriteFile(tmp, []byte("partial"), 0o600)

	var logs bytes.Buffer
	c, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{badData, badCkpt, foreignData, foreignCkpt, nodataCkpt, orphan, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s not deleted (%v)", p, err)
		}
	}
	if strings.Count(logs.String(), "damaged checkpoint") != 2 {
		t.Errorf("log:\n%s", logs.String())
	}
	if st := c.Stats(); st.Objects != 1 || st.Blocks != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	if _, ok := c.Cached("bkt", "bad"); ok {
		t.Fatal("a damaged checkpoint's version is cached")
	}
	o := object(t, c, good)
	if got := mustRead(t, o, 0, bs); !bytes.Equal(got, content(5, bs)) {
		t.Fatal("good object damaged")
	}
	// The discarded version starts empty and works.
	o = object(t, c, bad)
	if o.Has(0) {
		t.Fatal("discarded block present")
	}
	writeAll(t, o, content(6, bs))
	if got := mustRead(t, o, 0, bs); !bytes.Equal(got, content(6, bs)) {
		t.Fatal("rewritten object")
	}
}

func TestLRU(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 4*bs)
	va, vb := version("a", 3*bs), version("b", 3*bs)
	da, db := content(7, 3*bs), content(8, 3*bs)
	a, b := object(t, c, va), object(t, c, vb)
	check := func() {
		t.Helper()
		if st := c.Stats(); st.Used > st.Limit {
			t.Fatalf("Used %d > Limit %d", st.Used, st.Limit)
		}
	}
	writeBlock(t, a, da, 0)
	writeBlock(t, a, da, 1)
	writeBlock(t, b, db, 0)
	writeBlock(t, b, db, 1)
	check()
	mustRead(t, a, 0, 10) // a0 is now the most recently used
	writeBlock(t, b, db, 2)
	check()
	if a.Has(1) || !a.Has(0) || !b.Has(0) {
		t.Fatalf("after one eviction: a %v b %v", a.Missing(0, 2), b.Missing(0, 2))
	}
	mustRead(t, b, 0, 10)
	writeBlock(t, a, da, 2) // evicts b1 (b0 and a0 were read since)
	check()
	if b.Has(1) || !b.Has(0) || !a.Has(0) || !b.Has(2) {
		t.Fatalf("after two evictions: a %v b %v", a.Missing(0, 2), b.Missing(0, 2))
	}
	if st := c.Stats(); st.Evictions != 2 || st.Blocks != 4 {
		t.Fatalf("Stats = %+v", st)
	}
	// Evicted blocks are holes and tombstoned; survivors still read fine.
	dataA, ckptA := files(dir, va)
	var st syscall.Stat_t
	if err := syscall.Stat(dataA, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 2*bs+4096 {
		t.Errorf("data file of a holds %d bytes on disk for 2 cached blocks", st.Blocks*512)
	}
	if got := mustRead(t, a, 0, bs); !bytes.Equal(got, da[:bs]) {
		t.Fatal("a0")
	}
	if got := mustRead(t, a, 2*bs, bs); !bytes.Equal(got, da[2*bs:]) {
		t.Fatal("a2")
	}
	// Evicting every block of an object deletes its files.
	vc := version("c", 4*bs)
	dc := content(9, 4*bs)
	writeAll(t, object(t, c, vc), dc)
	check()
	for _, p := range []string{dataA, ckptA} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s of a fully evicted object still exists", p)
		}
	}
	if _, ok := c.Cached("bkt", "a"); ok {
		t.Error("fully evicted object is still Cached")
	}
	c.Close()
	// Tombstones survive a reopen.
	c = open(t, dir, 4*bs)
	if st := c.Stats(); st.Blocks != 4 || st.Objects != 1 {
		t.Fatalf("after reopen Stats = %+v", st)
	}
}

func TestReopenEvictsDownToLimit(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	old, recent := version("old", 2*bs), version("recent", 2*bs)
	writeAll(t, object(t, c, old), content(1, 2*bs))
	c.Close()
	time.Sleep(20 * time.Millisecond) // distinct checkpoint mtimes
	c = open(t, dir, 0)
	writeAll(t, object(t, c, recent), content(2, 2*bs))
	c.Close()
	c = open(t, dir, 2*bs)
	if st := c.Stats(); st.Used != 2*bs || st.Evictions != 2 {
		t.Fatalf("Stats = %+v", st)
	}
	if _, ok := c.Cached("bkt", "old"); ok {
		t.Fatal("the older object survived")
	}
	if _, ok := c.Cached("bkt", "recent"); !ok {
		t.Fatal("the recent object was evicted")
	}
}

func TestPinnedNotEvicted(t *testing.T) {
	c := open(t, t.TempDir(), 2*bs)
	v := version("p", 4*bs)
	data := content(10, 4*bs)
	o := object(t, c, v)
	writeBlock(t, o, data, 0)
	writeBlock(t, o, data, 1)
	// Pin block 0 the way ReadAt does while it reads.
	o.mu.Lock()
	o.pins = map[int]int32{0: 1}
	o.mu.Unlock()
	writeBlock(t, o, data, 2)
	if !o.Has(0) || o.Has(1) {
		t.Fatalf("pinned block evicted: missing %v", o.Missing(0, 3))
	}
	// With everything else pinned or in flight the write still goes in and
	// the overshoot is made up once the pin is gone.
	o.mu.Lock()
	o.pins[2] = 1
	o.mu.Unlock()
	writeBlock(t, o, data, 3)
	if !o.Has(0) || !o.Has(2) {
		t.Fatal("pinned blocks evicted")
	}
	o.mu.Lock()
	o.pins = nil
	o.mu.Unlock()
	writeBlock(t, o, data, 1)
	if st := c.Stats(); st.Used > 2*bs {
		t.Fatalf("Used %d after the pins went", st.Used)
	}
}

func TestReadPinsAgainstEviction(t *testing.T) {
	// Real concurrent reads of one block while other writes keep evicting.
	c := open(t, t.TempDir(), 3*bs)
	v := version("hot", 64*bs)
	data := content(11, 64*bs)
	o := object(t, c, v)
	writeBlock(t, o, data, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p := make([]byte, bs)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n, err := o.ReadAt(p, 0); err == nil {
					if n != bs || !bytes.Equal(p, data[:bs]) {
						t.Error("read bad data from a block being evicted")
						return
					}
				} else if !errors.Is(err, ErrNotCached) {
					t.Error(err)
					return
				} else {
					o.WriteBlock(0, data[:bs])
				}
			}
		})
	}
	for b := 1; b < 64; b++ {
		writeBlock(t, o, data, b)
	}
	close(stop)
	wg.Wait()
	if st := c.Stats(); st.Used > 3*bs || st.CRCFailures != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 20*bs)
	const nObj, nBlocks = 4, 16
	var objs []*Object
	var datas [][]byte
	for i := range nObj {
		size := int64(nBlocks*bs - 100*i)
		objs = append(objs, object(t, c, version(fmt.Sprintf("k%d", i), size)))
		datas = append(datas, content(uint64(20+i), size))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 400 {
				i := r.IntN(nObj)
				o, data := objs[i], datas[i]
				size := int64(len(data))
				switch r.IntN(3) {
				case 0:
					b := r.IntN(nBlocks)
					off, n := o.Version().BlockRange(b)
					if err := o.WriteBlock(b, data[off:off+n]); err != nil {
						t.Error(err)
						return
					}
				default:
					off := r.Int64N(size)
					n := min(r.Int64N(3*bs)+1, size-off)
					p := make([]byte, n)
					k, err := o.ReadAt(p, off)
					if errors.Is(err, ErrNotCached) {
						continue
					}
					if err != nil || int64(k) != n || !bytes.Equal(p, data[off:off+n]) {
						t.Errorf("ReadAt(%d,%d) = %d, %v (data equal %v)", off, n, k, err, bytes.Equal(p, data[off:off+n]))
						return
					}
				}
				if st := c.Stats(); st.Used > 20*bs+8*bs {
					t.Errorf("Used %d beyond the limit plus the blocks in flight", st.Used)
					return
				}
				o.Has(r.IntN(nBlocks))
				o.CRC64()
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			for _, o := range objs {
				o.sync()
			}
			c.closeIdle(time.Time{})
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	if st := c.Stats(); st.Used > 20*bs || st.CRCFailures != 0 || st.WriteErrors != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	c.Close()
	// Everything listed is intact after a reopen.
	c = open(t, dir, 20*bs)
	for i, o := range objs {
		o = object(t, c, o.Version())
		for b := range nBlocks {
			if !o.Has(b) {
				continue
			}
			off, n := o.Version().BlockRange(b)
			if got := mustRead(t, o, off, n); !bytes.Equal(got, datas[i][off:off+n]) {
				t.Fatalf("object %d block %d", i, b)
			}
		}
	}
	if st := c.Stats(); st.CRCFailures != 0 {
		t.Fatalf("CRCFailures = %d", st.CRCFailures)
	}
}

func TestDropOthersDropKey(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	v1 := version("k", bs)
	v2 := v1
	v2.ETag, v2.LastModified = `"v2"`, v1.LastModified.Add(time.Hour)
	v3 := v1
	v3.ETag = `"v3"` // same LastModified as v1
	other := version("other", bs)
	for _, v := range []checkpoint.Version{v1, v3, v2, other} {
		writeAll(t, object(t, c, v), content(30, bs))
	}
	if got, ok := c.Cached("bkt", "k"); !ok || got.ID() != v2.ID() {
		t.Fatalf("Cached = %v, want v2", got.ETag)
	}
	c.DropOthers(v2)
	if got, ok := c.Cached("bkt", "k"); !ok || got.ID() != v2.ID() {
		t.Fatalf("after DropOthers Cached = %v", got.ETag)
	}
	for _, v := range []checkpoint.Version{v1, v3} {
		d, k := files(dir, v)
		for _, p := range []string{d, k} {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s survived DropOthers", p)
			}
		}
		if object(t, c, v).Has(0) {
			t.Error("dropped version has blocks")
		}
	}
	// Ties on LastModified go to the most recently used.
	o1, o3 := object(t, c, v1), object(t, c, v3)
	writeAll(t, o1, content(30, bs))
	writeAll(t, o3, content(30, bs))
	c.DropKey("bkt", "k")
	writeAll(t, o1, content(30, bs))
	writeAll(t, o3, content(30, bs))
	mustRead(t, o1, 0, 1)
	if got, _ := c.Cached("bkt", "k"); got.ID() != v1.ID() {
		t.Fatalf("Cached = %v, want the most recently used v1", got.ETag)
	}
	mustRead(t, o3, 0, 1)
	if got, _ := c.Cached("bkt", "k"); got.ID() != v3.ID() {
		t.Fatalf("Cached = %v, want the most recently used v3", got.ETag)
	}
	c.DropKey("bkt", "k")
	if _, ok := c.Cached("bkt", "k"); ok {
		t.Fatal("Cached after DropKey")
	}
	if st := c.Stats(); st.Objects != 1 || st.Blocks != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	if _, ok := c.Cached("bkt", "other"); !ok {
		t.Fatal("DropKey dropped another key")
	}
	c.Close()
	c = open(t, dir, 0)
	if st := c.Stats(); st.Objects != 1 {
		t.Fatalf("after reopen Stats = %+v", st)
	}
}

func TestDropWhileReading(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	v := version("dr", 8*bs)
	data := content(31, 8*bs)
	o := object(t, c, v)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p := make([]byte, 2*bs)
			for range 300 {
				off := int64(rand.IntN(6)) * bs
				if n, err := o.ReadAt(p, off); err == nil {
					if n != len(p) || !bytes.Equal(p, data[off:off+int64(n)]) {
						t.Error("bad data")
						return
					}
				} else if !errors.Is(err, ErrNotCached) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			for b := range 8 {
				off, n := v.BlockRange(b)
				if err := o.WriteBlock(b, data[off:off+n]); err != nil {
					t.Error(err)
				}
			}
			if i%3 == 0 {
				o.Drop()
			}
		}
	})
	wg.Wait()
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "cache")
	c := open(t, dir, 0)
	v := version("perm", bs)
	writeAll(t, object(t, c, v), content(1, bs))
	d, k := files(dir, v)
	for p, want := range map[string]fs.FileMode{
		dir: 0o700, filepath.Join(dir, "objects"): 0o700, filepath.Dir(d): 0o700,
		d: 0o600, k: 0o600, filepath.Join(dir, "lock"): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	for _, p := range []string{d, k} {
		if strings.Contains(p, "perm") {
			t.Errorf("file name %s contains the key", p)
		}
	}
	c.Close()

	os.Chmod(dir, 0o770)
	if _, err := Open(Options{Dir: dir, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "writable by group") {
		t.Fatalf("group-writable dir: %v", err)
	}
	os.Chmod(dir, 0o702)
	if _, err := Open(Options{Dir: dir, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("world-writable dir: %v", err)
	}
	os.Chmod(dir, 0o700)
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(dir, link)
	if _, err := Open(Options{Dir: link, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlink: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(Options{Dir: file, Logger: quietLogger()}); err == nil {
		t.Fatal("Open of a regular file")
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	if _, err := Open(Options{Dir: dir, LockWait: 100 * time.Millisecond, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v", err)
	}
	c.Close()
	c2 := open(t, dir, 0)
	c2.Close()
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	c, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	va := version("a", 2*bs)
	da := content(40, 2*bs)
	a := object(t, c, va)
	writeBlock(t, a, da, 0)

	// The objects directory disappears (replaced by a file): new objects
	// cannot create their files.
	objDir := filepath.Join(dir, "objects")
	if err := os.Rename(objDir, objDir+".away"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(objDir, []byte("not a dir"), 0o600)
	for i := range 3 {
		b := object(t, c, version(fmt.Sprintf("new%d", i), bs))
		if err := b.WriteBlock(0, content(41, bs)); err == nil {
			t.Fatal("WriteBlock succeeded without a cache directory")
		}
		if b.Has(0) {
			t.Fatal("failed block is present")
		}
	}
	if st := c.Stats(); st.WriteErrors != 3 || st.Used != bs {
		t.Fatalf("Stats = %+v", st)
	}
	if n := strings.Count(logs.String(), "cache write failed"); n != 1 {
		t.Fatalf("write failure logged %d times:\n%s", n, logs.String())
	}
	// The object whose files are open keeps working.
	if got := mustRead(t, a, 0, bs); !bytes.Equal(got, da[:bs]) {
		t.Fatal("a0")
	}
	writeBlock(t, a, da, 1)

	os.Remove(objDir)
	os.Rename(objDir+".away", objDir)
	b := object(t, c, version("new0", bs))
	writeAll(t, b, content(41, bs))
	if got := mustRead(t, b, 0, bs); !bytes.Equal(got, content(41, bs)) {
		t.Fatal("after recovery")
	}
}

func TestDataFileRemoved(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	v := version("gone", 2*bs)
	data := content(42, 2*bs)
	o := object(t, c, v)
	writeAll(t, o, data)
	c.closeIdleAll()
	d, _ := files(dir, v)
	os.Remove(d)
	if _, err := o.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrNotCached) {
		t.Fatalf("ReadAt with the data file gone: %v", err)
	}
	if o.Has(0) || o.Has(1) {
		t.Fatal("blocks present without a data file")
	}
	writeAll(t, o, data)
	if got := mustRead(t, o, 0, 2*bs); !bytes.Equal(got, data) {
		t.Fatal("after rewrite")
	}
}

// closeIdleAll closes every object's files, as the fd budget does.
func (c *Cache) closeIdleAll() {
	c.mu.Lock()
	n := c.maxOpen
	c.maxOpen = 0
	c.mu.Unlock()
	c.closeIdle(time.Time{})
	c.mu.Lock()
	c.maxOpen = n
	c.mu.Unlock()
}

func TestFdBudget(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 6*bs)
	c.mu.Lock()
	c.maxOpen = 2
	c.mu.Unlock()
	var objs []*Object
	for i := range 6 {
		o := object(t, c, version(fmt.Sprintf("f%d", i), bs))
		writeAll(t, o, content(uint64(50+i), bs))
		objs = append(objs, o)
	}
	c.closeIdle(time.Time{})
	c.mu.Lock()
	n := c.open.Len()
	c.mu.Unlock()
	if n > 2 {
		t.Fatalf("%d objects keep files open", n)
	}
	// Closed objects reopen for reads, and for eviction.
	for i, o := range objs {
		if got := mustRead(t, o, 0, bs); !bytes.Equal(got, content(uint64(50+i), bs)) {
			t.Fatalf("object %d", i)
		}
	}
	c.closeIdleAll()
	for i := range 6 {
		writeAll(t, object(t, c, version(fmt.Sprintf("g%d", i), bs)), content(1, bs))
	}
	for i, o := range objs {
		if o.Has(0) {
			t.Fatalf("object %d not evicted", i)
		}
		d, k := files(dir, o.Version())
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("files of evicted object %d remain (%s)", i, k)
		}
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 2*bs)
	v := version("cmp", 200*bs)
	data := content(60, 200*bs)
	o := object(t, c, v)
	for b := range 200 {
		writeBlock(t, o, data, b)
	}
	_, ckpt := files(dir, v)
	if err := o.sync(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(ckpt)
	if fi.Size() > 2048 {
		t.Fatalf("checkpoint of 2 live blocks is %d bytes after a sync", fi.Size())
	}
	l, blocks, err := checkpoint.Load(ckpt, v)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if len(blocks) != 2 || blocks[198] == 0 || blocks[199] == 0 {
		t.Fatalf("checkpoint lists %v", blocks)
	}
	// Close compacts whatever garbage is left.
	o.Drop()
	for b := range 5 {
		writeBlock(t, o, data, b)
	}
	c.Close()
	l, blocks, err = checkpoint.Load(ckpt, v)
	if err != nil {
		t.Fatal(err)
	}
	if l.Records() != 2 || len(blocks) != 2 {
		t.Fatalf("after Close: %d records, blocks %v", l.Records(), blocks)
	}
	l.Close()
}

func TestMinFree(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	c, err := Open(Options{Dir: dir, MinFree: free + 1<<40, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := object(t, c, version("mf", bs))
	err = o.WriteBlock(0, content(1, bs))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteBlock below min_free: %v", err)
	}
	if o.Has(0) || c.Stats().WriteErrors != 1 {
		t.Fatal("block cached below min_free")
	}
	// Free space short under an existing cache evicts it.
	c2dir := t.TempDir()
	c2 := open(t, c2dir, 0)
	writeAll(t, object(t, c2, version("x", 2*bs)), content(2, 2*bs))
	c2.Close()
	c2, err = Open(Options{Dir: c2dir, MinFree: free + 1<<40, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if st := c2.Stats(); st.Blocks != 0 || st.Evictions != 2 {
		t.Fatalf("Stats = %+v", st)
	}
	c2.maintain() // nothing left to evict: no harm
}

func TestCRC64Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 30 {
		a, b := content(r.Uint64(), r.Int64N(5000)), content(r.Uint64(), r.Int64N(5000))
		want := crc64.Checksum(append(append([]byte(nil), a...), b...), ecmaTable)
		if got := crc64Combine(crc64.Checksum(a, ecmaTable), crc64.Checksum(b, ecmaTable), int64(len(b))); got != want {
			t.Fatalf("combine(%d, %d) = %x, want %x", len(a), len(b), got, want)
		}
	}
	for _, tc := range []struct{ size, block int64 }{{1, 1}, {1000, 7}, {4096, 4096}, {10000, 4096}, {3 << 20, 1 << 20}, {5, 1 << 20}} {
		data := content(uint64(tc.size), tc.size)
		var crcs []uint64
		for off := int64(0); off < tc.size; off += tc.block {
			crcs = append(crcs, crc64.Checksum(data[off:min(off+tc.block, tc.size)], ecmaTable))
		}
		last := tc.size - (int64(len(crcs))-1)*tc.block
		if got, want := combineBlocks(crcs, tc.block, last), crc64.Checksum(data, ecmaTable); got != want {
			t.Errorf("size %d block %d: %x, want %x", tc.size, tc.block, got, want)
		}
	}
	// Through the cache.
	c := open(t, t.TempDir(), 0)
	size := int64(7*bs + 3)
	data := content(70, size)
	o := object(t, c, version("crc", size))
	writeAll(t, o, data)
	if got, ok := o.CRC64(); !ok || got != crc64.Checksum(data, ecmaTable) {
		t.Fatalf("Object.CRC64 = %x, %v", got, ok)
	}
}

func TestObjectsAreCollected(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	for i := range 100 {
		object(t, c, version(fmt.Sprintf("gc%d", i), bs))
	}
	keep := object(t, c, version("keep", bs))
	writeAll(t, keep, content(1, bs))
	for range 10 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
		c.mu.Lock()
		n := len(c.objects)
		c.mu.Unlock()
		if n == 1 {
			break
		}
	}
	c.mu.Lock()
	n := len(c.objects)
	c.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d objects still mapped; want only the one with blocks", n)
	}
	if object(t, c, version("keep", bs)) != keep {
		t.Fatal("object with blocks was replaced")
	}
}

// TestKill9 writes blocks in a child process, kills it with SIGKILL at once
// (no Close, no sync), and checks that a new Cache serves every block the
// child had written.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("BLOCKCACHE_KILL9_DIR"); dir != "" {
		c, err := Open(Options{Dir: dir, Logger: quietLogger()})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		o, _ := c.Object(version("k9", 64*bs))
		data := content(99, 64*bs)
		for b := range 40 {
			off, n := o.Version().BlockRange(b)
			if err := o.WriteBlock(b, data[off:off+n]); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
		fmt.Println("ready")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "BLOCKCACHE_KILL9_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if line != "ready\n" {
		t.Fatalf("child: %q", line)
	}
	c := open(t, dir, 0)
	o := object(t, c, version("k9", 64*bs))
	if got := o.Missing(0, 63); len(got) != 24 || got[0] != 40 {
		t.Fatalf("missing after kill -9: %v", got)
	}
	data := content(99, 64*bs)
	if got := mustRead(t, o, 0, 40*bs); !bytes.Equal(got, data[:40*bs]) {
		t.Fatal("bad data after kill -9")
	}
	if st := c.Stats(); st.CRCFailures != 0 {
		t.Fatalf("CRCFailures = %d", st.CRCFailures)
	}
}

// Concurrent first readers of a block share one CRC check: each gets the
// right bytes (or, for a damaged block, ErrNotCached), and a damaged
// block is counted and dropped once.
func TestConcurrentFirstReadsShareTheCheck(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	size := int64(4 * bs)
	data := content(9, size)
	v := version("cc", size)
	writeAll(t, object(t, c, v), data)
	c.Close()
	dataFile, _ := files(dir, v)
	f, err := os.OpenFile(dataFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{data[2*bs+7] ^ 0xff}, 2*bs+7) // block 2 is damaged
	f.Close()

	c = open(t, dir, 0)
	o := object(t, c, v)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := int64(i % 4)
			off := b*bs + int64(i)*16
			buf := make([]byte, 4096)
			_, err := o.ReadAt(buf, off)
			switch {
			case b == 2 && !errors.Is(err, ErrNotCached):
				errs <- fmt.Errorf("damaged block read: %v", err)
			case b != 2 && err != nil:
				errs <- err
			case b != 2 && !bytes.Equal(buf, data[off:off+4096]):
				errs <- fmt.Errorf("block %d: wrong bytes", b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := c.Stats(); st.CRCFailures != 1 || st.Blocks != 3 {
		t.Errorf("Stats = %+v, want one CRC failure and 3 blocks left", st)
	}
}

// openFDs counts this process's descriptors open on files under dir (not
// the runtime's own, such as its poller's, which come and go).
func openFDs(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// Cache files hold at most the fd budget (beyond a few just opened, which
// the maintenance loop closes), reads of closed versions reopen them and
// return the right bytes, an idle cache closes all of them, and files in
// use or lent to the kernel as backing files are never closed.
func TestOpenFilesStayWithinTheBudget(t *testing.T) {
	dir := t.TempDir()
	const budget = 8 // descriptors: 4 versions
	c, err := Open(Options{Dir: dir, MaxOpenFiles: budget, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := openFDs(t, dir)
	waitWithin := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for openFDs(t, dir)-base > budget {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d descriptors open beyond the %d before, budget %d", what, openFDs(t, dir)-base, base, budget)
			}
			time.Sleep(time.Millisecond)
		}
	}
	const versions = 200
	var objs []*Object
	for i := range versions {
		o := object(t, c, version(fmt.Sprintf("v%03d", i), 2*bs))
		writeAll(t, o, content(uint64(1000+i), 2*bs))
		objs = append(objs, o)
		// Read back an older version: its files reopen.
		j := i / 2
		if got := mustRead(t, objs[j], 0, 2*bs); !bytes.Equal(got, content(uint64(1000+j), 2*bs)) {
			t.Fatalf("version %d read back wrong", j)
		}
		waitWithin(fmt.Sprintf("after version %d", i))
	}
	for i, o := range objs {
		if got := mustRead(t, o, bs, bs); !bytes.Equal(got, content(uint64(1000+i), 2*bs)[bs:]) {
			t.Fatalf("version %d", i)
		}
	}
	waitWithin("after reading every version")

	// A version read by the kernel directly keeps its backing file, and a
	// version whose files a read holds keeps them.
	backed, busy := objs[0], objs[1]
	mustRead(t, backed, 0, 2*bs) // checked in this process: backable
	b, err := backed.OpenBacking()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rel, err := busy.acquire(false, false)
	if err != nil {
		t.Fatal(err)
	}
	old := idleClose
	idleClose = 0
	defer func() { idleClose = old }()
	closed := make(chan struct{})
	go func() { c.maintain(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("closing idle files waits for a file in use")
	}
	if busy.data == nil {
		t.Fatal("the files of a version in use were closed")
	}
	rel()
	if n, _ := c.OpenFiles(); n != 1 {
		t.Fatalf("%d versions keep files open when idle, want only the one in use", n)
	}
	c.maintain()
	if n, _ := c.OpenFiles(); n != 0 {
		t.Fatalf("%d versions keep files open when idle", n)
	}
	if got := openFDs(t, dir) - base; got != 1 {
		t.Fatalf("%d descriptors open when idle beyond the backing file", got)
	}
	p := make([]byte, 2*bs)
	if _, err := syscall.Pread(b.Fd(), p, 0); err != nil || !bytes.Equal(p, content(1000, 2*bs)) {
		t.Fatalf("the backing file after the idle close: %v", err)
	}
}

// Blocks written ahead of their reader are not evicted until read to their
// end (or Served), within half the capacity, and for aheadHold at most.
func TestBlocksReadAheadAreKeptUntilRead(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 8*bs) // holds back at most 4 blocks
	va := version("ahead", 5*bs)
	da := content(90, 5*bs)
	a := object(t, c, va)
	for b := range 4 {
		off, n := va.BlockRange(b)
		if err := a.WriteBlockAhead(b, da[off:off+n]); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.AheadBytes != 4*bs || c.AheadRoom() != 0 {
		t.Fatalf("held %d bytes, room %d; want 4 blocks held and no room", st.AheadBytes, c.AheadRoom())
	}
	// Over the cap: an ordinary block.
	writeBlockAhead(t, a, da, 4)
	if st := c.Stats(); st.AheadBytes != 4*bs {
		t.Fatalf("held %d bytes beyond half the capacity", st.AheadBytes)
	}
	fill := func(seed uint64) {
		t.Helper()
		writeAll(t, object(t, c, version(fmt.Sprintf("other%d", seed), 12*bs)), content(seed, 12*bs))
	}
	fill(91)
	for b := range 4 {
		if !a.Has(b) {
			t.Fatalf("block %d, read ahead and not read yet, was evicted", b)
		}
	}
	if a.Has(4) {
		t.Fatal("block 4, written beyond the cap, was held back")
	}
	// Block 0 read whole, block 1 only in part, block 2 served from its
	// fetch: 0 and 2 go, 1 and 3 stay.
	mustRead(t, a, 0, bs)
	mustRead(t, a, bs, bs/2)
	a.Served(2, 2)
	fill(92)
	if a.Has(0) || a.Has(2) || !a.Has(1) || !a.Has(3) {
		t.Fatalf("after reads: present %v %v %v %v, want false true false true", a.Has(0), a.Has(1), a.Has(2), a.Has(3))
	}
	// A reader that went away long ago holds nothing back.
	old := aheadHold
	aheadHold = 0
	defer func() { aheadHold = old }()
	fill(93)
	if a.Has(1) || a.Has(3) {
		t.Fatal("blocks held back past aheadHold")
	}
	if st := c.Stats(); st.AheadBytes != 0 || st.Used > 8*bs {
		t.Fatalf("Stats = %+v", st)
	}
}

func writeBlockAhead(t *testing.T, o *Object, data []byte, b int) {
	t.Helper()
	off, n := o.Version().BlockRange(b)
	if err := o.WriteBlockAhead(b, data[off:off+n]); err != nil {
		t.Fatal(err)
	}
}
