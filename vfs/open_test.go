package vfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/store"
)

// The open and read core over a fake store and a real block cache in a
// temporary directory, without FUSE.

const testBlock = 64 << 10

// coreFS is an FS over memStore with blocks of testBlock, one block per
// part and no readahead, so that every GET a test sees is one it caused.
func coreFS(t *testing.T) (*FS, *memStore, *blockcache.Cache) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := &memStore{objs: map[string]memObj{}}
	cache, err := blockcache.Open(blockcache.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f := fetcher.New(st, fetcher.Config{PartSize: testBlock, Parallel: 2, Retries: 1, MaxReadahead: -1, Logger: log})
	t.Cleanup(func() { f.Close(); cache.Close() })
	return New(Options{Bucket: "b", BlockSize: testBlock, MetadataTTL: time.Hour, NegativeTTL: time.Hour, Logger: log}, st, f, cache), st, cache
}

func content(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func readAt(t *testing.T, h *Handle, off, n int64) ([]byte, error) {
	t.Helper()
	buf := make([]byte, n)
	got, err := h.Read(context.Background(), buf, off)
	return buf[:got], err
}

func openAndReadAll(t *testing.T, v *FS, p string) (OpenResult, []byte) {
	t.Helper()
	h, res, err := v.Open(context.Background(), p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer h.Release()
	got, err := readAt(t, h, 0, res.Entry.Size)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return res, got
}

// A 304 keeps the cached blocks (no GET but the open's) and lets the
// kernel keep its page cache.
func TestNotModifiedKeepsBlocksAndKeepCache(t *testing.T) {
	v, st, _ := coreFS(t)
	data := content(1, 3*testBlock+100)
	st.put("f", data, `"A"`, time.Now())
	if _, got := openAndReadAll(t, v, "f"); !bytes.Equal(got, data) {
		t.Fatal("first read: content differs")
	}
	st.takeGets()
	res, got := openAndReadAll(t, v, "f")
	if !bytes.Equal(got, data) {
		t.Fatal("second read: content differs")
	}
	if !res.KeepCache {
		t.Error("a 304 did not keep the kernel's page cache")
	}
	if g := st.takeGets(); len(g) != 1 || g[0].IfNoneMatch != `"A"` {
		t.Errorf("reopen sent %+v, want only the open's conditional GET (the blocks kept)", g)
	}
}

// A changed object: an inode that stands for the old version is told it
// is stale and the path gets a new generation (whose page cache is the new
// version's); an open of the path reads the new version.
func TestChangedIsStaleAndANewGeneration(t *testing.T) {
	v, st, _ := coreFS(t)
	a, b := content(1, 2*testBlock), content(2, 2*testBlock+5)
	st.put("f", a, `"A"`, time.Now())
	ea, err := v.Lookup(context.Background(), "", "f")
	if err != nil {
		t.Fatal(err)
	}
	genA := v.Gen("f", ea.ETag)
	if _, got := openAndReadAll(t, v, "f"); !bytes.Equal(got, a) {
		t.Fatal("A: content differs")
	}
	st.put("f", b, `"B"`, time.Now().Add(time.Hour))
	if _, _, err := v.OpenVersion(context.Background(), "f", ea); !errors.Is(err, ErrStale) {
		t.Fatalf("open of the inode of A after the change: %v, want ErrStale", err)
	}
	if g := v.Gen("f", `"B"`); g != genA+1 {
		t.Errorf("generation of B %d, want %d", g, genA+1)
	}
	res, got := openAndReadAll(t, v, "f")
	if !bytes.Equal(got, b) || res.Entry.ETag != `"B"` {
		t.Errorf("open after the change: etag %s, content of B %v", res.Entry.ETag, bytes.Equal(got, b))
	}
}

// A deleted object: the open fails with ErrNotFound and the key's cached
// blocks are dropped.
func TestDeletedIsNotFoundAndItsBlocksDropped(t *testing.T) {
	v, st, cache := coreFS(t)
	st.put("f", content(3, 2*testBlock), `"A"`, time.Now())
	openAndReadAll(t, v, "f")
	if _, ok := cache.Cached("b", "f"); !ok {
		t.Fatal("nothing cached after a read")
	}
	st.mu.Lock()
	delete(st.objs, "f")
	st.mu.Unlock()
	if _, _, err := v.Open(context.Background(), "f"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("open of a deleted object: %v, want ErrNotFound", err)
	}
	if ver, ok := cache.Cached("b", "f"); ok {
		t.Errorf("version %s of a deleted key still cached", ver.ETag)
	}
}

// gatedStore holds every GET until the gate opens, counting them.
type gatedStore struct {
	*memStore
	gate    chan struct{}
	arrived chan struct{} // one send per GET
}

func (g *gatedStore) Get(ctx context.Context, req store.GetRequest) (*store.GetResponse, error) {
	g.arrived <- struct{}{}
	<-g.gate
	return g.memStore.Get(ctx, req)
}

// Concurrent opens of one key share the open's one request.
func TestConcurrentOpensShareOneRequest(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mem := &memStore{objs: map[string]memObj{}}
	data := content(4, testBlock/2)
	mem.put("f", data, `"A"`, time.Now())
	st := &gatedStore{memStore: mem, gate: make(chan struct{}), arrived: make(chan struct{}, 100)}
	cache, err := blockcache.Open(blockcache.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f := fetcher.New(st, fetcher.Config{PartSize: testBlock, Parallel: 8, Logger: log})
	t.Cleanup(func() { f.Close(); cache.Close() })
	v := New(Options{Bucket: "b", BlockSize: testBlock, Logger: log}, mem, f, cache)

	const n = 8
	var wg sync.WaitGroup
	var started sync.WaitGroup
	errs := make(chan error, n)
	started.Add(n)
	for range n {
		wg.Go(func() {
			started.Done()
			h, res, err := v.Open(context.Background(), "f")
			if err != nil {
				errs <- err
				return
			}
			defer h.Release()
			buf := make([]byte, res.Entry.Size)
			if k, err := h.Read(context.Background(), buf, 0); err != nil || !bytes.Equal(buf[:k], data) {
				errs <- errors.New("content differs")
			}
		})
	}
	started.Wait()
	<-st.arrived
	// The other opens join the one in flight; give them the time to get
	// there (a late one would send a conditional GET of its own).
	time.Sleep(200 * time.Millisecond)
	close(st.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g := mem.takeGets(); len(g) != 1 {
		t.Errorf("%d concurrent opens sent %d GETs, want 1: %+v", n, len(g), g)
	}
}

// An object that changes while a handle reads it (412 on a part's
// If-Match): the handle is stale; it serves what is cached of its version
// and nothing else, without asking the store again.
func TestChangeMidReadServesOnlyWhatIsCached(t *testing.T) {
	v, st, _ := coreFS(t)
	a := content(5, 4*testBlock)
	st.put("f", a, `"A"`, time.Now())
	h, _, err := v.Open(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	if got, err := readAt(t, h, 0, 100); err != nil || !bytes.Equal(got, a[:100]) {
		t.Fatalf("read of block 0 (the open's): %v", err)
	}
	st.put("f", content(6, 4*testBlock), `"B"`, time.Now().Add(time.Hour))
	st.takeGets()
	if _, err := readAt(t, h, 2*testBlock, 100); !errors.Is(err, ErrStale) || !errors.Is(err, store.ErrChanged) {
		t.Fatalf("read after the change: %v, want ErrStale (ErrChanged)", err)
	}
	if g := st.takeGets(); len(g) != 1 || g[0].IfMatch != `"A"` {
		t.Errorf("the read sent %+v, want one GET with If-Match of A", g)
	}
	if got, err := readAt(t, h, 10, 1000); err != nil || !bytes.Equal(got, a[10:1010]) {
		t.Errorf("stale handle, cached block 0: %v (same bytes: %v)", err, bytes.Equal(got, a[10:1010]))
	}
	if _, err := readAt(t, h, testBlock, 100); !errors.Is(err, ErrStale) {
		t.Errorf("stale handle, uncached block 1: %v, want ErrStale", err)
	}
	if g := st.takeGets(); len(g) != 0 {
		t.Errorf("a stale handle asked the store: %+v", g)
	}
}
