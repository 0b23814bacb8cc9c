package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossmount/ossmount/store"
)

// stepLister hands out listing pages one at a time, as the test sends
// them (send returns once the page has been taken in), then the end.
type stepLister struct {
	pages  chan stepPage
	end    chan error
	lists  atomic.Int32 // ListAll calls
	heads  atomic.Int32
	single atomic.Int32 // one-page List calls (lookups)
}

type stepPage struct {
	page  store.ListPage
	taken chan struct{}
}

func newStepLister() *stepLister {
	return &stepLister{pages: make(chan stepPage), end: make(chan error)}
}

func (l *stepLister) send(p store.ListPage) {
	taken := make(chan struct{})
	l.pages <- stepPage{p, taken}
	<-taken
}

func (l *stepLister) ListAll(ctx context.Context, prefix string, fn func(store.ListPage) error) error {
	l.lists.Add(1)
	for {
		select {
		case p := <-l.pages:
			err := fn(p.page)
			close(p.taken)
			if err != nil {
				return err
			}
		case err := <-l.end:
			return err
		}
	}
}

func (l *stepLister) List(ctx context.Context, prefix, token string, maxKeys int) (store.ListPage, error) {
	l.single.Add(1)
	return store.ListPage{}, nil
}

func (l *stepLister) Head(ctx context.Context, key string) (store.ObjectInfo, error) {
	l.heads.Add(1)
	return store.ObjectInfo{}, &store.RequestError{Op: "HEAD", Key: key, Status: 404, Kind: store.ErrNotFound}
}

func newStepFS(l *stepLister) *FS {
	return New(Options{Prefix: "d/", MetadataTTL: time.Hour, NegativeTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, l, nil, nil)
}

func objs(names ...string) []store.ObjectInfo {
	var out []store.ObjectInfo
	for _, n := range names {
		out = append(out, store.ObjectInfo{Key: "d/" + n, Size: int64(len(n))})
	}
	return out
}

// readAvailable returns the entries r gives without waiting for more of
// the listing (a cancelled context only stops a wait).
func readAvailable(t *testing.T, r *DirReader) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []string
	for {
		e, ok, err := r.Next(ctx)
		if errors.Is(err, context.Canceled) {
			return out // nothing more yet
		}
		if err != nil || !ok {
			t.Fatalf("Next: ok=%v err=%v while the listing is still open", ok, err)
		}
		out = append(out, kindName(e))
	}
}

func kindName(e Entry) string {
	if e.IsDir {
		return "d:" + e.Name
	}
	return "f:" + e.Name
}

// Entries are readable page by page, before the listing has ended; a file
// that a directory of the same name may still follow is held back, and
// the directory wins; lookups are answered from the entries that arrived.
func TestDirectoryStreamsPageByPage(t *testing.T) {
	l := newStepLister()
	v := newStepFS(l)
	ctx := context.Background()
	r := v.OpenDir("")

	// Key order, as OSS lists: "a" < "a-b" < "a.txt" < "a/" < "m".
	l.send(store.ListPage{Objects: objs("a", "a-b", "a.txt")})
	if got := readAvailable(t, r); fmt.Sprint(got) != "[f:a-b]" {
		t.Fatalf("after page 1: %v, want only a-b (\"a/\" and \"a.txt/\" may still follow)", got)
	}
	if e, err := v.Lookup(ctx, "", "a-b"); err != nil || e.Size != 3 {
		t.Fatalf("Lookup(a-b) during the listing: %+v, %v", e, err)
	}
	if l.heads.Load() != 0 {
		t.Fatalf("%d HEADs for a name the listing had", l.heads.Load())
	}
	l.send(store.ListPage{Prefixes: []string{"d/a/"}, Objects: objs("m", "z")})
	if got := readAvailable(t, r); fmt.Sprint(got) != "[d:a f:a.txt f:m]" {
		t.Fatalf("after page 2: %v, want d:a f:a.txt f:m", got)
	}
	l.send(store.ListPage{Prefixes: []string{"d/z/"}, Objects: objs("zz")})
	if got := readAvailable(t, r); fmt.Sprint(got) != "[d:z]" {
		t.Fatalf("after page 3: %v, want d:z", got)
	}
	l.end <- nil
	var rest []string
	for {
		e, ok, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		rest = append(rest, kindName(e))
	}
	if fmt.Sprint(rest) != "[f:zz]" {
		t.Fatalf("at the end: %v, want f:zz", rest)
	}
	if l.lists.Load() != 1 {
		t.Fatalf("%d listings", l.lists.Load())
	}
	// Complete and fresh: a new reader and lookups use it, nothing is sent.
	all, err := v.ReadDir(ctx, "")
	if err != nil || len(all) != 6 || all[0].Name != "a" || !all[0].IsDir {
		t.Fatalf("ReadDir: %+v, %v", all, err)
	}
	if _, err := v.Lookup(ctx, "", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Lookup(nope): %v", err)
	}
	if l.lists.Load() != 1 || l.heads.Load() != 0 || l.single.Load() != 0 {
		t.Fatalf("requests after the listing completed: %d listings, %d HEADs, %d one-page lists",
			l.lists.Load(), l.heads.Load(), l.single.Load())
	}
}

