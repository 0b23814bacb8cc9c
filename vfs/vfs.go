// Package vfs is ossmount's FUSE-free core: the namespace of a bucket (or a
// prefix of it) as directories and files, and open files whose reads go
// through the fetcher into the block cache. The FUSE adapter (package fs)
// only translates calls into this package and maps its errors to errnos.
//
// # Namespace
//
// A directory is a delimited ListObjectsV2 of its prefix: objects become
// files and common prefixes directories; a "dir/" marker object makes "dir"
// a directory. A key that is both a file and a prefix shows as the
// directory. Keys that cannot be a path (an empty, "." or ".." component, a
// component over 255 bytes) are hidden and logged once. A listing streams:
// readers get each page's entries as it arrives, and all readers of a
// directory share one listing (dir.go). Listings and lookups are cached for
// MetadataTTL (misses for NegativeTTL); a lookup in a directory whose
// listing is fresh, or still arriving and has the name, is answered from
// it, so `ls -l` sends no HEAD per file. A lookup otherwise sends a HEAD
// of the key and a one-key listing of "key/" concurrently (one round
// trip).
//
// Inode numbers are assigned per (path, kind) and never reused for the life
// of the mount, so they are stable per path and a path that turns from file
// into directory gets a new number.
//
// # Open and revalidation
//
// Every open sends one request: a ranged GET of the object's first bytes
// (block 0, or 256 KiB of it when blocks are larger, see maxProbe), carrying
// If-None-Match with the cached version's ETag (If-Modified-Since with
// revalidate=mtime) when any version of the key is cached. 304 keeps the
// cached blocks and lets the kernel keep its page cache; any other answer
// names the current version (its blocks replace the old version's) and
// already carries the first bytes. So the cache only serves blocks of a
// version that passed revalidation since the mount started. A handle is
// bound to the version it opened: its part GETs carry If-Match, and once
// the object changes under it, its uncached reads fail with ErrStale.
//
// A handle whose version is wholly cached, every block checked in this
// mount, can offer the version's cache file for the kernel to read the file
// from directly (Handle.Backing, FUSE passthrough), pinning the version in
// the cache while the kernel holds it; the adapter decides when the kernel
// may take it.
//
// Each version of a file is its own inode generation (Gen), so the kernel
// keeps one page cache per version: OpenVersion fails with ErrStale when
// the open finds a version other than the inode's, and the kernel looks
// the name up again and opens the new generation's inode.
//
// # Writes
//
// With writes enabled (EnableWrites), files are created and written
// sequentially through package upload, and committed at flush or fsync;
// write.go keeps the namespace and the cache right around each commit.
package vfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/checkpoint"
	"github.com/ossmount/ossmount/fetcher"
)

// Lister is what the namespace needs from the object store.
type Lister interface {
	// List returns one page of the listing of prefix (delimiter "/").
	List(ctx context.Context, prefix, token string, maxKeys int) (fetcher.ListPage, error)
	// ListAll calls fn with every page of the listing of prefix, in order.
	ListAll(ctx context.Context, prefix string, fn func(fetcher.ListPage) error) error
	Head(ctx context.Context, key string) (fetcher.ObjectInfo, error)
}

// ErrStale: the object changed since the file was opened. Besides it, the
// core returns the fetcher's errors (fetcher.ErrNotFound, ...).
var ErrStale = errors.New("object changed since the file was opened")

// Options configure an FS.
type Options struct {
	Bucket      string
	Prefix      string // "" or "dir/sub/"
	BlockSize   int64
	Revalidate  string // "etag" (default) or "mtime"
	MetadataTTL time.Duration
	NegativeTTL time.Duration
	Logger      *slog.Logger
	// ControlSocket is the daemon's control socket, published on the root
	// directory as ControlXattr ("" for none).
	ControlSocket string
}

// Entry is one name in a directory.
type Entry struct {
	Name         string
	IsDir        bool
	Size         int64
	ETag         string
	LastModified time.Time
	StorageClass string
	// Symlink: an OSS symbolic link (symlink.go); Target is its text and
	// Size the text's length, once Lookup has read it.
	Symlink bool
	Target  string
}

