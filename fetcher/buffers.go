package fetcher

import (
	"context"
	"sync/atomic"
)

type blockKey struct {
	version string
	block   int
}

// blockFetch is one block being fetched. done is closed once data or err is
// set; both are immutable afterwards.
//
// data is a block buffer (Fetcher.spare), lent to the readers of the entry.
// refs counts who may still read it: the part, until it resolves the entry,
// and each reader that start handed the entry to, until it releases it. The
// last one gives data back for reuse. Readers are only added while the entry
// is in Fetcher.inflight (under Fetcher.mu), and the part removes it from
// there before it drops its own reference, so refs never rises from zero.
type blockFetch struct {
	done chan struct{}
	data []byte
	err  error
	refs atomic.Int32
}

// newBlockFetch returns an entry with refs references.
func newBlockFetch(refs int32) *blockFetch {
	fe := &blockFetch{done: make(chan struct{})}
	fe.refs.Store(refs)
	return fe
}

// wait waits for the fetch (or for ctx) and returns its error.
func (fe *blockFetch) wait(ctx context.Context) error {
	select {
	case <-fe.done:
		return fe.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release drops one reference to fe; fe.data must not be read after it.
func (f *Fetcher) release(fe *blockFetch) {
	if fe.refs.Add(-1) == 0 && fe.data != nil {
		f.putBlockBuf(fe.data)
	}
}

// getBlockBuf returns a buffer of n bytes (arbitrary contents): a spare one
// if it is big enough, else a new one. New ones are made to size: the last
// block of a small object does not need a whole block's memory.
func (f *Fetcher) getBlockBuf(n int64) []byte {
	select {
	case b := <-f.spare:
		if int64(cap(b)) >= n {
			return b[:n]
		}
	default:
	}
	return make([]byte, n)
}

// putBlockBuf keeps b as a spare if there is room, else leaves it to the
// garbage collector. A buffer given back while no part runs (a reader's
// last reference dropped after the last part ended, a written file seeded)
// empties the spares, so an idle mount keeps none whichever comes last.
func (f *Fetcher) putBlockBuf(b []byte) {
	defer func() {
		if f.active.Load() == 0 {
			f.dropSpares()
		}
	}()
	if f.poisonFreed && len(b) > 0 {
		b[0] = 0xA5
		for i := 1; i < len(b); i *= 2 {
			copy(b[i:], b[:i])
		}
	}
	select {
	case f.spare <- b[:cap(b)]:
	default:
	}
}

// dropSpares leaves the spare buffers to the garbage collector: called when
// no part is running, so that an idle mount does not keep them.
func (f *Fetcher) dropSpares() {
	for {
		select {
		case <-f.spare:
		default:
			return
		}
	}
}
