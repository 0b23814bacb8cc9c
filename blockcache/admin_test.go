package blockcache

import (
	"os"
	"testing"
)

func TestUsageVerifyClear(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	a, b := version("a", 3*bs+7), version("b", 2*bs)
	dataA, dataB := content(1, a.Size), content(2, b.Size)
	oa, ob := object(t, c, a), object(t, c, b)
	writeAll(t, oa, dataA)
	writeBlock(t, ob, dataB, 1)

	u := c.Usage()
	if len(u) != 2 || u[0].Key != "a" || u[0].CachedBytes != a.Size || u[0].Blocks != 4 ||
		u[1].Key != "b" || u[1].CachedBytes != bs || u[1].Size != b.Size || u[1].ID != b.ID() {
		t.Fatalf("Usage = %+v", u)
	}

	// A clean cache verifies clean, including blocks already read once.
	mustRead(t, oa, 0, bs)
	rep, err := c.Verify(nil)
	if err != nil || len(rep.Bad) != 0 || rep.Blocks != 5 || rep.Bytes != a.Size+bs || rep.Objects != 2 {
		t.Fatalf("Verify clean = %+v, %v", rep, err)
	}

	// Flip a byte of block 2 of a behind the cache's back, with the block
	// already verified in this process: Verify must still catch it.
	mustRead(t, oa, 2*bs, bs)
	dataFile, _ := files(dir, a)
	f, err := os.OpenFile(dataFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{dataA[2*bs+9] ^ 0x01}, 2*bs+9); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var progressed int64
	rep, err = c.Verify(func(n int64) { progressed = n })
	if err != nil || len(rep.Bad) != 1 || rep.Bad[0] != (BadBlock{Key: "a", ETag: a.ETag, Block: 2}) {
		t.Fatalf("Verify after corruption = %+v, %v", rep, err)
	}
	if progressed != a.Size-bs+bs { // every good block of a and b
		t.Fatalf("progress reported %d bytes", progressed)
	}
	if oa.Has(2) || !oa.Has(1) || oa.CachedBytes() != a.Size-bs {
		t.Fatal("the bad block was not dropped, or good ones were")
	}

	// Clear one key, then everything.
	if n, bytes := c.Clear("", "b"); n != 1 || bytes != bs {
		t.Fatalf("Clear(b) = %d, %d", n, bytes)
	}
	if ob.Has(1) || len(c.Usage()) != 1 {
		t.Fatal("b still cached")
	}
	if n, _ := c.Clear("", ""); n != 1 || len(c.Usage()) != 0 || c.Stats().Used != 0 {
		t.Fatalf("Clear all left %+v", c.Usage())
	}
	if _, err := os.Stat(dataFile); !os.IsNotExist(err) {
		t.Fatalf("data file of a cleared object remains: %v", err)
	}
}