// FS is a mounted bucket prefix.
type FS struct {
	opts    Options
	lister  Lister
	fetch   *fetcher.Fetcher
	cache   *blockcache.Cache
	log     *slog.Logger
	mounted time.Time

	// mu guards the maps below. Never held across a request or disk I/O.
	mu      sync.Mutex
	dirs    map[string]*listing    // dir path ("" = root) → its listing, complete or arriving
	lookups map[string]lookupHit   // file path → last lookup answer
	inos    map[inoKey]uint64      // (path, isDir) → inode number, never reused
	nextIno uint64                 //
	objects map[string]*openObject // version ID → shared object state of open handles
	hidden  map[string]bool        // keys already logged as hidden (bounded)
	gens    map[string]fileGen     // file path → the version its current generation stands for

	openFlight singleflight.Group // revalidations in flight, by key and conditions
	links      linkTargets        // symbolic links' targets (symlink.go)
	wr         *writes            // nil: read-only (write.go)
}

type inoKey struct {
	path  string
	isDir bool
}

type lookupHit struct {
	at    time.Time
	entry Entry
	found bool
}

type openObject struct {
	obj  *fetcher.Object
	refs int
}

// New returns the core over lister (namespace), fetch (reads) and cache.
func New(opts Options, lister Lister, fetch *fetcher.Fetcher, cache *blockcache.Cache) *FS {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = 1 << 20
	}
	return &FS{
		opts: opts, lister: lister, fetch: fetch, cache: cache, log: opts.Logger,
		mounted: time.Now(),
		dirs:    make(map[string]*listing),
		lookups: make(map[string]lookupHit),
		inos:    map[inoKey]uint64{{"", true}: 1},
		nextIno: 2,
		objects: make(map[string]*openObject),
		hidden:  make(map[string]bool),
		gens:    make(map[string]fileGen),
	}
}

// MountTime is used as the times of directories (which OSS does not have).
func (v *FS) MountTime() time.Time { return v.mounted }

// Ino returns the inode number of path (a file or a directory).
func (v *FS) Ino(p string, isDir bool) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := inoKey{p, isDir}
	if ino, ok := v.inos[k]; ok {
		return ino
	}
	ino := v.nextIno
	v.nextIno++
	v.inos[k] = ino
	return ino
}

// fileGen is the inode generation of a file path and the version (ETag)
// it stands for.
type fileGen struct {
	etag string
	gen  uint64
}

// Gen returns the inode generation for file p at version etag: the same
// while the object keeps its ETag, one more each time it changes. The FUSE
// layer gives every generation its own kernel inode (same inode number),
// so each version has its own page cache: a file opened before a change
// keeps reading its own version's pages (or gets ErrStale), never pages
// another opener filled with the new version.
func (v *FS) Gen(p, etag string) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	g, ok := v.gens[p]
	if !ok {
		g = fileGen{etag: etag, gen: 1}
	} else if !SameETag(g.etag, etag) {
		g = fileGen{etag: etag, gen: g.gen + 1}
	}
	v.gens[p] = g
	return g.gen
}

// SameETag compares ETags as OSS writes them, quotes and case aside.
func SameETag(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

func (v *FS) key(p string) string { return v.opts.Prefix + p }

func (v *FS) dirPrefix(dir string) string {
	if dir == "" {
		return v.opts.Prefix
	}
	return v.opts.Prefix + dir + "/"
}

// validName reports whether a key component can be a file name.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 && !strings.ContainsRune(name, 0)
}

func (v *FS) hide(key, why string) {
	v.mu.Lock()
	seen := v.hidden[key]
	if !seen && len(v.hidden) < 100000 {
		v.hidden[key] = true
	}
	v.mu.Unlock()
	if !seen {
		v.log.Warn("key hidden: cannot be a path", "key", key, "reason", why)
	}
}

