package checkpoint

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testVersion() Version {
	return Version{
		Bucket: "bkt", Key: "dir/file.bin", ETag: `"0123456789abcdef"`,
		Size: 10*1024 + 17, LastModified: time.Unix(1700000000, 0), BlockSize: 1024,
	}
}

func tempPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "x.ckpt")
}

func mustCreate(t *testing.T, path string, v Version) *Log {
	t.Helper()
	l, err := Create(path, v)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustLoad(t *testing.T, path string, v Version) (*Log, map[int]uint64) {
	t.Helper()
	l, m, err := Load(path, v)
	if err != nil {
		t.Fatal(err)
	}
	return l, m
}

func TestVersion(t *testing.T) {
	v := testVersion()
	if n := v.NumBlocks(); n != 11 {
		t.Fatalf("NumBlocks = %d", n)
	}
	if off, n := v.BlockRange(10); off != 10240 || n != 17 {
		t.Fatalf("BlockRange(10) = %d, %d", off, n)
	}
	if off, n := v.BlockRange(3); off != 3072 || n != 1024 {
		t.Fatalf("BlockRange(3) = %d, %d", off, n)
	}
	if _, n := v.BlockRange(11); n != 0 {
		t.Fatalf("BlockRange(11) n = %d", n)
	}
	if (Version{BlockSize: 4}).NumBlocks() != 0 {
		t.Fatal("empty object has blocks")
	}
	if (Version{Size: 8, BlockSize: 4}).NumBlocks() != 2 {
		t.Fatal("exact multiple")
	}
	id := v.ID()
	if len(id) != 32 || strings.Contains(id, "file") {
		t.Fatalf("ID %q", id)
	}
	w := v
	w.LastModified = v.LastModified.Add(300 * time.Millisecond).In(time.FixedZone("X", 3600))
	if w.ID() != id {
		t.Fatal("sub-second part or zone changed the ID")
	}
	// Every field, and the boundaries between strings, count.
	for i, w := range []Version{
		{Bucket: "bkt", Key: "dir/file.bi", ETag: `n"0123456789abcdef"`, Size: v.Size, LastModified: v.LastModified, BlockSize: v.BlockSize},
		func() Version { w := v; w.Bucket = "bk"; return w }(),
		func() Version { w := v; w.ETag = `"x"`; return w }(),
		func() Version { w := v; w.Size++; return w }(),
		func() Version { w := v; w.LastModified = w.LastModified.Add(time.Second); return w }(),
		func() Version { w := v; w.BlockSize *= 2; return w }(),
	} {
		if w.ID() == id {
			t.Errorf("variant %d has the same ID", i)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	p := tempPath(t)
	v := testVersion()
	l := mustCreate(t, p, v)
	want := map[int]uint64{}
	for b := range 11 {
		crc := uint64(b)*0x9E3779B97F4A7C15 + 1
		if err := l.Add(b, crc); err != nil {
			t.Fatal(err)
		}
		want[b] = crc
	}
	if err := l.Remove(4); err != nil {
		t.Fatal(err)
	}
	delete(want, 4)
	if err := l.Remove(7); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(7, 77); err != nil { // re-added after removal
		t.Fatal(err)
	}
	want[7] = 77
	if err := l.Add(11, 1); err == nil {
		t.Fatal("Add out of range succeeded")
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if l.Records() != 14 {
		t.Fatalf("Records = %d", l.Records())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(1, 1); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	got, err := ReadHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != v.ID() || got.Key != v.Key || got.ETag != v.ETag || !got.LastModified.Equal(v.LastModified) {
		t.Fatalf("ReadHeader = %+v", got)
	}
	l2, m := mustLoad(t, p, v)
	defer l2.Close()
	if !maps.Equal(m, want) {
		t.Fatalf("loaded %v, want %v", m, want)
	}
	// Appending after Load continues the same file.
	if err := l2.Remove(0); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	l3, m := mustLoad(t, p, v)
	l3.Close()
	delete(want, 0)
	if !maps.Equal(m, want) {
		t.Fatalf("after reopen %v, want %v", m, want)
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries", len(ents))
	}
}

func TestCreateReplaces(t *testing.T) {
	p := tempPath(t)
	v := testVersion()
	l := mustCreate(t, p, v)
	l.Add(1, 1)
	l.Close()
	l = mustCreate(t, p, v)
	l.Close()
	l, m := mustLoad(t, p, v)
	l.Close()
	if len(m) != 0 {
		t.Fatalf("fresh checkpoint lists %v", m)
	}
}

func TestCreateUnsynced(t *testing.T) {
	p := tempPath(t)
	v := testVersion()
	l := mustCreate(t, p, v)
	l.Add(3, 3)
	l.Close()
	l, err := CreateUnsynced(p, v)
	if err != nil {
		t.Fatal(err)
	}
	l.Add(1, 11)
	l.Close()
	l, m := mustLoad(t, p, v)
	l.Close()
	if !maps.Equal(m, map[int]uint64{1: 11}) {
		t.Fatalf("loaded %v", m)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
}

func TestEmptyObject(t *testing.T) {
	p := tempPath(t)
	v := testVersion()
	v.Size = 0
	l := mustCreate(t, p, v)
	if err := l.Add(0, 0); err == nil {
		t.Fatal("Add to an empty object")
	}
	l.Close()
	l, m := mustLoad(t, p, v)
	l.Close()
	if len(m) != 0 {
		t.Fatal(m)
	}
}

func TestInvalidVersion(t *testing.T) {
	p := tempPath(t)
	for _, v := range []Version{{Size: 1}, {Size: -1, BlockSize: 1}, {Size: 1 << 40, BlockSize: 1}} {
		if _, err := Create(p, v); err == nil {
			t.Errorf("Create(%+v) succeeded", v)
		}
	}
}

func writeRecords(t *testing.T, p string, v Version, n int) int64 {
	t.Helper()
	l := mustCreate(t, p, v)
	for b := range n {
		if err := l.Add(b, uint64(b)+100); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestTornTail(t *testing.T) {
	v := testVersion()
	for _, tc := range []struct {
		name string
		tail []byte
	}{
		{"partial", []byte{1, 2, 3, 4, 5}},
		{"zero record", make([]byte, recordSize)},
		{"zero records and partial", make([]byte, 3*recordSize+7)},
		{"garbage record", []byte("0123456789abcdef")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tempPath(t)
			size := writeRecords(t, p, v, 5)
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tc.tail)
			f.Close()
			l, m := mustLoad(t, p, v)
			if len(m) != 5 {
				t.Fatalf("loaded %v", m)
			}
			if fi, _ := os.Stat(p); fi.Size() != size {
				t.Fatalf("torn tail not truncated: %d, want %d", fi.Size(), size)
			}
			// The next append lands after the valid records.
			if err := l.Add(9, 9); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l, m = mustLoad(t, p, v)
			l.Close()
			if len(m) != 6 || m[9] != 9 {
				t.Fatalf("after append %v", m)
			}
		})
	}
}

func TestTruncatedLastRecord(t *testing.T) {
	// A record cut short by a crash mid-write is a partial tail.
	v := testVersion()
	p := tempPath(t)
	size := writeRecords(t, p, v, 3)
	os.Truncate(p, size-5)
	l, m := mustLoad(t, p, v)
	l.Close()
	if len(m) != 2 {
		t.Fatalf("loaded %v", m)
	}
}

func TestCorrupt(t *testing.T) {
	v := testVersion()
	p0 := tempPath(t)
	size := writeRecords(t, p0, v, 4)
	good, _ := os.ReadFile(p0)
	hdr := int(size) - 4*recordSize
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"format version", func(b []byte) []byte { b[8] = 2; return b }},
		{"header length", func(b []byte) []byte { b[12] ^= 0x55; return b }},
		{"header length huge", func(b []byte) []byte { b[15] = 0x7f; return b }},
		{"key byte", func(b []byte) []byte { b[fixedHeader+8] ^= 0x20; return b }},
		{"header crc", func(b []byte) []byte { b[hdr-1] ^= 0x80; return b }},
		{"truncated header", func(b []byte) []byte { return b[:hdr-2] }},
		{"tiny", func(b []byte) []byte { return b[:5] }},
		{"empty", func(b []byte) []byte { return b[:0] }},
		{"first record", func(b []byte) []byte { b[hdr+5] ^= 0x01; return b }},
		{"third record", func(b []byte) []byte { b[hdr+2*recordSize+13] ^= 0x10; return b }},
		{"zeroed middle record", func(b []byte) []byte {
			clear(b[hdr+recordSize : hdr+2*recordSize])
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tempPath(t)
			os.WriteFile(p, tc.mod(append([]byte(nil), good...)), 0o600)
			if _, _, err := Load(p, v); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load: %v, want ErrCorrupt", err)
			}
		})
	}
	// A flipped bit in the last record is indistinguishable from a torn
	// append: that record is dropped, the rest is kept.
	p := tempPath(t)
	b := append([]byte(nil), good...)
	b[len(b)-3] ^= 4
	os.WriteFile(p, b, 0o600)
	l, m := mustLoad(t, p, v)
	l.Close()
	if len(m) != 3 {
		t.Fatalf("loaded %v", m)
	}
	// ReadHeader rejects a bad header too.
	b = append([]byte(nil), good...)
	b[hdr-1] ^= 0x80
	os.WriteFile(p, b, 0o600)
	if _, err := ReadHeader(p); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadHeader: %v", err)
	}
	if _, err := ReadHeader(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadHeader of a missing file: %v", err)
	}
}

func TestBlockOutOfRange(t *testing.T) {
	v := testVersion()
	big := v
	big.Size *= 2
	big.ETag = `"other"`
	p := tempPath(t)
	l := mustCreate(t, p, big)
	l.Add(15, 1) // valid for big, out of range for v
	l.Close()
	// Rewrite the header to v's while keeping the record: a valid record
	// naming a block v does not have.
	b, _ := os.ReadFile(p)
	rec := b[len(b)-recordSize:]
	os.WriteFile(p, append(encodeHeader(v), rec...), 0o600)
	if _, _, err := Load(p, v); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load: %v, want ErrCorrupt", err)
	}
}

func TestMismatch(t *testing.T) {
	v := testVersion()
	p := tempPath(t)
	writeRecords(t, p, v, 2)
	for _, w := range []Version{
		func() Version { w := v; w.ETag = `"new"`; return w }(),
		func() Version { w := v; w.Size++; return w }(),
		func() Version { w := v; w.BlockSize = 2048; return w }(),
		func() Version { w := v; w.Key = "other"; return w }(),
	} {
		if _, _, err := Load(p, w); !errors.Is(err, ErrMismatch) {
			t.Errorf("Load(%+v): %v, want ErrMismatch", w, err)
		}
	}
	// Same second, other representation: the same version.
	w := v
	w.LastModified = v.LastModified.Add(999 * time.Millisecond).UTC()
	l, _ := mustLoad(t, p, w)
	l.Close()
}

func TestCompact(t *testing.T) {
	v := testVersion()
	p := tempPath(t)
	l := mustCreate(t, p, v)
	for range 3 {
		for b := range 11 {
			l.Add(b, uint64(b))
			l.Remove(b)
		}
	}
	l.Add(2, 22)
	live := map[int]uint64{2: 22, 5: 55, 10: 1010}
	if err := l.Compact(live); err != nil {
		t.Fatal(err)
	}
	if l.Records() != 3 {
		t.Fatalf("Records after Compact = %d", l.Records())
	}
	if err := l.Compact(map[int]uint64{11: 1}); err == nil {
		t.Fatal("Compact with a block out of range succeeded")
	}
	// Appends go to the new file.
	if err := l.Add(3, 33); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(5); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	fi, _ := os.Stat(p)
	if want := int64(len(encodeHeader(v)) + 5*recordSize); fi.Size() != want {
		t.Fatalf("size %d, want %d", fi.Size(), want)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	l, m := mustLoad(t, p, v)
	want := map[int]uint64{2: 22, 3: 33, 10: 1010}
	if !maps.Equal(m, want) {
		t.Fatalf("after Compact and reopen %v, want %v", m, want)
	}
	// Compacting a reopened log works too.
	if err := l.Compact(m); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, m = mustLoad(t, p, v)
	l.Close()
	if !maps.Equal(m, want) {
		t.Fatalf("after second Compact %v", m)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries (temp files left?)", len(ents))
	}
}

func TestConcurrentAdd(t *testing.T) {
	v := testVersion()
	v.Size = 1000 * v.BlockSize
	p := tempPath(t)
	l := mustCreate(t, p, v)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for b := g; b < 1000; b += 8 {
				if err := l.Add(b, uint64(b)*3); err != nil {
					t.Error(err)
				}
				if b%50 == 0 {
					l.Sync()
				}
			}
		})
	}
	// Compaction and syncs racing with the appends.
	wg.Go(func() {
		for range 5 {
			if err := l.Compact(map[int]uint64{}); err != nil {
				t.Error(err)
			}
			if err := l.Sync(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	// Re-add everything after the last compaction so the result is known.
	for b := range 1000 {
		l.Add(b, uint64(b)*3)
	}
	l.Close()
	l, m := mustLoad(t, p, v)
	l.Close()
	if len(m) != 1000 {
		t.Fatalf("loaded %d blocks", len(m))
	}
	for b, crc := range m {
		if crc != uint64(b)*3 {
			t.Fatalf("block %d crc %d", b, crc)
		}
	}
}

func TestConcurrentAddRecordsAll(t *testing.T) {
	v := testVersion()
	v.Size = 4000 * v.BlockSize
	p := tempPath(t)
	l := mustCreate(t, p, v)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for b := g; b < 4000; b += 16 {
				if err := l.Add(b, uint64(b)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	l, m := mustLoad(t, p, v)
	l.Close()
	if len(m) != 4000 {
		t.Fatalf("loaded %d blocks, want 4000", len(m))
	}
}
