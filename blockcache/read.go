package blockcache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/ossmount/ossmount/crc64ecma"
)

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
