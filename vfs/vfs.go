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
// listing is fresh, or still arriving and has the name, or is being read
// by an open directory handle and has the name (however old), is answered
// from it, so `ls -l` sends no HEAD per file, however slow. A lookup otherwise sends a HEAD
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
// already carries the first bytes, which the fetcher takes (Fetcher.Seed:
// it is the cache's only writer) so that no byte is fetched twice. One
// function owns all of this, openVersion (open.go), the only caller of
// Fetcher.Probe. So the cache only serves blocks of a version that passed
// revalidation since the mount started. A handle is bound to the version
// it opened: its part GETs carry If-Match, and once the object changes
// under it, its uncached reads fail with ErrStale.
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
// the name up again and opens the new generation's inode. The adapter keeps
// each generation's attributes those of its version and asks Current
// whether the path still is that version: ErrStale once a lookup (at most
// MetadataTTL old) found another.
//
// The version a lookup found is also what an open checks the cache
// against: a cached version with another ETag is not revalidated but
// fetched anew, and a 304 that names another ETag than the cached
// version's is not believed (If-Modified-Since has one-second
// resolution). An empty version is asked for without a Range (none can be
// satisfied) and remembered (FS.empties), so that its reopen is a
// conditional request like any other's.
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
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/store"
	"github.com/ossmount/ossmount/version"
)

// Lister is what the namespace needs from the object store.
type Lister = store.Lister

// ErrStale: the object changed since the file was opened. Besides it, the
// core returns the fetcher's errors (store.ErrNotFound, ...).
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
	// empties are the empty versions opens found, by key: an empty object
	// has no block to cache, yet its reopen is a conditional request like
	// any other's (bounded by maxEmpties; the key's next open replaces or
	// drops its entry).
	empties map[string]version.Version

	// reading: dir path → the listings its open DirReaders return → how
	// many readers (dir.go). Guarded by mu.
	reading map[string]map[*listing]int

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
		opts.BlockSize = config.DefaultBlockSize
	}
	return &FS{
		opts: opts, lister: lister, fetch: fetch, cache: cache, log: opts.Logger,
		mounted: time.Now(),
		dirs:    make(map[string]*listing),
		reading: make(map[string]map[*listing]int),
		lookups: make(map[string]lookupHit),
		inos:    map[inoKey]uint64{{"", true}: 1},
		nextIno: 2,
		objects: make(map[string]*openObject),
		hidden:  make(map[string]bool),
		gens:    make(map[string]fileGen),
		empties: make(map[string]version.Version),
	}
}

// maxEmpties bounds FS.empties.
const maxEmpties = 100000

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
	} else if !store.SameETag(g.etag, etag) {
		g = fileGen{etag: etag, gen: g.gen + 1}
	}
	v.gens[p] = g
	return g.gen
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
		return Entry{}, store.ErrNotFound
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
			return Entry{}, store.ErrNotFound
		}
	}
	if hasHit {
		ttl := v.opts.MetadataTTL
		if !hit.found {
			ttl = v.opts.NegativeTTL
		}
		if now.Sub(hit.at) < ttl {
			if !hit.found {
				return Entry{}, store.ErrNotFound
			}
			return hit.entry, nil
		}
	}
	// A directory being read answers for the names it is returning, even
	// past the TTL (see dir.go). Asked only now: the fresh listing and the
	// lookup cache answer most lookups.
	v.mu.Lock()
	reading := v.beingReadLocked(dir)
	isRead := v.readWithEntriesLocked(p)
	v.mu.Unlock()
	for _, rl := range reading {
		if e, ok := rl.has(name); ok {
			return e, nil
		}
	}
	if isRead {
		return Entry{Name: name, IsDir: true}, nil
	}
	e, err := v.lookupRemote(ctx, p, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
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
		info    store.ObjectInfo
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
		return entryOf(name, info), nil
	}
	if !errors.Is(headErr, store.ErrNotFound) {
		return Entry{}, headErr
	}
	if listErr != nil {
		return Entry{}, listErr
	}
	return Entry{}, store.ErrNotFound
}

// forget drops cached metadata of file p and its directory.
func (v *FS) forget(p string) {
	v.mu.Lock()
	delete(v.lookups, p)
	delete(v.dirs, DirOf(p))
	v.mu.Unlock()
}

// remember records what an open learnt about file p.
func (v *FS) remember(p string, e Entry) {
	v.mu.Lock()
	v.lookups[p] = lookupHit{at: time.Now(), entry: e, found: true}
	if l := v.dirs[DirOf(p)]; l != nil && l.stale(e) {
		delete(v.dirs, DirOf(p)) // stale listing: list again next time
	}
	v.mu.Unlock()
}

// DirOf is the path of p's parent directory ("" for the root and its
// children; the root's ".." is the root itself).
func DirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}
