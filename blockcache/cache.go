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
// ID is checkpoint.Version.ID, a hash: no file name contains a key. An object
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
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"weak"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/checkpoint"
)

// ErrNotCached means a requested block is not (or no longer) in the cache,
// or failed its CRC check: fetch it.
var ErrNotCached = errors.New("block not cached")

// lockWait is how long Open waits for another process to release the
// directory (a previous mount still flushing at unmount).
var lockWait = 5 * time.Second

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
	lock, err := lockDir(dir, log)
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

// checkDir makes sure dir is a real directory that only we (or root) can
// write, creating it 0700 if it is missing and create is set.
func checkDir(dir string, create bool) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("blockcache: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("blockcache: %s is a symbolic link; give the real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("blockcache: %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("blockcache: %s is writable by group or others (mode %04o); chmod go-w it", dir, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("blockcache: %s is owned by uid %d, not by this user (uid %d) or root", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// ownDir makes sure dir (one of ours) exists, is a directory and is 0700.
func ownDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blockcache: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("blockcache: %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("blockcache: %w", err)
		}
	}
	return nil
}

// lockDir takes an exclusive flock on dir/lock, waiting up to lockWait for
// a previous process (one still flushing at unmount) to let go.
func lockDir(dir string, log *slog.Logger) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for waited := false; ; waited = true {
		var lerr error
		if err := rc.Control(func(fd uintptr) { lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) }); err != nil {
			lerr = err
		}
		switch {
		case lerr == nil:
			return f, nil
		case !errors.Is(lerr, unix.EWOULDBLOCK):
			f.Close()
			return nil, fmt.Errorf("blockcache: locking %s: %w", dir, lerr)
		case time.Now().After(deadline):
			f.Close()
			return nil, fmt.Errorf("blockcache: %s is in use by another ossmount process", dir)
		case !waited:
			log.Info("cache directory is locked by another process; waiting", "dir", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// maxFDBudget caps the default budget of cache file descriptors: past a
// few hundred objects, reopening a file costs less than the descriptors
// an idle mount would hold.
const maxFDBudget = 1024

// idleClose: the files of an object unused this long are closed.
var idleClose = time.Minute

// fdBudget is the number of file descriptors cache files may hold: n, or
// a quarter of the soft RLIMIT_NOFILE (which the Go runtime raises to the
// hard limit at start), between 16 and maxFDBudget.
func fdBudget(n int) int {
	if n > 0 {
		return n
	}
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 256
	}
	return int(min(max(r.Cur/4, 16), maxFDBudget))
}

func isID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// scanned is one checkpoint found by scan.
type scanned struct {
	id, ckpt, data string
	mtime          time.Time
	v              checkpoint.Version
	blocks         map[int]uint64
}

// scan loads every valid checkpoint under objDir (see Open).
func (c *Cache) scan() error {
	shards, err := os.ReadDir(c.objDir)
	if err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	var found []*scanned
	datas := map[string]string{}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		shDir := filepath.Join(c.objDir, sh.Name())
		ents, err := os.ReadDir(shDir)
		if err != nil {
			c.log.Warn("cache: cannot read a shard directory", "dir", shDir, "err", err)
			continue
		}
		for _, e := range ents {
			name, p := e.Name(), filepath.Join(shDir, e.Name())
			id, ext, _ := strings.Cut(name, ".")
			switch {
			case strings.Contains(name, ".tmp"):
				c.remove(p)
			case !e.Type().IsRegular() || !isID(id) || id[:2] != sh.Name():
			case ext == "ckpt":
				found = append(found, &scanned{id: id, ckpt: p})
			case ext == "data":
				datas[id] = p
			}
		}
	}
	var g errgroup.Group
	g.SetLimit(max(4, runtime.GOMAXPROCS(0)))
	for _, s := range found {
		s.data = datas[s.id]
		g.Go(func() error { c.validate(s); return nil })
	}
	g.Wait()
	valid := found[:0]
	for _, s := range found {
		if s.blocks != nil {
			valid = append(valid, s)
			delete(datas, s.id)
		}
	}
	for _, p := range datas {
		c.remove(p) // orphan: no valid checkpoint
	}
	slices.SortStableFunc(valid, func(a, b *scanned) int { return a.mtime.Compare(b.mtime) })

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range valid {
		o := c.newObjectLocked(s.v, s.id)
		o.onDisk = true
		o.alloc()
		idx := make([]int, 0, len(s.blocks))
		for b := range s.blocks {
			idx = append(idx, b)
		}
		slices.Sort(idx)
		for _, b := range idx {
			_, n := s.v.BlockRange(b)
			o.state[b] = stPresent // not verified: checked on first read
			o.crc[b] = s.blocks[b]
			o.nPresent++
			o.presentBytes += n
			c.addLocked(o, b, n)
		}
	}
	if len(valid) > 0 {
		c.log.Info("cache loaded", "dir", c.dir, "objects", len(valid), "blocks", c.lru.Len(), "bytes", c.used)
	}
	return nil
}

