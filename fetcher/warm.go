package fetcher

import "context"

// Warm fetches every block of o that is not cached (`ossmount warm`), with
// the same parts, coalescing and shared semaphore as readers: a reader of
// the same object waits on Warm's fetches instead of duplicating them. It
// keeps a window of MaxReadahead bytes of parts ahead of the block it waits
// for, started a whole part at a time so parts keep their full size.
//
// progress, if not nil, gets after each block the bytes of o done so far
// (cached or fetched) and, of those, the bytes that were cached already
// when Warm started. Cancelling ctx stops Warm from waiting and from
// starting parts; parts already running finish into the cache, so what was
// fetched stays cached.
func (f *Fetcher) Warm(ctx context.Context, o *Object, progress func(done, cached int64)) error {
	n := o.numBlocks()
	wasCached := make([]bool, n)
	for b := range wasCached {
		wasCached[b] = true
	}
	for _, b := range o.Blocks.Missing(0, n-1) {
		wasCached[b] = false
	}
	partBlocks := int(max(f.cfg.PartSize/o.BlockSize, 1))
	window := max(int(f.cfg.MaxReadahead/o.BlockSize), partBlocks)
	ahead := 0 // blocks [0, ahead) have been started (or were cached)
	var done, cached int64
	for b := 0; b < n; b++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for ahead < n && ahead < b+window {
			to := min(ahead+partBlocks, n)
			f.start(o, ahead, to-1, false)
			ahead = to
		}
		// In flight: its entry; cached: nil; lost meanwhile (evicted, or
		// its part failed): a fetch of its own.
		if fe := f.start(o, b, b, true)[b]; fe != nil {
			err := fe.wait(ctx)
			f.release(fe)
			if err != nil {
				return err
			}
		}
		o.Blocks.Served(b, b) // nobody needs it held back for a read
		_, bLen := o.blockSpan(b)
		done += bLen
		if wasCached[b] {
			cached += bLen
		}
		if progress != nil {
			progress(done, cached)
		}
	}
	return nil
}
