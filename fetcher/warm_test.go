package fetcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestWarmFetchesMissingBlocksOnceInFullParts(t *testing.T) {
	size := 37*testBS + 5
	st, mb, f, o := setup(t, size, Config{})
	// Two blocks already cached: Warm must not fetch them again.
	for _, b := range []int{0, 9} {
		off, n := o.blockSpan(b)
		if err := mb.WriteBlock(b, st.data[off:off+n]); err != nil {
			t.Fatal(err)
		}
	}
	var last, lastCached, calls int64
	if err := f.Warm(context.Background(), o, func(done, cached int64) { last, lastCached = done, cached; calls++ }); err != nil {
		t.Fatal(err)
	}
	if last != int64(size) || calls != int64(o.numBlocks()) {
		t.Fatalf("progress ended at %d after %d calls; want %d after %d", last, calls, size, o.numBlocks())
	}
	// The two blocks that were cached are told apart from the fetched ones
	// (blocks the window fetched before Warm reached them are not).
	if lastCached != 2*testBS {
		t.Fatalf("progress says %d bytes were cached already; want %d", lastCached, 2*testBS)
	}
	f.Close()
	if n := st.bodyBytes.Load(); n != int64(size-2*testBS) {
		t.Fatalf("body bytes %d, want %d (the missing blocks, once)", n, size-2*testBS)
	}
	for b := 0; b < o.numBlocks(); b++ {
		if !mb.Has(b) {
			t.Fatalf("block %d not cached after Warm", b)
		}
	}
	// Parts are whole (up to part size), not a block at a time.
	if n := len(st.ranges); n > 12 {
		t.Fatalf("%d GETs for 35 blocks with 4-block parts: %v", n, st.ranges)
	}
	got := readAll(t, f, o, 1<<20)
	if !bytes.Equal(got, st.data) {
		t.Fatal("content differs after Warm")
	}
}

func TestWarmCancelledKeepsWhatWasFetched(t *testing.T) {
	size := 40 * testBS
	st, mb, f, o := setup(t, size, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	err := f.Warm(ctx, o, func(done, _ int64) {
		if done >= 8*testBS {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Warm after cancel: %v", err)
	}
	f.Close() // the started parts run to completion into the cache
	cached := 0
	for b := 0; b < o.numBlocks(); b++ {
		if mb.Has(b) {
			cached++
		}
	}
	if cached < 8 || cached >= o.numBlocks() { // the window is 16 blocks: far from all 40
		t.Fatalf("%d blocks cached after cancelling at 8 (GETs %d)", cached, st.gets.Load())
	}
	if n := st.bodyBytes.Load(); n != int64(cached)*testBS {
		t.Fatalf("body bytes %d for %d cached blocks: %s", n, cached, fmt.Sprint(st.ranges))
	}
}
