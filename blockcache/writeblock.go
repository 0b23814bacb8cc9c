package blockcache

import (
	"errors"
	"fmt"
	"os"

	"github.com/ossmount/ossmount/crc64ecma"
)

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
