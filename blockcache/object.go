package blockcache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/checkpoint"
	"github.com/ossmount/ossmount/crc64ecma"
	"github.com/ossmount/ossmount/internal/durable"
)

// Block states (Object.state, low bits) and flags.
const (
	stAbsent   uint8 = iota
	stWriting        // WriteBlock in progress: not readable, not writable by others
	stPresent        // in the LRU and in the checkpoint
	stEvicting       // taken out of the LRU; tombstone and hole punch pending
	stMask     uint8 = 3
	flVerified uint8 = 4 // data checked against its CRC64 in this process
)

var (
	errNoFiles = errors.New("no cache files")              // the object has no files on disk
	errDropped = errors.New("blocks dropped while pinned") // Drop ran during a ReadAt
)

// Object is the cache of one object version. It is shared (one per version
// ID) and safe for concurrent use.
type Object struct {
	c                  *Cache
	v                  checkpoint.Version
	id                 string
	nb                 int
	dataPath, ckptPath string

	// fileMu guards data, log and onDisk. Held shared across every I/O on
	// the files (it never makes readers or writers wait for each other),
	// exclusively to open, close or delete them.
	fileMu sync.RWMutex
	data   *os.File        // nil until needed, or after closeFiles
	log    *checkpoint.Log // nil until needed, or after closeFiles
	onDisk bool            // the files exist (created and not deleted)
	dirty  atomic.Bool     // data or log written since the last sync
	// writeMu makes the block writes of one data file take turns. The
	// kernel runs buffered writes to a file one at a time anyway (under
	// the inode lock), where waiting writers may spin; parked here they
	// do not. A small gain: 2.27-2.34 against 2.35-2.39 s of daemon CPU
	// per cold GiB, in alternating runs of both builds on the bench link.
	// (What pwrite costs swings far more with this VM's price of new
	// page-cache pages: 0.3 to 1.9 s per GiB for the same build.)
	writeMu sync.Mutex

	// ckMu: shared around "append a record + update the block's state",
	// exclusive around "snapshot the present blocks + Compact", so that a
	// compacted checkpoint never loses a concurrent append.
	ckMu sync.RWMutex

	// mu guards the fields below; never held across I/O or while taking
	// another lock.
	mu    sync.Mutex
	state []uint8  // per block; nil until the first write or load
	crc   []uint64 // per block CRC64-ECMA, valid while present
	pins  map[int]int32
	// verifying holds, per block being CRC-checked by one reader, a
	// channel closed when that check ends: concurrent first readers of a
	// block (the kernel sends several reads of one block at once) wait for
	// it instead of each reading and checking the whole block again.
	verifying    map[int]chan struct{}
	nPresent     int   // blocks in stPresent
	presentBytes int64 // their bytes
	nBusy        int   // blocks in stWriting or stEvicting
	// gen counts file deletions (Drop): a reader that pinned blocks in one
	// generation must not read the files of the next. Changed with both
	// fileMu (exclusive) and mu held, so either protects a read.
	gen uint64

	// lastBad is 1 + the last block dropped by a failed CRC check (for
	// Verify's report); 0 if none.
	lastBad atomic.Int64

	// backed counts the open Backings (backing.go); while it is above 0
	// every block stays present: eviction skips the object and a failed
	// check drops it whole. pinnedBytes is what it added to
	// Cache.pinnedBytes. Changed with Cache.mu held too.
	backed      int
	pinnedBytes int64

	// Guarded by Cache.mu.
	inLRU   int    // blocks of this object in the LRU (== nPresent, once settled)
	lastUse uint64 // Cache.clock at the last read or write
}

// alloc allocates the per-block arrays. o.mu held.
func (o *Object) alloc() {
	if o.state == nil {
		o.state = make([]uint8, o.nb)
		o.crc = make([]uint64, o.nb)
	}
}

// Has reports whether block is cached.
func (o *Object) Has(block int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return block >= 0 && block < len(o.state) && o.state[block]&stMask == stPresent
}

// Missing returns the blocks in [first, last] (clipped to the object) that
// are not cached.
func (o *Object) Missing(first, last int) []int {
	first, last = max(first, 0), min(last, o.nb-1)
	var out []int
	o.mu.Lock()
	defer o.mu.Unlock()
	for b := first; b <= last; b++ {
		if o.state == nil || o.state[b]&stMask != stPresent {
			out = append(out, b)
		}
	}
	return out
}

