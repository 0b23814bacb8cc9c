// Package blockcache is ossmount's on-disk block store: the blocks of object
// versions, each checked by a CRC64, kept across unmounts and crashes, and
// bounded by an LRU over bytes.
//
// # Layout
//
// Under Options.Dir (0700, refused if it is a symlink, writable by group or
// others, or owned by another user than us or root):
//
//	lock                       flock(2)ed while a Cache is open: one process per dir
//	objects/                   0700
//	objects/ab/                0700, shard: the first two hex digits of the ID
//	objects/ab/<ID>.data       0600, sparse: block i at offset i*BlockSize
//	objects/ab/<ID>.ckpt       0600, the checkpoint (package checkpoint)
//	objects/ab/<ID>.ckpt.tmp*  a checkpoint being rewritten; deleted by Open
//
// ID is version.Version.ID, a hash: no file name contains a key. An object
// version has files only while it has at least one cached block: they are
// created by its first WriteBlock and deleted when its last block goes.
//
// # Durability
//
// WriteBlock pwrites the data, then appends the block's record (with its
// CRC64) to the checkpoint, so a record never precedes its data in the page
// cache: after kill -9 every recorded block is intact. Every 2 s dirty data
// files are fdatasynced, then their checkpoints, so after a power loss a
// recorded block's data is most likely on disk; for the rest, each block
// loaded from disk is read whole and checked against its CRC64 the first
// time this process reads it, and dropped (tombstone, hole punched,
// CRCFailures) on a mismatch. Eviction appends a tombstone before punching
// the hole. A checkpoint that fails validation is deleted with its data file:
// at worst blocks are refetched, never served wrong.
//
// # Why block writes go through the page cache
//
// A block is written with one buffered pwrite, by the part that fetched
// it. Neither of the two ways to make that cost less cut the daemon's CPU
// on a cold sequential read:
//
//   - O_DIRECT writes (no copy into new page-cache pages), built and
//     measured: a cold sequential read reads back, through ReadAt, almost
//     every block its readahead wrote a moment before; with O_DIRECT those
//     reads go to the disk, which costs more than the copy saved. Holding
//     the readahead blocks in the fetcher's memory until their reader
//     takes them, and writing only those with O_DIRECT, removed both the
//     copy in and the copy out, yet cost as much CPU in all (the direct
//     write's own setup, and the copy out of the held buffer), while
//     holding up to a window of blocks in memory and sending later readers
//     (a remount, a passthrough open) to the disk.
//   - Write-behind (blocks written by goroutines of their own, off the
//     part's path, served from memory until written), measured as a
//     prototype without its bound: it takes the write off the part's path
//     but not off the daemon's CPU, which is what the copy costs (it cost
//     a little more, in goroutines and wake-ups), and the memory it holds
//     grows with the blocks waiting for the disk. A cold read is not held
//     up by the write anyway: the part's socket keeps receiving meanwhile.
//
// So the page cache keeps the cache file's recent blocks, which is what
// the reader that follows the readahead, a warm re-read and passthrough
// all want.
//
// # Concurrency and lock order
//
// Locks are always taken in this order:
//
//	Object.fileMu → Object.ckMu → Cache.mu → Object.mu
//
// Object.writeMu is taken with fileMu held shared, around one pwrite, and
// nothing else is taken while it is held.
//
// A goroutine never holds the locks of two objects at once, except that the
// holder of Cache.mu takes the Object.mu of several objects, one after
// another. What each lock guards:
//
//   - Object.fileMu (RWMutex) keeps the object's files open: every pread,
//     pwrite, hole punch and checkpoint append holds it shared, so readers
//     and writers never wait for each other; only opening, closing and
//     deleting the files take it exclusively.
//   - Object.ckMu (RWMutex) makes "append a record + change the block's
//     state" atomic against "snapshot the present blocks + Compact": the
//     former holds it shared, compaction exclusively.
//   - Cache.mu guards the LRU of blocks, the byte accounting, the object maps
//     and the list of objects with open files. Held for map and list
//     operations only.
//   - Object.mu guards the per-block state (absent, writing, present,
//     evicting; verified), CRCs and pin counts. Held for a few loads and
//     stores only.
//
// So no lock that serializes anything is held across a syscall on the read
// and write paths (checkpoint.Log serializes its 16-byte appends itself),
// except writeMu, which makes the writers of one data file take turns as
// the kernel's inode lock would, without spinning; readers never wait for
// it.
//
// Blocks fetched ahead of their reader (WriteBlockAhead) are held back
// from eviction until they are read (ReadAt, or Served when the reader took
// them from the fetch itself), or for aheadHold at most (the reader closed
// the file or stopped): a cache smaller than the readahead would otherwise
// evict them before they are read and fetch them again, over and over. They
// are bounded by half of Capacity less the bytes pinned by Backings;
// beyond that a block is written as an ordinary one, so the cache always
// makes progress.
//
// A block is in the LRU exactly when its state is present: both change
// together under Cache.mu and Object.mu. Eviction picks victims under
// Cache.mu, skipping pinned blocks (ReadAt pins the blocks it reads; an open
// Backing pins every block of its version, see backing.go), marks
// them evicting so that no reader can pin them and no writer rewrite them,
// and writes the tombstones and punches the holes after dropping every lock;
// then they become absent.
//
// # Object lifetime and file descriptors
//
// There is one *Object per version ID. The map from ID to Object is weak:
// the LRU, the per-key index and the open-files list hold objects that have
// blocks or open files; any other object lives only while a caller holds
// it, so memory does not grow with the number of versions ever opened. To
// bound file descriptors, the files of the least recently used objects are
// synced and closed beyond a budget derived from RLIMIT_NOFILE
// (Options.MaxOpenFiles), and those of objects unused for idleClose are
// closed too, so an idle mount holds next to none; files reopen on demand.
// Files in use are never closed: a reader or writer holds Object.fileMu
// shared, and closing only tries the exclusive lock (closeIdle skips an
// object it cannot get). A Backing has a descriptor of its own, which the
// kernel holds until it lets go of the file; the budget does not touch it.
package blockcache

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/errgroup"

	"github.com/ossmount/ossmount/checkpoint"
)

