package vfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/store"
)

// memStore is one bucket in memory, as both the namespace's Lister and the
// fetcher's Store. Its 304s carry no ETag (some servers send none), so
// only what the mount has seen can tell a same-second replacement.
type memStore struct {
	mu   sync.Mutex
	objs map[string]memObj
	gets []store.GetRequest
}

type memObj struct {
	data []byte
	etag string
	lm   time.Time
}

func (s *memStore) put(key string, data []byte, etag string, lm time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = memObj{data, etag, lm}
}

func (s *memStore) info(key string, o memObj) store.ObjectInfo {
	return store.ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag, LastModified: o.lm}
}

func (s *memStore) Head(ctx context.Context, key string) (store.ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objs[key]
	if !ok {
		return store.ObjectInfo{}, &store.RequestError{Op: "HEAD", Key: key, Status: 404, Kind: store.ErrNotFound}
	}
	return s.info(key, o), nil
}

func (s *memStore) List(ctx context.Context, prefix, token string, maxKeys int) (store.ListPage, error) {
	return store.ListPage{}, nil
}

func (s *memStore) ListAll(ctx context.Context, prefix string, fn func(store.ListPage) error) error {
	return fn(store.ListPage{})
}

func (s *memStore) Get(ctx context.Context, req store.GetRequest) (*store.GetResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets = append(s.gets, req)
	o, ok := s.objs[req.Key]
	switch {
	case !ok:
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 404, Kind: store.ErrNotFound}
	case req.IfMatch != "" && !store.SameETag(req.IfMatch, o.etag):
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 412, Kind: store.ErrChanged}
	case req.IfNoneMatch != "" && store.SameETag(req.IfNoneMatch, o.etag),
		req.IfNoneMatch == "" && !req.IfModifiedSince.IsZero() && !o.lm.After(req.IfModifiedSince):
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 304, Kind: store.ErrNotModified}
	}
	size := int64(len(o.data))
	if req.End >= 0 && req.Start >= size {
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 416, Kind: store.ErrRangeNotSatisfiable}
	}
	end := size - 1
	if req.End >= 0 && req.End < end {
		end = req.End
	}
	status := http.StatusPartialContent
	if req.Start == 0 && req.End < 0 {
		status = http.StatusOK
	}
	body := o.data[req.Start : end+1]
	return &store.GetResponse{Info: s.info(req.Key, o), StatusCode: status, RangeStart: req.Start,
		ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body))}, nil
}

// takeGets returns the GETs sent since the last call.
func (s *memStore) takeGets() []store.GetRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gets
	s.gets = nil
	return g
}

func newMemFS(t *testing.T, revalidate string, ttl time.Duration) (*FS, *memStore) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := &memStore{objs: map[string]memObj{}}
	cache, err := blockcache.Open(blockcache.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f := fetcher.New(st, fetcher.Config{PartSize: 64 << 10, Parallel: 2, Retries: 1, Logger: log})
	t.Cleanup(func() { f.Close(); cache.Close() })
	return New(Options{Bucket: "b", BlockSize: 64 << 10, Revalidate: revalidate, MetadataTTL: ttl, NegativeTTL: ttl, Logger: log}, st, f, cache), st
}

func readVersion(t *testing.T, v *FS, p string, seen Entry) ([]byte, error) {
	t.Helper()
	h, res, err := v.OpenVersion(context.Background(), p, seen)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	buf := make([]byte, res.Entry.Size)
	n, err := h.Read(context.Background(), buf, 0)
	return buf[:n], err
}

// With revalidate=mtime, an object replaced in its cached version's second
// is fetched anew once the mount has seen the new ETag (a lookup), even when
// the server's 304 names no ETag; the node that stands for the old version
// is told it is stale.
func TestSameSecondReplaceIsNeverServedOld(t *testing.T) {
	v, st := newMemFS(t, "mtime", 0)
	lm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 1000)
	st.put("f", a, `"A"`, lm)
	ea, err := v.Lookup(context.Background(), "", "f")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readVersion(t, v, "f", ea); err != nil || !bytes.Equal(got, a) {
		t.Fatalf("A: %q %v", got, err)
	}
	st.put("f", b, `"B"`, lm)
	if err := v.Current(context.Background(), "f", ea.ETag); !errors.Is(err, ErrStale) {
		t.Errorf("Current of A after the replace: %v, want ErrStale", err)
	}
	eb, err := v.Lookup(context.Background(), "", "f")
	if err != nil || eb.ETag != `"B"` {
		t.Fatalf("lookup after the replace: %+v %v", eb, err)
	}
	if err := v.Current(context.Background(), "f", eb.ETag); err != nil {
		t.Errorf("Current of B: %v", err)
	}
	st.takeGets()
	if got, err := readVersion(t, v, "f", eb); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("B, replaced in A's second: %q %v", got, err)
	}
	if g := st.takeGets(); len(g) == 0 || !g[0].IfModifiedSince.IsZero() || g[0].IfNoneMatch != "" {
		t.Errorf("the open revalidated a version whose ETag the mount saw change: %+v", g)
	}
}

// An empty object opens with one GET without a Range and is remembered: its
// reopen is one conditional GET.
func TestEmptyObjectIsOpenedWithoutRangeAndRemembered(t *testing.T) {
	v, st := newMemFS(t, "etag", time.Hour)
	st.put("e", nil, `"E"`, time.Now())
	e, err := v.Lookup(context.Background(), "", "e")
	if err != nil {
		t.Fatal(err)
	}
	st.takeGets()
	for i, want := range []struct{ ifNoneMatch string }{{""}, {`"E"`}} {
		if got, err := readVersion(t, v, "e", e); err != nil || len(got) != 0 {
			t.Fatalf("open %d: %q %v", i, got, err)
		}
		g := st.takeGets()
		if len(g) != 1 || g[0].End >= 0 || g[0].IfNoneMatch != want.ifNoneMatch {
			t.Errorf("open %d sent %+v, want one GET without Range, If-None-Match %q", i, g, want.ifNoneMatch)
		}
	}
}
