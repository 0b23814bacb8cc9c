package vfs

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ossmount/ossmount/store"
)

// Directory listings stream: a directory's entries reach readers page by
// page as the listing arrives, so the first entries of a prefix with 100k
// keys are readable after one page, not after a hundred. One listing per
// directory is in flight at a time; every reader (and every lookup in the
// directory) shares it. It runs on a context of its own, so a reader that
// gives up does not cut it short for the others, and it is bounded by the
// store's timeouts and retries.
//
// A key that is also a prefix ("a" and "a/x") shows as the directory. The
// listing is in key order, and "a/" sorts after "a" but also after names
// such as "a-b" or "a.txt", possibly a page later, so a file is held back
// until the listing has passed the point where "name/" would be.

// listing is one directory's entries, complete or still arriving.
//
// Lock order: FS.mu before listing.mu; neither is held across a request,
// and listing.mu is never held while calling into FS (hide takes FS.mu).
type listing struct {
	mu sync.Mutex
	// entries are in the order readers get them: each page's names in
	// order, a held-back file when it is released. Only appended to, except
	// that a file may turn into the directory of the same name.
	entries []Entry
	byName  map[string]int // name → index in entries
	held    map[string]Entry
	last    string        // the greatest listing key (name, or name+"/") seen
	done    bool          // every page is in
	err     error         // why the listing stopped early (done is set too)
	at      time.Time     // when it was completed
	grew    chan struct{} // closed and replaced each time entries grow or done is set
}

func newListing() *listing {
	return &listing{byName: make(map[string]int), held: make(map[string]Entry), grew: make(chan struct{})}
}

// find looks name up. complete: the listing has all entries and is younger
// than ttl, so a name it lacks does not exist.
func (l *listing) find(name string, now time.Time, ttl time.Duration) (e Entry, found, complete bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.usableLocked(now, ttl) {
		return Entry{}, false, false
	}
	if i, ok := l.byName[name]; ok {
		return l.entries[i], true, l.done
	}
	return Entry{}, false, l.done
}

// has looks name up among the entries that have arrived, however old.
func (l *listing) has(name string) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.byName[name]; ok {
		return l.entries[i], true
	}
	return Entry{}, false
}

// stale reports whether the listing disagrees with file entry e.
func (l *listing) stale(e Entry) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.byName[e.Name]
	return ok && !l.entries[i].IsDir && l.entries[i] != e
}

// usable reports whether l may still answer: it is arriving, or it is
// complete, did not fail and is younger than ttl.
func (l *listing) usable(now time.Time, ttl time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usableLocked(now, ttl)
}

func (l *listing) usableLocked(now time.Time, ttl time.Duration) bool {
	return !l.done || (l.err == nil && now.Sub(l.at) < ttl)
}

// add takes one page's entries (valid names, in any order) and appends
// what can be released.
func (l *listing) add(page []Entry) {
	sort.Slice(page, func(i, j int) bool { return listingKey(page[i]) < listingKey(page[j]) })
	l.mu.Lock()
	defer l.mu.Unlock()
	grew := false
	for _, e := range page {
		if k := listingKey(e); k > l.last {
			l.last = k
		}
		if e.IsDir {
			delete(l.held, e.Name) // the directory wins over a file of the same name
			if i, ok := l.byName[e.Name]; ok {
				l.entries[i] = e
				continue
			}
			l.appendLocked(e)
			grew = true
			continue
		}
		if _, ok := l.byName[e.Name]; ok {
			continue // a duplicate, or a directory of that name
		}
		l.held[e.Name] = e
	}
	if l.releaseLocked(false) || grew {
		l.notifyLocked()
	}
}

// finish marks the listing complete (or failed) and releases every file
// still held back.
func (l *listing) finish(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.releaseLocked(true)
	}
	l.done, l.err, l.at = true, err, time.Now()
	l.notifyLocked()
}