// lookupEntry finds name in directory dir (Lookup completes links).
func (v *FS) lookupEntry(ctx context.Context, dir, name string) (Entry, error) {
	if !validName(name) {
		return Entry{}, fetcher.ErrNotFound
	}
	p := path.Join(dir, name)
	if e, ok := v.pendingEntry(p); ok { // being written (write.go)
		return e, nil
	}
	now := time.Now()
	v.mu.Lock()
	l := v.dirs[dir]
	hit, hasHit := v.lookups[p]
	v.mu.Unlock()
	if l != nil {
		// A fresh listing answers for every name; one still arriving
		// answers for the names it has (readdirplus looks each one up).
		if e, found, complete := l.find(name, now, v.opts.MetadataTTL); found {
			return e, nil
		} else if complete {
			return Entry{}, fetcher.ErrNotFound
		}
	}
	if hasHit {
		ttl := v.opts.MetadataTTL
		if !hit.found {
			ttl = v.opts.NegativeTTL
		}
		if now.Sub(hit.at) < ttl {
			if !hit.found {
				return Entry{}, fetcher.ErrNotFound
			}
			return hit.entry, nil
		}
	}
	e, err := v.lookupRemote(ctx, p, name)
	if err != nil && !errors.Is(err, fetcher.ErrNotFound) {
		return Entry{}, err
	}
	v.mu.Lock()
	v.lookups[p] = lookupHit{at: time.Now(), entry: e, found: err == nil}
	v.mu.Unlock()
	return e, err
}

// lookupRemote asks the store whether p is a directory (any key under
// "p/") or a file (HEAD p), both at once.
func (v *FS) lookupRemote(ctx context.Context, p, name string) (Entry, error) {
	key := v.key(p)
	var (
		info    fetcher.ObjectInfo
		headErr error
		isDir   bool
		listErr error
		g, gctx = errgroup.WithContext(ctx)
	)
	g.Go(func() error {
		info, headErr = v.lister.Head(gctx, key)
		return nil
	})
	g.Go(func() error {
		page, err := v.lister.List(gctx, key+"/", "", 1)
		listErr = err
		isDir = err == nil && (len(page.Objects) > 0 || len(page.Prefixes) > 0)
		return nil
	})
	_ = g.Wait()
	if isDir {
		return Entry{Name: name, IsDir: true}, nil
	}
	if headErr == nil && isSymlink(info) {
		e := Entry{Name: name, ETag: info.ETag, LastModified: info.LastModified, StorageClass: info.StorageClass, Symlink: true}
		if info.SymlinkTarget != "" {
			e = v.linkEntry(p, e, info.SymlinkTarget)
		}
		return e, nil
	}
	if headErr == nil {
		return Entry{Name: name, Size: info.Size, ETag: info.ETag, LastModified: info.LastModified, StorageClass: info.StorageClass}, nil
	}
	if !errors.Is(headErr, fetcher.ErrNotFound) {
		return Entry{}, headErr
	}
	if listErr != nil {
		return Entry{}, listErr
	}
	return Entry{}, fetcher.ErrNotFound
}

// forget drops cached metadata of file p and its directory.
func (v *FS) forget(p string) {
	v.mu.Lock()
	delete(v.lookups, p)
	delete(v.dirs, dirOf(p))
	v.mu.Unlock()
}