// CachedBytes returns the bytes of the object's cached blocks.
func (o *Object) CachedBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.presentBytes
}

// CRC64 returns the CRC64-ECMA of the whole object, combined from the block
// CRCs, once every block is cached.
func (o *Object) CRC64() (uint64, bool) {
	o.mu.Lock()
	if o.nPresent != o.nb {
		o.mu.Unlock()
		return 0, false
	}
	crcs := slices.Clone(o.crc)
	o.mu.Unlock()
	_, last := o.v.BlockRange(o.nb - 1)
	return combineBlocks(crcs, o.v.BlockSize, last), true
}

var bufPool sync.Pool // *[]byte, for whole-block verification reads

func getBuf(n int64) *[]byte {
	if p, _ := bufPool.Get().(*[]byte); p != nil && int64(cap(*p)) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n)
	return &b
}

// ReadAt reads [off, off+len(p)) clipped to the object's size, only if
// every block it touches is cached; otherwise it returns ErrNotCached and
// reads nothing. A clipped read returns io.EOF with the bytes it read. The
// first read of a block loaded from disk checks the whole block against
// its CRC64; a mismatch drops the block and returns ErrNotCached. Other
// disk errors are returned wrapped.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blockcache: negative offset %d", off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= o.v.Size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), o.v.Size)
	first, last := int(off/o.v.BlockSize), int((end-1)/o.v.BlockSize)

	var unvBuf [4]int
	unverified := unvBuf[:0]
	o.mu.Lock()
	if o.state == nil {
		o.mu.Unlock()
		return 0, ErrNotCached
	}
	for b := first; b <= last; b++ {
		if o.state[b]&stMask != stPresent {
			o.mu.Unlock()
			return 0, ErrNotCached
		}
	}
	if o.pins == nil {
		o.pins = make(map[int]int32)
	}
	gen := o.gen
	for b := first; b <= last; b++ {
		o.pins[b]++
		if o.state[b]&flVerified == 0 {
			unverified = append(unverified, b)
		}
	}
	o.mu.Unlock()

	bad, err := o.readPinned(p[:end-off], off, first, last, unverified, gen)

	o.mu.Lock()
	for b := first; b <= last; b++ {
		if o.pins[b]--; o.pins[b] == 0 {
			delete(o.pins, b)
		}
	}
	o.mu.Unlock()

	switch {
	case errors.Is(err, errDropped):
		return 0, ErrNotCached
	case errors.Is(err, errNoFiles) || errors.Is(err, fs.ErrNotExist):
		// The data file is gone: nothing of this object can be served.
		o.c.logOnce("lost", "cache: data file missing; dropping its blocks", "key", o.v.Key, "file", o.dataPath)
		o.Drop()
		return 0, ErrNotCached
	case errors.Is(err, os.ErrClosed) && o.c.closed.Load():
		return 0, ErrNotCached
	case err != nil:
		return 0, fmt.Errorf("blockcache: reading %s: %w", o.dataPath, err)
	case len(bad) > 0:
		o.dropBad(bad)
		return 0, ErrNotCached
	}
	// A block read ahead counts as read once the read reaches its end
	// (a reader may take a block in several reads).
	servedTo := last
	if _, lastEnd := o.v.BlockRange(last); end < int64(last)*o.v.BlockSize+lastEnd {
		servedTo--
	}
	o.c.touch(o, first, last, servedTo)
	if n := int(end - off); n < len(p) {
		return n, io.EOF
	}
	return len(p), nil
}

