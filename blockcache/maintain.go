package blockcache

import (
	"time"

	"golang.org/x/sys/unix"
)

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