// validate loads one checkpoint; it leaves s.blocks nil (and deletes the
// files) unless the checkpoint is valid and lists at least one block.
func (c *Cache) validate(s *scanned) {
	discard := func() {
		c.remove(s.ckpt)
		if s.data != "" {
			c.remove(s.data)
		}
	}
	fi, err := os.Stat(s.ckpt)
	if err == nil {
		s.mtime = fi.ModTime()
		s.v, err = checkpoint.ReadHeader(s.ckpt)
	}
	if err == nil && s.v.ID() != s.id {
		err = fmt.Errorf("%w: header does not match the file name", checkpoint.ErrCorrupt)
	}
	var blocks map[int]uint64
	if err == nil {
		var l *checkpoint.Log
		l, blocks, err = checkpoint.Load(s.ckpt, s.v)
		if err == nil {
			l.Close()
		}
	}
	if err != nil {
		c.log.Warn("cache: discarding a damaged checkpoint and its blocks", "file", s.ckpt, "err", err)
		discard()
		return
	}
	if s.data == "" || len(blocks) == 0 {
		discard() // nothing usable
		return
	}
	s.blocks = blocks
}

func (c *Cache) remove(p string) {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.logOnce("remove", "cache: cannot delete a file", "file", p, "err", err)
	}
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
	if err := v.Valid(); err != nil {
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

// addLocked puts a present block into the LRU as the most recently used.
func (c *Cache) addLocked(o *Object, b int, n int64) {
	c.lru.Add(blockKey{o, b}, n)
	c.used += n
	if o.inLRU++; o.inLRU == 1 {
		nk := nameKey{o.v.Bucket, o.v.Key}
		m := c.index[nk]
		if m == nil {
			m = make(map[*Object]struct{})
			c.index[nk] = m
		}
		m[o] = struct{}{}
		c.nObjects++
	}
	c.clock++
	o.lastUse = c.clock
}

// removeLocked takes a block out of the LRU.
func (c *Cache) removeLocked(k blockKey, n int64) {
	if !c.lru.Remove(k) {
		return
	}
	c.servedLocked(k, n)
	c.used -= n
	o := k.o
	if o.inLRU--; o.inLRU == 0 {
		nk := nameKey{o.v.Bucket, o.v.Key}
		delete(c.index[nk], o)
		if len(c.index[nk]) == 0 {
			delete(c.index, nk)
		}
		c.nObjects--
	}
}

// overLocked reports whether the cache, with extra more bytes, is beyond
// MaxBytes or would leave less than MinFree free.
func (c *Cache) overLocked(extra int64) bool {
	return c.maxBytes > 0 && c.used+c.reserved+extra > c.maxBytes ||
		c.minFree > 0 && c.fsAvail-extra < c.minFree
}

// evictLocked picks least recently used, unpinned blocks (never spare)
// until the cache fits extra more bytes, marks them evicting and takes them
// out of the LRU. The caller must pass the victims to evict once it holds
// no lock.
func (c *Cache) evictLocked(extra int64, spare blockKey) []blockKey {
	var victims []blockKey
	for tries := c.lru.Len(); tries > 0 && c.overLocked(extra); tries-- {
		k, n, ok := c.lru.GetOldest()
		if !ok {
			break
		}
		if at, ok := c.ahead[k]; ok {
			if now := time.Now().UnixNano(); now-at < int64(aheadHold) {
				c.lru.Get(k) // not read yet: about to be
				continue
			}
			c.servedLocked(k, n) // its reader went away
		}
		o := k.o
		o.mu.Lock()
		if o.pins[k.b] > 0 || o.backed > 0 || k == spare {
			o.mu.Unlock()
			c.lru.Get(k) // being read (or just written): recently used indeed
			continue
		}
		o.evictingLocked(k.b, n)
		var more []int
		if c.noPunch.Load() {
			// Without hole punching only deleting the files frees space:
			// evict the whole object.
			for b, st := range o.state {
				if st&stMask == stPresent && o.pins[b] == 0 {
					_, bn := o.v.BlockRange(b)
					o.evictingLocked(b, bn)
					more = append(more, b)
				}
			}
		}
		o.mu.Unlock()
		for _, b := range append(more, k.b) {
			_, bn := o.v.BlockRange(b)
			c.removeLocked(blockKey{o, b}, bn)
			victims = append(victims, blockKey{o, b})
			c.evictions.Add(1)
			c.fsAvail += bn
		}
	}
	return victims
}

// aheadHold bounds how long a block fetched ahead is held back from
// eviction while nobody reads it.
var aheadHold = 30 * time.Second

// Capacity is how many bytes of blocks the cache can hold now: MaxBytes,
// or the cached bytes plus the free space above MinFree if that is less.
// bounded is false when neither limit is set.
func (c *Cache) Capacity() (n int64, bounded bool) {
	c.refreshFree(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.capacityLocked()
}

func (c *Cache) capacityLocked() (n int64, bounded bool) {
	n = math.MaxInt64
	if c.maxBytes > 0 {
		n, bounded = c.maxBytes, true
	}
	if c.minFree > 0 {
		n, bounded = min(n, max(c.used+c.fsAvail-c.minFree, 0)), true
	}
	return n, bounded
}

// AheadRoom is how many more bytes of blocks read ahead the cache can hold
// back until they are read (see aheadCapLocked), less those it holds.
func (c *Cache) AheadRoom() int64 {
	c.refreshFree(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.aheadCapLocked()-c.aheadBytes, 0)
}

// aheadCapLocked bounds the bytes held back for readers: half of what the
// cache can hold besides the versions pinned for passthrough, so that
// eviction always has the other half to work with.
func (c *Cache) aheadCapLocked() int64 {
	capacity, _ := c.capacityLocked()
	return max(capacity-c.pinnedBytes, 0) / 2
}

// holdAheadLocked records block k (n bytes, just made present) as fetched
// ahead of its reader, if that keeps such blocks within half the capacity.
func (c *Cache) holdAheadLocked(k blockKey, n int64) {
	if c.aheadBytes+n > c.aheadCapLocked() {
		return
	}
	if _, ok := c.ahead[k]; !ok {
		c.ahead[k] = time.Now().UnixNano()
		c.aheadBytes += n
	}
}

// servedLocked lets block k (n bytes) be evicted as any other: it was read.
func (c *Cache) servedLocked(k blockKey, n int64) {
	if _, ok := c.ahead[k]; ok {
		delete(c.ahead, k)
		c.aheadBytes -= n
	}
}

// evict writes the tombstones of victims (picked by evictLocked) and
// punches their holes. The caller holds no lock.
func (c *Cache) evict(victims []blockKey) {
	for len(victims) > 0 {
		o := victims[0].o
		var blocks []int
		rest := victims[:0]
		for _, k := range victims {
			if k.o == o {
				blocks = append(blocks, k.b)
			} else {
				rest = append(rest, k)
			}
		}
		victims = rest
		o.removeBlocks(blocks)
	}
}

// reserve accounts for a block of n bytes about to be written, picking
// victims to make room (evict them, even on error).
func (c *Cache) reserve(n int64) ([]blockKey, error) {
	c.refreshFree(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, fmt.Errorf("blockcache: %w", os.ErrClosed)
	}
	if c.maxBytes > 0 && n > c.maxBytes {
		return nil, fmt.Errorf("blockcache: a %d-byte block does not fit in a %d-byte cache: %w", n, c.maxBytes, syscall.EFBIG)
	}
	victims := c.evictLocked(n, blockKey{})
	if c.minFree > 0 && c.fsAvail-n < c.minFree {
		return victims, fmt.Errorf("blockcache: %d bytes free in %s, keeping min_free %d: %w", c.fsAvail, c.dir, c.minFree, syscall.ENOSPC)
	}
	c.reserved += n
	c.fsAvail -= n
	return victims, nil
}

// unreserve returns a reservation that was not written.
func (c *Cache) unreserve(n int64) {
	c.mu.Lock()
	c.reserved -= n
	c.fsAvail += n
	c.mu.Unlock()
}

// refreshFree updates the free-space estimate with statfs, at most every
// statfsEvery unless forced. Between calls, reservations and evictions keep
// the estimate current.
func (c *Cache) refreshFree(force bool) {
	if c.minFree <= 0 {
		return
	}
	now, last := time.Now().UnixNano(), c.statfsAt.Load()
	if !force && now-last < int64(statfsEvery) || !c.statfsAt.CompareAndSwap(last, now) {
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.objDir, &st); err != nil {
		c.logOnce("statfs", "cache: statfs failed", "dir", c.dir, "err", err)
		return
	}
	c.mu.Lock()
	c.fsAvail = int64(st.Bavail) * st.Bsize
	c.mu.Unlock()
}

// writeFailed counts and logs (once per kind of error) a failed WriteBlock.
func (c *Cache) writeFailed(o *Object, b int, err error) {
	c.writeErrors.Add(1)
	kind := "other"
	var errno syscall.Errno
	if errors.As(err, &errno) {
		kind = errno.Error()
	}
	c.logOnce("write:"+kind, "cache write failed; serving without caching (logged once per kind of error)",
		"kind", kind, "key", o.v.Key, "block", b, "err", err)
}

// usedLocked marks o's open files as just used. c.mu held.
func (c *Cache) usedLocked(o *Object) {
	if c.open.Contains(o) {
		c.open.Add(o, time.Now().UnixNano())
	}
}

// opened records that o's files are open, and wakes the maintenance loop
// when too many are.
func (c *Cache) opened(o *Object) {
	c.mu.Lock()
	c.open.Add(o, time.Now().UnixNano())
	over := c.open.Len() > c.maxOpen
	c.mu.Unlock()
	if over {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

func (c *Cache) closedFiles(o *Object) {
	c.mu.Lock()
	c.open.Remove(o)
	c.mu.Unlock()
}

// loop is the maintenance goroutine: periodic syncs and compaction, closing
// idle files, and keeping MinFree.
func (c *Cache) loop() {
	defer close(c.done)
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
			c.closeIdle(time.Time{})
		case <-t.C:
			c.maintain()
		}
	}
}

func (c *Cache) maintain() {
	c.mu.Lock()
	objs := c.open.Keys()
	c.mu.Unlock()
	for _, o := range objs {
		if err := o.sync(); err != nil {
			c.logOnce("sync", "cache: sync failed", "key", o.v.Key, "err", err)
		}
	}
	c.closeIdle(time.Now().Add(-idleClose))
	if c.minFree > 0 {
		c.refreshFree(true)
		c.mu.Lock()
		victims := c.evictLocked(0, blockKey{})
		c.mu.Unlock()
		c.evict(victims)
	}
}

// closeIdle closes the files of the least recently used objects while more
// than maxOpen objects have theirs open, and those last used before
// idleSince. An object in use (its files held by a read or a write) is
// skipped and counts as just used.
func (c *Cache) closeIdle(idleSince time.Time) {
	c.mu.Lock()
	tries := c.open.Len()
	c.mu.Unlock()
	for ; tries > 0; tries-- {
		c.mu.Lock()
		o, usedAt, ok := c.open.GetOldest()
		if !ok || c.open.Len() <= c.maxOpen && usedAt >= idleSince.UnixNano() {
			c.mu.Unlock()
			return
		}
		c.open.Remove(o)
		c.mu.Unlock()
		closed, err := o.closeFilesIfUnused()
		if err != nil {
			c.logOnce("close", "cache: closing files failed", "key", o.v.Key, "err", err)
		}
		if !closed {
			c.mu.Lock()
			c.open.Add(o, time.Now().UnixNano())
			c.mu.Unlock()
		}
	}
}

// OpenFiles returns the number of object versions whose cache files are
// open now, and the budget (Options.MaxOpenFiles) in versions.
func (c *Cache) OpenFiles() (open, budget int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open.Len(), c.maxOpen
}