// readPinned fills p (already clipped) from the data file. Blocks in
// unverified are read whole and checked; those that fail (or are short) are
// returned in bad and p is not filled.
func (o *Object) readPinned(p []byte, off int64, first, last int, unverified []int, gen uint64) (bad []int, err error) {
	rel, err := o.acquire(false, false)
	if err != nil {
		return nil, err
	}
	defer rel()
	if o.gen != gen {
		return nil, errDropped // the files holding these blocks are gone
	}
	end := off + int64(len(p))
	done := unverified[:0:0] // verified and copied here
	for _, b := range unverified {
		o.mu.Lock()
		want, verified := o.crc[b], o.state[b]&flVerified != 0
		wait := o.verifying[b]
		if !verified && wait == nil {
			if o.verifying == nil {
				o.verifying = make(map[int]chan struct{})
			}
			o.verifying[b] = make(chan struct{})
		}
		o.mu.Unlock()
		switch {
		case verified:
			continue // another reader checked it meanwhile
		case wait != nil:
			// Another reader is checking it; the pin keeps it in place.
			<-wait
			o.mu.Lock()
			ok := o.state[b]&flVerified != 0
			o.mu.Unlock()
			if !ok {
				bad = append(bad, b)
			}
			continue
		}
		good, err := o.verifyBlock(p, off, b, want)
		o.mu.Lock()
		if good && o.state[b]&stMask == stPresent {
			o.state[b] |= flVerified
		}
		ch := o.verifying[b]
		delete(o.verifying, b)
		o.mu.Unlock()
		close(ch)
		switch {
		case err != nil:
			return nil, err
		case !good:
			bad = append(bad, b)
		default:
			done = append(done, b)
		}
	}
	if len(bad) > 0 {
		return bad, nil
	}
	// The rest, in runs of consecutive blocks not copied above.
	for b := first; b <= last; {
		if slices.Contains(done, b) {
			b++
			continue
		}
		e := b
		for e < last && !slices.Contains(done, e+1) {
			e++
		}
		lo := max(off, int64(b)*o.v.BlockSize)
		hi := min(end, int64(e+1)*o.v.BlockSize)
		if k, rerr := o.data.ReadAt(p[lo-off:hi-off], lo); rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return nil, rerr
			}
			// The file is shorter than blocks we recorded: truncated
			// behind our back. Those blocks are gone.
			for x := int((lo + int64(k)) / o.v.BlockSize); x <= e; x++ {
				bad = append(bad, x)
			}
			return bad, nil
		}
		b = e + 1
	}
	return nil, nil
}

// verifyBlock reads block b whole, checks it against want and, if good,
// copies its part of [off, off+len(p)) into p.
func (o *Object) verifyBlock(p []byte, off int64, b int, want uint64) (good bool, err error) {
	bOff, bLen := o.v.BlockRange(b)
	bp := getBuf(bLen)
	defer bufPool.Put(bp)
	buf := *bp
	k, rerr := o.data.ReadAt(buf, bOff)
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return false, rerr
	}
	if int64(k) != bLen || crc64ecma.Checksum(buf) != want {
		return false, nil
	}
	end := off + int64(len(p))
	lo, hi := max(off, bOff), min(end, bOff+bLen)
	copy(p[lo-off:hi-off], buf[lo-bOff:hi-bOff])
	return true, nil
}

// dropBad drops blocks whose data failed the check, so they are refetched.
func (o *Object) dropBad(bad []int) {
	c := o.c
	var victims []blockKey
	c.mu.Lock()
	o.mu.Lock()
	// A version the kernel reads directly (an open Backing) goes whole:
	// deleting its files leaves the kernel its copy, where a punched hole
	// would read as zeros.
	whole := o.backed > 0
	for _, b := range bad {
		if o.state[b]&stMask == stPresent {
			victims = append(victims, blockKey{o, b})
			if !whole {
				_, n := o.v.BlockRange(b)
				o.evictingLocked(b, n)
				c.removeLocked(blockKey{o, b}, n)
			}
		}
	}
	o.mu.Unlock()
	c.mu.Unlock()
	for _, k := range victims {
		c.crcFailures.Add(1)
		o.lastBad.Store(int64(k.b) + 1)
		c.log.Warn("cache: cached block failed its CRC64 check; dropped, will refetch", "key", o.v.Key, "etag", o.v.ETag, "block", k.b, "whole_version", whole)
	}
	if whole {
		o.Drop()
		return
	}
	c.evict(victims)
}

// touch marks blocks [first, last] as just used, and those up to servedTo
// as read (see Served).
func (c *Cache) touch(o *Object, first, last, servedTo int) {
	c.mu.Lock()
	for b := first; b <= last; b++ {
		k := blockKey{o, b}
		if n, ok := c.lru.Get(k); ok && b <= servedTo {
			c.servedLocked(k, n)
		}
	}
	c.clock++
	o.lastUse = c.clock
	c.usedLocked(o)
	var victims []blockKey
	if c.overLocked(0) { // pins may have held eviction back
		victims = c.evictLocked(0, blockKey{})
	}
	c.mu.Unlock()
	c.evict(victims)
}

// evictingLocked moves a present block to evicting. o.mu held.
func (o *Object) evictingLocked(b int, n int64) {
	o.state[b] = stEvicting
	o.nPresent--
	o.presentBytes -= n
	o.nBusy++
}

