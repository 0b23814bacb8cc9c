package blockcache

import (
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ossmount/ossmount/checkpoint"
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
	// do not: a small saving of daemon CPU on cold reads (see
	// docs/performance.md).
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
