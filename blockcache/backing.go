package blockcache

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// Backing files: handing a version's data file to the kernel.
//
// With FUSE passthrough (Linux 6.9+) the kernel reads an open file straight
// from a "backing" file, without a round trip to the daemon for each read.
// A data file can back a version only when every block of it is present and
// has passed its CRC check in this process: the kernel serves a hole as
// zeros and never asks us. And it must stay that way for as long as the
// kernel holds it, so a version with an open Backing is pinned whole:
//
//   - eviction skips all its blocks (no hole is punched),
//   - a block that fails a later check (Verify) drops the whole version, which
//     deletes the files rather than punching a hole,
//   - WriteBlock never rewrites a present block.
//
// Deleting the files (Drop, Clear, a newer version) is safe: the kernel keeps
// reading the deleted file, whose bytes are still the version's, and a later
// WriteBlock creates a new file under the same name.
//
// Pinned bytes are capped at half of MaxBytes, so the blocks of everything
// else always have at least the other half and the cache stays within
// MaxBytes.

// ErrNotBackable means the version cannot back a file now: not every block
// is cached and checked in this process, or pinning it would exceed the
// budget for pinned bytes.
var ErrNotBackable = errors.New("blockcache: version not wholly cached and checked, or over the pinned budget")

// Backing is a read-only descriptor of a wholly cached version's data file,
// pinning the version until Close.
type Backing struct {
	o    *Object
	f    *os.File
	once sync.Once
}

// OpenBacking opens the data file of a version whose every block is present
// and checked in this process, and pins the version (see above). It returns
// ErrNotBackable if the version does not qualify.
func (o *Object) OpenBacking() (*Backing, error) {
	c := o.c
	if c.closed.Load() {
		return nil, fmt.Errorf("blockcache: %w", os.ErrClosed)
	}
	// fileMu shared: the files are neither deleted nor replaced while the
	// path is opened, so the descriptor is this version's current file.
	o.fileMu.RLock()
	defer o.fileMu.RUnlock()
	if !o.onDisk || !o.pinWhole() {
		return nil, ErrNotBackable
	}
	f, err := os.Open(o.dataPath)
	if err != nil {
		o.unpinWhole()
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	c.backingOpens.Add(1)
	return &Backing{o: o, f: f}, nil
}

// pinWhole pins the version if every block is present and verified and the
// pinned budget allows it.
func (o *Object) pinWhole() bool {
	c := o.c
	c.mu.Lock()
	defer c.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state == nil || o.nPresent != o.nb {
		return false
	}
	for _, st := range o.state {
		if st != stPresent|flVerified {
			return false
		}
	}
	if o.backed == 0 {
		if c.maxBytes > 0 && c.pinnedBytes+o.presentBytes > c.maxBytes/2 {
			return false
		}
		o.pinnedBytes = o.presentBytes
		c.pinnedBytes += o.pinnedBytes
		c.backedObjects++
	}
	o.backed++
	return true
}

func (o *Object) unpinWhole() {
	c := o.c
	c.mu.Lock()
	o.mu.Lock()
	if o.backed--; o.backed == 0 {
		c.pinnedBytes -= o.pinnedBytes
		o.pinnedBytes = 0
		c.backedObjects--
	}
	o.mu.Unlock()
	c.mu.Unlock()
}

// Fd returns the descriptor, valid until Close.
func (b *Backing) Fd() int { return int(b.f.Fd()) }

// Close closes the descriptor and unpins the version, which counts as used
// now (the kernel read it without telling us).
func (b *Backing) Close() error {
	var err error
	b.once.Do(func() {
		err = b.f.Close()
		o := b.o
		o.unpinWhole()
		if !o.c.closed.Load() {
			o.c.touch(o, 0, o.nb-1, o.nb-1)
		}
	})
	return err
}

// ProbeFile opens a regular file of the cache directory read-only, for a
// caller that wants to know whether files there can back FUSE files.
func (c *Cache) ProbeFile() (*os.File, error) {
	return os.Open(c.lock.Name())
}
