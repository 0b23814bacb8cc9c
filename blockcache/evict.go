package blockcache

import (
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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