// releaseLocked appends the held files no directory of the same name can
// follow any more ("name/" is not past the last listing key), or all of
// them.
func (l *listing) releaseLocked(all bool) bool {
	var out []Entry
	for name, e := range l.held {
		if all || name+"/" <= l.last {
			out = append(out, e)
			delete(l.held, name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for _, e := range out {
		l.appendLocked(e)
	}
	return len(out) > 0
}

func (l *listing) appendLocked(e Entry) {
	l.byName[e.Name] = len(l.entries)
	l.entries = append(l.entries, e)
}

func (l *listing) notifyLocked() {
	close(l.grew)
	l.grew = make(chan struct{})
}

// entry returns entry i, waiting while the listing may still bring it.
// ok is false past the last entry; err is the listing's failure.
func (l *listing) entry(ctx context.Context, i int) (e Entry, ok bool, err error) {
	for {
		l.mu.Lock()
		if i < len(l.entries) {
			e = l.entries[i]
			l.mu.Unlock()
			return e, true, nil
		}
		done, err, grew := l.done, l.err, l.grew
		l.mu.Unlock()
		if done {
			return Entry{}, false, err
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return Entry{}, false, ctx.Err()
		}
	}
}

// arrived returns entry i if it is there.
func (l *listing) arrived(i int) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < len(l.entries) {
		return l.entries[i], true
	}
	return Entry{}, false
}

// listingKey is where an entry sits in the key order of its listing.
func listingKey(e Entry) string {
	if e.IsDir {
		return e.Name + "/"
	}
	return e.Name
}

// list returns directory dir's listing: the fresh one, the one arriving,
// or a new one it starts. It does not wait for entries. With r, the
// listing becomes r's (registered as being read, in place of r's old one).
func (v *FS) list(dir string, r *DirReader) *listing {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	l := v.dirs[dir]
	if l == nil || !l.usable(now, v.opts.MetadataTTL) {
		l = newListing()
		v.dirs[dir] = l
		go v.fill(dir, l)
	}
	if r != nil {
		if r.l != nil {
			v.readerClosedLocked(dir, r.l)
		}
		v.readerOpenedLocked(dir, l)
	}
	return l
}

// fill runs the listing of dir into l, on a context of its own (see above).
func (v *FS) fill(dir string, l *listing) {
	prefix := v.dirPrefix(dir)
	err := v.lister.ListAll(context.Background(), prefix, func(page store.ListPage) error {
		l.add(v.pageEntries(prefix, page))
		return nil
	})
	l.finish(err)
	if err != nil {
		v.mu.Lock()
		if v.dirs[dir] == l {
			delete(v.dirs, dir) // the next reader lists again
		}
		v.mu.Unlock()
	}
}

// pageEntries turns a listing page into entries, hiding keys that cannot
// be a name.
func (v *FS) pageEntries(prefix string, page store.ListPage) []Entry {
	out := make([]Entry, 0, len(page.Objects)+len(page.Prefixes))
	for _, o := range page.Objects {
		name, ok := strings.CutPrefix(o.Key, prefix)
		if !ok || name == "" {
			continue // the directory's own marker object
		}
		if strings.Contains(name, "/") || !validName(name) {
			v.hide(o.Key, "invalid file name")
			continue
		}
		if o.Size < 0 {
			v.hide(o.Key, "negative size in the listing")
			continue
		}
		out = append(out, entryOf(name, o))
	}
	for _, p := range page.Prefixes {
		name, ok := strings.CutPrefix(p, prefix)
		name = strings.TrimSuffix(name, "/")
		if !ok || !validName(name) || strings.Contains(name, "/") {
			v.hide(p, "invalid directory name")
			continue
		}
		out = append(out, Entry{Name: name, IsDir: true})
	}
	return out
}

// A directory being read answers the lookups of its names from the
// listing it is returning, however old that listing gets: readers such as
// `ls -l` or Python's os.scandir look up (stat) each entry they read, and a
// reader slower than MetadataTTL would otherwise send a HEAD and a
// one-key listing per entry once the listing expired (thousands of
// requests, one by one, for a big directory). So every open DirReader
// registers its listing in FS.reading until it is closed, and Lookup
// consults those after the fresh answers; and the directory itself, whose
// path the kernel looks up again every TTL while its entries are stat'ed,
// is known to exist while it is read. A directory read of N keys thus
// costs its listing pages plus a constant, whatever the TTL and however
// slow the reader; what it shows is as old as the listing it returns, as
// for any directory listing. A new opendir or a rewind takes a fresh
// listing once the TTL has passed.

// readerOpenedLocked registers one more open reader of listing l of dir.
// v.mu held.
func (v *FS) readerOpenedLocked(dir string, l *listing) {
	m := v.reading[dir]
	if m == nil {
		m = make(map[*listing]int)
		v.reading[dir] = m
	}
	m[l]++
}

// readerClosedLocked undoes readerOpenedLocked. v.mu held.
func (v *FS) readerClosedLocked(dir string, l *listing) {
	m := v.reading[dir]
	if m[l]--; m[l] <= 0 {
		delete(m, l)
		if len(m) == 0 {
			delete(v.reading, dir)
		}
	}
}

// beingReadLocked returns the listings of dir that open readers are
// returning. v.mu held.
func (v *FS) beingReadLocked(dir string) []*listing {
	m := v.reading[dir]
	if len(m) == 0 {
		return nil
	}
	out := make([]*listing, 0, len(m))
	for l := range m {
		out = append(out, l)
	}
	return out
}

// readWithEntriesLocked reports whether directory dir is being read and
// its listing has entries: it exists, whatever the TTL. v.mu held.
func (v *FS) readWithEntriesLocked(dir string) bool {
	for l := range v.reading[dir] {
		l.mu.Lock()
		n := len(l.entries)
		l.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// ReadDir returns every entry of directory dir ("" is the root), sorted by
// name, once the listing is complete.
func (v *FS) ReadDir(ctx context.Context, dir string) ([]Entry, error) {
	r := v.OpenDir(dir)
	defer r.Close()
	var out []Entry
	for {
		e, ok, err := r.Next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DirReader reads one directory's entries as they arrive. It is not safe
// for concurrent use (the FUSE layer serializes the calls of one handle).
// Until Close, lookups in the directory are answered from its listing.
type DirReader struct {
	v      *FS
	dir    string
	l      *listing // registered in FS.reading while open
	pos    int      // entries returned so far
	closed bool
}

// OpenDir starts reading directory dir. It sends no request itself and
// does not wait; Next does. Close it when done.
func (v *FS) OpenDir(dir string) *DirReader {
	r := &DirReader{v: v, dir: dir}
	r.l = v.list(dir, r)
	return r
}

// Close ends the read: lookups no longer use its listing.
func (r *DirReader) Close() {
	r.v.mu.Lock()
	defer r.v.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.v.readerClosedLocked(r.dir, r.l)
	}
}

// Next returns the next entry, waiting (as long as ctx allows) while the
// listing may still bring one. ok is false at the end of the directory.
func (r *DirReader) Next(ctx context.Context) (Entry, bool, error) {
	e, ok, err := r.l.entry(ctx, r.pos)
	if ok {
		r.pos++
	}
	return e, ok, err
}

// NextArrived returns the next entry if it has arrived, without waiting;
// ok is false if it has not (yet), at the end, or after a failure (which
// Next then reports).
func (r *DirReader) NextArrived() (Entry, bool) {
	e, ok := r.l.arrived(r.pos)
	if ok {
		r.pos++
	}
	return e, ok
}

// Seek moves to position pos (entries returned so far). Back to 0 is a
// rewind, which takes a fresh listing when this one has expired or failed.
func (r *DirReader) Seek(pos int) {
	if pos == 0 && !r.closed {
		r.l = r.v.list(r.dir, r)
	}
	r.pos = pos
}