// remember records what an open learnt about file p.
func (v *FS) remember(p string, e Entry) {
	v.mu.Lock()
	v.lookups[p] = lookupHit{at: time.Now(), entry: e, found: true}
	if l := v.dirs[dirOf(p)]; l != nil && l.stale(e) {
		delete(v.dirs, dirOf(p)) // stale listing: list again next time
	}
	v.mu.Unlock()
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// OpenResult tells the adapter how to open the file in the kernel.
type OpenResult struct {
	// KeepCache: the version is the one the kernel may have pages of, so its
	// page cache stays valid.
	KeepCache bool
	// Entry is the file as the open found it (its size may differ from the
	// one the kernel knows).
	Entry Entry
}

// Handle is an open file, bound to one object version.
type Handle struct {
	v      *FS
	path   string
	object *fetcher.Object
	blocks *blockcache.Object // object.Blocks
	ra     fetcher.Readahead
	stale  atomic.Bool
	closed atomic.Bool
}

// OpenVersion opens file p like Open, for a caller (a kernel inode) that
// stands for version etag: if the open finds another version, it fails with
// ErrStale and the caller should be replaced by the new version's (see Gen,
// which already counts the new generation).
func (v *FS) OpenVersion(ctx context.Context, p, etag string) (*Handle, OpenResult, error) {
	h, res, err := v.Open(ctx, p)
	if err != nil {
		return nil, res, err
	}
	if !SameETag(res.Entry.ETag, etag) {
		v.Gen(p, res.Entry.ETag)
		h.Release()
		return nil, OpenResult{}, fmt.Errorf("%w: opened as %s, now %s", ErrStale, etag, res.Entry.ETag)
	}
	return h, res, nil
}

// Open revalidates file p against the store and returns a handle on its
// current version.
func (v *FS) Open(ctx context.Context, p string) (*Handle, OpenResult, error) {
	key := v.key(p)
	cached, haveCached := v.cache.Cached(v.opts.Bucket, key)
	if haveCached && cached.BlockSize != v.opts.BlockSize {
		haveCached = false
	}
	var cond fetcher.Conditions
	if haveCached {
		if v.opts.Revalidate == "mtime" || cached.ETag == "" {
			cond.IfModifiedSince = cached.LastModified
		} else {
			cond.IfNoneMatch = cached.ETag
		}
	}
	res, ver, blocks, err := v.revalidate(ctx, key, cond, cached)
	if err != nil {
		switch {
		case errors.Is(err, fetcher.ErrNotFound):
			v.forget(p)
			v.cache.DropKey(v.opts.Bucket, key)
		case errors.Is(err, fetcher.ErrArchived):
			v.log.Warn("object is in Archive/Cold Archive storage and not restored: restore it (RestoreObject, e.g. `ossutil restore`) before reading", "key", key)
		}
		return nil, OpenResult{}, err
	}
	result := OpenResult{KeepCache: res.NotModified || (haveCached && cached.ID() == ver.ID())}
	result.Entry = Entry{Name: path.Base(p), Size: ver.Size, ETag: ver.ETag, LastModified: ver.LastModified, StorageClass: res.Info.StorageClass}
	if res.NotModified {
		if hit, ok := v.cachedEntry(p); ok {
			result.Entry.StorageClass = hit.StorageClass
		}
	}
	v.remember(p, result.Entry)

	v.mu.Lock()
	oo := v.objects[ver.ID()]
	if oo == nil {
		oo = &openObject{obj: &fetcher.Object{ID: ver.ID(), Key: key, ETag: ver.ETag, Size: ver.Size,
			BlockSize: ver.BlockSize, Blocks: blocks}}
		if !res.NotModified && res.Info.HasCRC64 {
			oo.obj.ServerCRC64, oo.obj.HasServerCRC = res.Info.CRC64, true
		}
		v.objects[ver.ID()] = oo
		if !res.NotModified && int64(len(res.First)) < min(ver.Size, ver.BlockSize) {
			defer v.fetch.SetHead(oo.obj, res.First) // after v.mu is released
		}
	}
	oo.refs++
	v.mu.Unlock()
	h := &Handle{v: v, path: p, object: oo.obj, blocks: blocks}
	if !res.NotModified {
		v.fetch.OpenFetched(&h.ra, oo.obj, int64(len(res.First))) // not cache hits, for stats
	}
	return h, result, nil
}

// maxProbe bounds the open's GET. A whole 1 MiB block at 32 MB/s is 33 ms
// before the first byte can be served; 256 KiB is 8 ms and still covers the
// kernel's first read (its readahead starts small). The rest of block 0 is
// fetched right after (Fetcher.SetHead); small files come whole.
const maxProbe = 256 << 10

func (v *FS) probeBytes() int64 {
	if v.opts.BlockSize <= maxProbe {
		return v.opts.BlockSize
	}
	return maxProbe
}

// revalidate sends the open's request and, when the object is new or
// changed, stores the first block it brought before any opener reads: all
// concurrent opens of the key with the same cached version share this.
func (v *FS) revalidate(ctx context.Context, key string, cond fetcher.Conditions, cached checkpoint.Version) (fetcher.ProbeResult, checkpoint.Version, *blockcache.Object, error) {
	type answer struct {
		res    fetcher.ProbeResult
		ver    checkpoint.Version
		blocks *blockcache.Object
	}
	flight := key + "\x00" + cond.IfNoneMatch + "\x00" + cond.IfModifiedSince.String()
	ch := v.openFlight.DoChan(flight, func() (any, error) {
		res, err := v.fetch.Probe(context.WithoutCancel(ctx), key, cond, v.probeBytes())
		if err != nil {
			return nil, err
		}
		ver := cached
		if !res.NotModified {
			info := res.Info
			ver = checkpoint.Version{Bucket: v.opts.Bucket, Key: key, ETag: info.ETag, Size: info.Size,
				LastModified: info.LastModified.Truncate(time.Second), BlockSize: v.opts.BlockSize}
		}
		blocks, err := v.cache.Object(ver)
		if err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		if !res.NotModified {
			v.cache.DropOthers(ver)
			if ver.Size > 0 && !blocks.Has(0) && int64(len(res.First)) == min(ver.Size, ver.BlockSize) {
				if err := blocks.WriteBlock(0, res.First); err != nil {
					v.log.Debug("cache write of first block failed", "key", key, "err", err)
				}
			}
		}
		return answer{res, ver, blocks}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return fetcher.ProbeResult{}, checkpoint.Version{}, nil, r.Err
		}
		a := r.Val.(answer)
		return a.res, a.ver, a.blocks, nil
	case <-ctx.Done():
		return fetcher.ProbeResult{}, checkpoint.Version{}, nil, ctx.Err()
	}
}

func (v *FS) cachedEntry(p string) (Entry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	hit, ok := v.lookups[p]
	return hit.entry, ok && hit.found
}

// Read reads from the handle's version at off.
func (h *Handle) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if h.stale.Load() {
		// Blocks of this version still in the cache are consistent with
		// what the handle already returned; anything else is gone.
		if n, err := h.object.Blocks.ReadAt(p[:min(int64(len(p)), max(h.object.Size-off, 0))], off); err == nil {
			return n, nil
		}
		return 0, ErrStale
	}
	n, err := h.v.fetch.Read(ctx, h.object, &h.ra, p, off)
	if err != nil && (errors.Is(err, fetcher.ErrChanged) || errors.Is(err, fetcher.ErrNotFound)) {
		h.stale.Store(true)
		h.v.forget(h.path)
		return 0, fmt.Errorf("%w: %w", ErrStale, err)
	}
	return n, err
}

