package vfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/store"
)

// Handle is an open file, bound to one object version.
type Handle struct {
	v      *FS
	path   string
	object *fetcher.Object
	blocks *blockcache.Object // object.Blocks
	ra     fetcher.Readahead
	stale  atomic.Bool
	closed atomic.Bool
}

// Read reads from the handle's version at off.
func (h *Handle) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if h.stale.Load() {
		// Blocks of this version still in the cache are consistent with
		// what the handle already returned; anything else is gone.
		if n, ok := h.v.fetch.ReadCached(h.object, p, off); ok {
			return n, nil
		}
		return 0, ErrStale
	}
	n, err := h.v.fetch.Read(ctx, h.object, &h.ra, p, off)
	if err != nil && (errors.Is(err, store.ErrChanged) || errors.Is(err, store.ErrNotFound)) {
		h.stale.Store(true)
		h.v.forget(h.path)
		return 0, fmt.Errorf("%w: %w", ErrStale, err)
	}
	return n, err
}

// Backing is a cache file the kernel may read a file from directly; Close
// lets it go.
type Backing = blockcache.Backing

// Backing offers the cache file of the handle's version for the kernel to
// read the file from directly (FUSE passthrough), so that no read reaches
// the daemon. Only a version whose every block is cached and passed its
// CRC check in this mount qualifies (and its whole-object CRC64, when OSS
// sent one): the kernel serves what the file holds and never asks again.
// The version stays pinned in the cache until the Backing is closed. It
// returns nil when the version does not qualify (yet); the handle then
// reads as usual.
func (h *Handle) Backing() *Backing {
	if h.stale.Load() || h.closed.Load() {
		return nil
	}
	h.v.fetch.CheckWholeCRC(h.object)
	b, err := h.blocks.OpenBacking()
	if err != nil {
		if !errors.Is(err, blockcache.ErrNotBackable) {
			h.v.log.Debug("cache file cannot back the file", "key", h.object.Key, "err", err)
		}
		return nil
	}
	return b
}

// BackingProbe opens a file of the cache directory, for the adapter to ask
// the kernel whether it can read files from there directly.
func (v *FS) BackingProbe() (*os.File, error) { return v.cache.ProbeFile() }

// Release closes the handle.
func (h *Handle) Release() {
	if h.closed.Swap(true) {
		return
	}
	h.v.fetch.ReleaseReadahead(h.object, &h.ra)
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	if oo := h.v.objects[h.object.ID]; oo != nil {
		if oo.refs--; oo.refs <= 0 {
			delete(h.v.objects, h.object.ID)
		}
	}
}