// Readers of one directory share one listing; a reader that gives up does
// not stop it; a failed listing ends every reader with the error after
// the entries that arrived, and the next reader lists again.
func TestDirectoryListingSharedAndFailed(t *testing.T) {
	l := newStepLister()
	v := newStepFS(l)
	r1, r2 := v.OpenDir(""), v.OpenDir("")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r1.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context and nothing listed yet: %v", err)
	}
	l.send(store.ListPage{Objects: objs("a", "b", "c")})
	boom := &store.RequestError{Op: "LIST", Kind: store.ErrTransient, Err: errors.New("boom")}
	l.end <- boom
	for _, r := range []*DirReader{r1, r2} {
		var n int
		var err error
		for {
			var ok bool
			if _, ok, err = r.Next(context.Background()); !ok {
				break
			}
			n++
		}
		// "c" was held back ("c/" might have followed) and is dropped.
		if !errors.Is(err, store.ErrTransient) || n != 2 {
			t.Fatalf("reader: %d entries then %v; want a and b, then the listing's error", n, err)
		}
	}
	if l.lists.Load() != 1 {
		t.Fatalf("two readers made %d listings", l.lists.Load())
	}
	r3 := v.OpenDir("")
	l.send(store.ListPage{Objects: objs("x")})
	l.end <- nil
	var names []string
	for {
		e, ok, err := r3.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		names = append(names, e.Name)
	}
	if fmt.Sprint(names) != "[x]" || l.lists.Load() != 2 {
		t.Fatalf("after a failed listing: %v from %d listings", names, l.lists.Load())
	}
	// Seek back to the start: the same (fresh) listing, no request.
	r3.Seek(0)
	if e, ok, err := r3.Next(context.Background()); !ok || err != nil || e.Name != "x" || l.lists.Load() != 2 {
		t.Fatalf("after Seek(0): %+v %v %v, %d listings", e, ok, err, l.lists.Load())
	}
}

// NextArrived gives what has arrived and never waits: false before a page,
// at the end, and after a failure (which Next then reports).
func TestNextArrivedNeverWaits(t *testing.T) {
	l := newStepLister()
	v := newStepFS(l)
	r := v.OpenDir("")
	if e, ok := r.NextArrived(); ok {
		t.Fatalf("before any page: %+v", e)
	}
	l.send(store.ListPage{Objects: objs("a", "b"), Prefixes: []string{"d/c/"}})
	var got []string
	for {
		e, ok := r.NextArrived()
		if !ok {
			break
		}
		got = append(got, kindName(e))
	}
	if fmt.Sprint(got) != "[d:c f:a f:b]" {
		t.Fatalf("after page 1: %v", got)
	}
	l.end <- errors.New("listing broke")
	if e, ok := r.NextArrived(); ok {
		t.Fatalf("after the failure: %+v", e)
	}
	if _, ok, err := r.Next(context.Background()); ok || err == nil {
		t.Fatalf("Next after the failure: ok=%v err=%v, want the error", ok, err)
	}
}

// A directory being read answers the lookups of its names from the listing
// it returns even once the listing is older than the TTL (a slow `ls -l`
// or os.scandir); once it is closed, an expired listing answers nothing.
func TestDirectoryBeingReadAnswersLookupsPastTheTTL(t *testing.T) {
	l := newStepLister()
	v := New(Options{Prefix: "d/", MetadataTTL: time.Millisecond, NegativeTTL: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, l, nil, nil)
	ctx := context.Background()
	r := v.OpenDir("")
	l.send(store.ListPage{Objects: objs("a", "b", "c")})
	l.end <- nil
	var names []string
	for {
		e, ok, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		names = append(names, e.Name)
		time.Sleep(3 * time.Millisecond) // the listing expires while it is read
		if got, err := v.Lookup(ctx, "", e.Name); err != nil || got.Size != 1 {
			t.Fatalf("Lookup(%s) while the directory is read: %+v, %v", e.Name, got, err)
		}
	}
	if fmt.Sprint(names) != "[a b c]" {
		t.Fatalf("entries %v", names)
	}
	// A rewind after the TTL takes a fresh listing, which answers too.
	r.Seek(0)
	l.send(store.ListPage{Objects: objs("a", "bb")})
	l.end <- nil
	time.Sleep(3 * time.Millisecond)
	if got, err := v.Lookup(ctx, "", "bb"); err != nil || got.Size != 2 {
		t.Fatalf("Lookup(bb) after the rewind: %+v, %v", got, err)
	}
	if n := l.heads.Load() + l.single.Load(); n != 0 {
		t.Fatalf("%d HEADs and one-key listings while the directory was read", n)
	}
	r.Close()
	if _, err := v.Lookup(ctx, "", "bb"); !errors.Is(err, store.ErrNotFound) || l.heads.Load() != 1 {
		t.Fatalf("Lookup after Close: %v with %d HEADs; want a HEAD (answered 404)", err, l.heads.Load())
	}
	v.mu.Lock()
	left := len(v.reading)
	v.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d directories still registered as being read after Close", left)
	}
}