// ErrNotCached means a requested block is not (or no longer) in the cache,
// or failed its CRC check: fetch it. It has a NotCached method, so that a
// consumer that does not import this package (the fetcher) can tell it
// from a failure of the cache disk.
var ErrNotCached error = notCached{}

type notCached struct{}

func (notCached) Error() string   { return "block not cached" }
func (notCached) NotCached() bool { return true }

// defaultLockWait is Options.LockWait's default.
const defaultLockWait = 5 * time.Second

const (
	syncInterval = 2 * time.Second
	statfsEvery  = time.Second
	// compactSlack: a checkpoint is compacted when it holds more than
	// 2*live+compactSlack records.
	compactSlack = 32
)

// Options configure a Cache.
type Options struct {
	// Dir is the cache directory. Created 0700 if missing.
	Dir string
	// MaxBytes bounds the bytes of cached blocks; the least recently used
	// blocks (across all objects) are evicted beyond it. 0 means no bound
	// but MinFree.
	MaxBytes int64
	// MinFree is the free space to leave on Dir's filesystem: blocks are
	// evicted, and writes refused when there is nothing left to evict, to
	// keep it. Checked with statfs at most every second. 0 disables.
	MinFree int64
	// MaxOpenFiles is the budget of file descriptors for cache files (two
	// per object version with open files); 0 means a quarter of
	// RLIMIT_NOFILE, at most maxFDBudget.
	MaxOpenFiles int
	// LockWait is how long Open waits for another process to release the
	// directory (a previous mount still flushing at unmount); 0 means
	// 5 seconds.
	LockWait time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Stats are the cache's counters.
type Stats struct {
	Used        int64 // bytes of cached blocks
	Limit       int64 // Options.MaxBytes
	Blocks      int   // cached blocks
	Objects     int   // object versions with at least one cached block
	Evictions   int64 // blocks evicted to stay within MaxBytes/MinFree
	CRCFailures int64 // blocks dropped because their data failed the CRC check
	WriteErrors int64 // WriteBlock calls that failed (the data was not cached)
	// Backed is the object versions pinned by open Backings (read by the
	// kernel directly), BackingOpens the Backings opened so far.
	Backed       int
	BackingOpens int64
	// AheadBytes is the bytes of blocks fetched ahead of their reader and
	// not read yet, held back from eviction.
	AheadBytes int64
}

type blockKey struct {
	o *Object
	b int
}

type nameKey struct{ bucket, key string }

// Cache is an open cache directory. It is safe for concurrent use.
type Cache struct {
	dir, objDir       string
	maxBytes, minFree int64
	log               *slog.Logger
	lock              *os.File // holds the flock on dir/lock

	mu sync.Mutex
	// maxOpen is how many objects may keep their files open before the
	// least recently used ones are closed.
	maxOpen int
	// lru holds every present block, least recently used first; the value
	// is the block's length. Its count limit is unused: eviction is by bytes.
	lru      *simplelru.LRU[blockKey, int64]
	used     int64 // sum of lru's values
	reserved int64 // bytes of blocks being written: not in lru yet
	fsAvail  int64 // estimate of free bytes on the filesystem (when MinFree > 0)
	// objects maps Version.ID to the one Object of that version. Weak: an
	// object without cached blocks or open files lives only as long as a
	// caller holds it (lru, index and open hold strong references).
	objects map[string]weak.Pointer[Object]
	// index holds, per bucket/key, the versions with at least one block in
	// lru (Object.inLRU > 0); nObjects counts them.
	index    map[nameKey]map[*Object]struct{}
	nObjects int
	// open lists the objects whose files are open, least recently used
	// first, to bound the number of open file descriptors; the value is
	// when the object was last used (UnixNano), for closing idle files.
	open  *simplelru.LRU[*Object, int64]
	clock uint64 // use counter for Object.lastUse
	// pinnedBytes is the bytes of objects pinned whole by Backings (at most
	// maxBytes/2), backedObjects their number.
	pinnedBytes   int64
	backedObjects int
	// ahead holds the present blocks fetched ahead of their reader and not
	// read yet, with when they were written (UnixNano); aheadBytes is
	// their bytes (at most Capacity/2).
	ahead      map[blockKey]int64
	aheadBytes int64

	closed   atomic.Bool
	noPunch  atomic.Bool  // the filesystem cannot punch holes
	statfsAt atomic.Int64 // UnixNano of the last statfs

	evictions, crcFailures, writeErrors atomic.Int64
	backingOpens                        atomic.Int64
	logged                              sync.Map // messages logged once

	kick chan struct{} // wakes the maintenance loop
	stop chan struct{}
	done chan struct{}
}

// Open opens (creating it if needed) the cache directory, validates every
// checkpoint in it, deletes damaged checkpoints with their data, orphan data
// files and left-over temporary files, loads the valid ones into the LRU in
// checkpoint mtime order (oldest first), and evicts down to the limits.
func Open(opts Options) (*Cache, error) {
	if opts.Dir == "" {
		return nil, errors.New("blockcache: no cache directory")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	dir := filepath.Clean(opts.Dir)
	if err := checkDir(dir, true); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir, cmp.Or(opts.LockWait, defaultLockWait), log)
	if err != nil {
		return nil, err
	}
	objDir := filepath.Join(dir, "objects")
	if err := ownDir(objDir); err != nil {
		lock.Close()
		return nil, err
	}
	c := &Cache{
		dir: dir, objDir: objDir, maxBytes: max(opts.MaxBytes, 0), minFree: max(opts.MinFree, 0),
		log: log, lock: lock, maxOpen: max(fdBudget(opts.MaxOpenFiles)/2, 1),
		objects: make(map[string]weak.Pointer[Object]),
		index:   make(map[nameKey]map[*Object]struct{}),
		ahead:   make(map[blockKey]int64),
		kick:    make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	c.lru, _ = simplelru.NewLRU[blockKey, int64](math.MaxInt, nil)
	c.open, _ = simplelru.NewLRU[*Object, int64](math.MaxInt, nil)
	if err := c.scan(); err != nil {
		lock.Close()
		return nil, err
	}
	c.refreshFree(true)
	c.mu.Lock()
	victims := c.evictLocked(0, blockKey{})
	c.mu.Unlock()
	c.evict(victims)
	go c.loop()
	return c, nil
}

// logOnce logs msg at Warn the first time kind is seen, at Debug after.
func (c *Cache) logOnce(kind, msg string, args ...any) {
	if _, seen := c.logged.LoadOrStore(kind, true); seen {
		c.log.Debug(msg, args...)
		return
	}
	c.log.Warn(msg, args...)
}

// Object returns the one shared Object of version v, creating it (without
// any I/O: its files are created by its first WriteBlock) if this process
// has not seen v yet. Every checkpoint on disk was loaded by Open.
func (c *Cache) Object(v checkpoint.Version) (*Object, error) {
	if err := checkpoint.Valid(v); err != nil {
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	id := v.ID()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, fmt.Errorf("blockcache: %w", os.ErrClosed)
	}
	if wp, ok := c.objects[id]; ok {
		if o := wp.Value(); o != nil {
			return o, nil
		}
	}
	return c.newObjectLocked(v, id), nil
}

type objRef struct {
	id string
	wp weak.Pointer[Object]
}

func (c *Cache) newObjectLocked(v checkpoint.Version, id string) *Object {
	shard := filepath.Join(c.objDir, id[:2])
	o := &Object{
		c: c, v: v, id: id, nb: v.NumBlocks(),
		dataPath: filepath.Join(shard, id+".data"),
		ckptPath: filepath.Join(shard, id+".ckpt"),
	}
	wp := weak.Make(o)
	c.objects[id] = wp
	runtime.AddCleanup(o, c.forget, objRef{id, wp})
	return o
}

// forget drops the map entry of a collected Object.
func (c *Cache) forget(r objRef) {
	c.mu.Lock()
	if c.objects[r.id] == r.wp {
		delete(c.objects, r.id)
	}
	c.mu.Unlock()
}

// Cached returns the newest cached version of bucket/key (by LastModified,
// then most recently used) that has at least one block in the cache.
func (c *Cache) Cached(bucket, key string) (checkpoint.Version, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *Object
	for o := range c.index[nameKey{bucket, key}] {
		if best == nil {
			best = o
			continue
		}
		a, b := o.v.LastModified.Unix(), best.v.LastModified.Unix()
		if a > b || a == b && o.lastUse > best.lastUse {
			best = o
		}
	}
	if best == nil {
		return checkpoint.Version{}, false
	}
	return best.v, true
}

// DropOthers removes every cached version of v's bucket/key except v.
func (c *Cache) DropOthers(v checkpoint.Version) { c.drop(v.Bucket, v.Key, v.ID()) }

// DropKey removes every cached version of bucket/key.
func (c *Cache) DropKey(bucket, key string) { c.drop(bucket, key, "") }

func (c *Cache) drop(bucket, key, keep string) {
	c.mu.Lock()
	var objs []*Object
	for o := range c.index[nameKey{bucket, key}] {
		if o.id != keep {
			objs = append(objs, o)
		}
	}
	c.mu.Unlock()
	for _, o := range objs {
		o.Drop()
	}
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Used: c.used, Limit: c.maxBytes, Blocks: c.lru.Len(), Objects: c.nObjects,
		Evictions: c.evictions.Load(), CRCFailures: c.crcFailures.Load(), WriteErrors: c.writeErrors.Load(),
		Backed: c.backedObjects, BackingOpens: c.backingOpens.Load(),
		AheadBytes: c.aheadBytes,
	}
}

// Close stops the background work, syncs every open data file and compacts
// and syncs its checkpoint, and releases the directory. The Cache and its
// Objects are unusable afterwards (reads miss, writes fail).
func (c *Cache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.stop)
	<-c.done
	c.mu.Lock()
	objs := c.open.Keys()
	c.mu.Unlock()
	var (
		g    errgroup.Group
		emu  sync.Mutex
		errs []error
	)
	g.SetLimit(8) // fsyncs overlap well
	for _, o := range objs {
		g.Go(func() error {
			if err := o.closeFiles(true); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	errs = append(errs, c.lock.Close())
	return errors.Join(errs...)
}