// Served tells the cache that blocks [first, last] were read (taken from
// their fetch rather than through ReadAt), or will not be by the reader
// they were fetched ahead of: they are evicted as any other from now on.
func (o *Object) Served(first, last int) {
	c := o.c
	c.mu.Lock()
	for b := max(first, 0); b <= min(last, o.nb-1); b++ {
		k := blockKey{o, b}
		if _, ok := c.ahead[k]; ok {
			_, n := o.v.BlockRange(b)
			c.servedLocked(k, n)
		}
	}
	c.mu.Unlock()
}

// WriteBlockAhead is WriteBlock for a block fetched ahead of its reader:
// it is held back from eviction until it is read (see Served), so that a
// cache smaller than the readahead does not lose it first.
func (o *Object) WriteBlockAhead(block int, data []byte) error {
	return o.write(block, data, true)
}

// WriteBlock stores block (len(data) must be the block's length: BlockSize,
// or less for the last block). It pwrites the data, then records it in the
// checkpoint, then makes it readable, evicting other blocks as needed. It
// returns nil without storing anything if the block is already cached or
// another goroutine is storing, evicting or reading it. On failure (disk
// full, read-only, directory gone, MinFree) it returns the error and counts
// it in WriteErrors; the cache goes on working.
func (o *Object) WriteBlock(block int, data []byte) error {
	return o.write(block, data, false)
}

// write is WriteBlock, or WriteBlockAhead with ahead.
func (o *Object) write(block int, data []byte, ahead bool) error {
	off, n := o.v.BlockRange(block)
	if n == 0 {
		return fmt.Errorf("blockcache: block %d out of range [0,%d)", block, o.nb)
	}
	if int64(len(data)) != n {
		return fmt.Errorf("blockcache: block %d is %d bytes, got %d", block, n, len(data))
	}
	c := o.c
	if c.closed.Load() {
		return fmt.Errorf("blockcache: %w", os.ErrClosed)
	}
	o.mu.Lock()
	o.alloc()
	if o.state[block] != stAbsent || o.pins[block] > 0 {
		o.mu.Unlock()
		return nil
	}
	o.state[block] = stWriting
	o.nBusy++
	o.mu.Unlock()

	crc := crc64ecma.Checksum(data)
	victims, err := c.reserve(n)
	c.evict(victims)
	if err == nil {
		victims, err = o.store(block, off, data, crc, ahead)
		if err != nil {
			c.unreserve(n)
		}
		c.evict(victims) // pinned blocks held an earlier eviction back
	}
	if err != nil {
		o.mu.Lock()
		o.state[block] = stAbsent
		o.nBusy--
		empty := o.nPresent == 0 && o.nBusy == 0
		o.mu.Unlock()
		if empty {
			o.deleteIfEmpty()
		}
		if !errors.Is(err, os.ErrClosed) {
			c.writeFailed(o, block, err)
		}
		return err
	}
	return nil
}