// Backing is a cache file the kernel may read a file from directly; Close
// lets it go.
type Backing = blockcache.Backing

// Backing offers the cache file of the handle's version for the kernel to
// read the file from directly (FUSE passthrough), so that no read reaches
// the daemon. Only a version whose every block is cached and passed its
// CRC check in this mount qualifies (and its whole-object CRC64, when OSS
// sent one): the kernel serves what the file holds and never asks again.
// The version stays pinned in the cache until the Backing is closed. It
// returns nil when the version does not qualify (yet); the handle then
// reads as usual.
func (h *Handle) Backing() *Backing {
	if h.stale.Load() || h.closed.Load() {
		return nil
	}
	h.v.fetch.CheckWholeCRC(h.object)
	b, err := h.blocks.OpenBacking()
	if err != nil {
		if !errors.Is(err, blockcache.ErrNotBackable) {
			h.v.log.Debug("cache file cannot back the file", "key", h.object.Key, "err", err)
		}
		return nil
	}
	return b
}

// BackingProbe opens a file of the cache directory, for the adapter to ask
// the kernel whether it can read files from there directly.
func (v *FS) BackingProbe() (*os.File, error) { return v.cache.ProbeFile() }

// Release closes the handle.
func (h *Handle) Release() {
	if h.closed.Swap(true) {
		return
	}
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	if oo := h.v.objects[h.object.ID]; oo != nil {
		if oo.refs--; oo.refs <= 0 {
			delete(h.v.objects, h.object.ID)
		}
	}
}