// store does WriteBlock's I/O and commits the block. It returns blocks to
// evict once the caller holds no lock.
func (o *Object) store(b int, off int64, data []byte, crc uint64, ahead bool) ([]blockKey, error) {
	rel, err := o.acquire(true, true)
	if err != nil {
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	defer rel()
	o.writeMu.Lock()
	_, err = o.data.WriteAt(data, off)
	o.writeMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	o.dirty.Store(true)
	o.ckMu.RLock()
	defer o.ckMu.RUnlock()
	if err := o.log.Add(b, crc); err != nil {
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	c := o.c
	n := int64(len(data))
	c.mu.Lock()
	defer c.mu.Unlock()
	o.mu.Lock()
	o.state[b] = stPresent | flVerified
	o.crc[b] = crc
	o.nPresent++
	o.presentBytes += n
	o.nBusy--
	o.mu.Unlock()
	c.reserved -= n
	c.addLocked(o, b, n)
	if ahead {
		c.holdAheadLocked(blockKey{o, b}, n)
	}
	c.usedLocked(o)
	if c.overLocked(0) {
		// Pinned blocks held the eviction in reserve back: try again,
		// but not with the block just written.
		return c.evictLocked(0, blockKey{o, b}), nil
	}
	return nil, nil
}

// acquire makes sure the object's data file (and checkpoint, if needLog)
// are open, creating them if create is set and they do not exist, and
// returns with fileMu held shared; call release when done.
func (o *Object) acquire(needLog, create bool) (release func(), err error) {
	o.fileMu.RLock()
	for o.data == nil || needLog && o.log == nil {
		o.fileMu.RUnlock()
		o.fileMu.Lock()
		err := o.openLocked(needLog, create)
		o.fileMu.Unlock()
		if err != nil {
			return nil, err
		}
		o.fileMu.RLock()
	}
	return o.fileMu.RUnlock, nil
}

// openLocked opens (or creates) the files. fileMu held exclusively.
func (o *Object) openLocked(needLog, create bool) error {
	c := o.c
	if c.closed.Load() {
		return os.ErrClosed
	}
	if !o.onDisk {
		if !create {
			return errNoFiles
		}
		// Fresh files: nothing of this version is cached, so whatever
		// may be at these paths is garbage. Checkpoint first: a crash
		// before the data file is truncated leaves an empty checkpoint.
		// Unsynced: losing a new checkpoint in a power failure costs a
		// refetch, and a stale one coming back is caught by the CRC
		// check; two fsyncs per new object would not be free.
		if err := os.Mkdir(filepath.Dir(o.dataPath), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		l, err := checkpoint.CreateUnsynced(o.ckptPath, o.v)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(o.dataPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			l.Close()
			os.Remove(o.ckptPath)
			return err
		}
		o.data, o.log, o.onDisk = f, l, true
		c.opened(o)
		return nil
	}
	wasOpen := o.data != nil
	if o.data == nil {
		f, err := os.OpenFile(o.dataPath, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		o.data = f
	}
	if needLog && o.log == nil {
		l, _, err := checkpoint.Load(o.ckptPath, o.v)
		if err != nil {
			// Damaged or gone while its blocks are in memory: rewrite it
			// from memory (which is what it must say anyway).
			c.logOnce("reckpt", "cache: rewriting a checkpoint", "file", o.ckptPath, "err", err)
			if l, err = checkpoint.Create(o.ckptPath, o.v); err == nil {
				if err = l.Compact(o.snapshot()); err != nil {
					l.Close()
				}
			}
			if err != nil {
				return err
			}
		}
		o.log = l
	}
	if !wasOpen {
		c.opened(o)
	}
	return nil
}

// snapshot returns the present blocks and their CRCs.
func (o *Object) snapshot() map[int]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := make(map[int]uint64, o.nPresent)
	for b, st := range o.state {
		if st&stMask == stPresent {
			m[b] = o.crc[b]
		}
	}
	return m
}

// removeBlocks finishes the eviction of blocks (in stEvicting): tombstones,
// then holes. The caller holds no lock.
func (o *Object) removeBlocks(blocks []int) {
	c := o.c
	rel, err := o.acquire(true, false)
	switch {
	case err == nil:
		o.ckMu.RLock()
		for _, b := range blocks {
			if err := o.log.Remove(b); err != nil {
				c.logOnce("tombstone", "cache: cannot record an eviction", "key", o.v.Key, "err", err)
			}
		}
		o.ckMu.RUnlock()
		o.dirty.Store(true)
		if !c.noPunch.Load() {
			for _, b := range blocks {
				off, n := o.v.BlockRange(b)
				if err := punch(o.data, off, n); err != nil {
					if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
						c.noPunch.Store(true)
						c.logOnce("punch", "cache: the filesystem cannot punch holes; evicting whole objects instead", "dir", c.dir)
						break
					}
					c.logOnce("punch:"+err.Error(), "cache: punching a hole failed", "key", o.v.Key, "err", err)
				}
			}
		}
		rel()
	case errors.Is(err, errNoFiles) || errors.Is(err, os.ErrClosed):
	default:
		c.logOnce("evict", "cache: cannot open files to evict", "key", o.v.Key, "err", err)
	}
	o.mu.Lock()
	for _, b := range blocks {
		if o.state[b]&stMask == stEvicting {
			o.state[b] = stAbsent
			o.nBusy--
		}
	}
	empty := o.nPresent == 0 && o.nBusy == 0
	o.mu.Unlock()
	if empty {
		o.deleteIfEmpty()
	}
}

func punch(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	if err := rc.Control(func(fd uintptr) {
		perr = unix.Fallocate(int(fd), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}); err != nil {
		return err
	}
	return perr
}

// deleteIfEmpty deletes the files of an object that has no block left.
func (o *Object) deleteIfEmpty() {
	o.fileMu.Lock()
	defer o.fileMu.Unlock()
	o.mu.Lock()
	empty := o.nPresent == 0 && o.nBusy == 0
	o.mu.Unlock()
	if empty && !o.c.closed.Load() {
		o.deleteFilesLocked()
	}
}

// deleteFilesLocked closes and deletes the files. fileMu held exclusively.
func (o *Object) deleteFilesLocked() {
	wasOpen := o.data != nil || o.log != nil
	if o.data != nil {
		o.data.Close()
		o.data = nil
	}
	if o.log != nil {
		o.log.Close()
		o.log = nil
	}
	if o.onDisk {
		o.c.remove(o.ckptPath) // first: a data file alone is an orphan
		o.c.remove(o.dataPath)
		o.onDisk = false
	}
	o.mu.Lock()
	o.gen++
	o.mu.Unlock()
	o.dirty.Store(false)
	if wasOpen {
		o.c.closedFiles(o)
	}
}

// Drop removes every block and the files of this version. The Object stays
// usable: a later WriteBlock starts afresh.
func (o *Object) Drop() {
	c := o.c
	o.fileMu.Lock()
	defer o.fileMu.Unlock()
	c.mu.Lock()
	o.mu.Lock()
	for b, st := range o.state {
		if st&stMask == stPresent {
			o.state[b] = stAbsent
			_, n := o.v.BlockRange(b)
			c.removeLocked(blockKey{o, b}, n)
		}
	}
	o.nPresent, o.presentBytes = 0, 0
	o.mu.Unlock()
	c.mu.Unlock()
	o.deleteFilesLocked()
}

// sync makes the object's writes durable: data first, then the
// checkpoint; and compacts the checkpoint when it is mostly garbage.
func (o *Object) sync() error {
	o.fileMu.RLock()
	defer o.fileMu.RUnlock()
	if o.data == nil {
		return nil
	}
	if o.dirty.Swap(false) {
		if err := durable.Fdatasync(o.data); err != nil {
			o.dirty.Store(true)
			return err
		}
		if o.log != nil {
			if err := o.log.Sync(); err != nil {
				o.dirty.Store(true)
				return err
			}
		}
	}
	if o.log == nil {
		return nil
	}
	o.mu.Lock()
	live := o.nPresent
	o.mu.Unlock()
	if o.log.Records() <= 2*live+compactSlack {
		return nil
	}
	o.ckMu.Lock()
	defer o.ckMu.Unlock()
	snap := o.snapshot()
	// Data of every listed block first, so the compacted file, durable at
	// once, lists no block whose data is still only in memory.
	if err := durable.Fdatasync(o.data); err != nil {
		return err
	}
	return o.log.Compact(snap)
}

// closeFiles syncs and closes the files (they are reopened on demand).
// The checkpoint is compacted if it holds garbage and final is set (at
// Close), or if it is mostly garbage.
func (o *Object) closeFiles(final bool) error {
	o.fileMu.Lock()
	defer o.fileMu.Unlock()
	return o.closeFilesLocked(final)
}

// closeFilesIfUnused closes the files like closeFiles, unless a read or a
// write holds them now (closed is then false, and nothing waits).
func (o *Object) closeFilesIfUnused() (closed bool, err error) {
	if !o.fileMu.TryLock() {
		return false, nil
	}
	defer o.fileMu.Unlock()
	return true, o.closeFilesLocked(false)
}

// closeFilesLocked is closeFiles with fileMu held exclusively.
func (o *Object) closeFilesLocked(final bool) error {
	if o.data == nil && o.log == nil {
		return nil
	}
	var errs []error
	if o.data != nil && o.dirty.Load() {
		errs = append(errs, durable.Fdatasync(o.data))
	}
	if o.log != nil {
		// No append can run: they hold fileMu shared.
		snap := o.snapshot()
		if r := o.log.Records(); r > len(snap) && (final || r > 2*len(snap)+compactSlack) {
			errs = append(errs, o.log.Compact(snap))
		} else if o.dirty.Load() {
			errs = append(errs, o.log.Sync())
		}
		errs = append(errs, o.log.Close())
		o.log = nil
	}
	if o.data != nil {
		errs = append(errs, o.data.Close())
		o.data = nil
	}
	o.dirty.Store(false)
	o.c.closedFiles(o)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blockcache: closing %s: %w", o.ckptPath, err)
	}
	return nil
}
