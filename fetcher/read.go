package fetcher

import "context"

// Read fills p from offset off of o, fetching what the cache lacks. ra is the
// caller's readahead state (one per open file handle); nil disables readahead.
// It returns fewer bytes than len(p) only at the end of the object.
func (f *Fetcher) Read(ctx context.Context, o *Object, ra *Readahead, p []byte, off int64) (int, error) {
	if off >= o.Size || len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), o.Size-off)]
	aheadFrom, aheadTo := ra.advance(off, int64(len(p)), o.Size, f.cfg.PartSize, f.cfg.MaxReadahead)
	readAhead := func() {
		if aheadTo > aheadFrom {
			f.startAhead(o, ra, aheadFrom, aheadTo)
		}
	}
	served := func(n int) {
		ahead := ra.fetchedBytes(o, off, int64(n))
		f.aheadBytes.Add(ahead)
		f.hitBytes.Add(int64(n) - ahead)
	}
	n, err := o.Blocks.ReadAt(p, off)
	if err == nil {
		served(n)
		readAhead()
		return n, nil
	}
	if h := o.head.Load(); h != nil && off+int64(len(p)) <= int64(len(*h)) {
		n := copy(p, (*h)[off:])
		f.aheadBytes.Add(int64(n)) // the bytes this open's GET brought
		readAhead()
		return n, nil
	}
	f.missBytes.Add(int64(len(p)))
	if !notCached(err) {
		// The cache disk failed us; the network still can serve the read.
		f.log.Warn("cache read failed, fetching instead", "key", o.Key, "err", err)
	}
	first, last := int(off/o.BlockSize), int((off+int64(len(p))-1)/o.BlockSize)
	ra.markFetched(o, first, last)
	// Demand parts queue for the semaphore before this read's readahead.
	waits := f.start(o, first, last, true)
	defer func() {
		for _, fe := range waits {
			f.release(fe)
		}
	}()
	readAhead()
	for b := first; b <= last; b++ {
		bOff, bLen := o.blockSpan(b)
		lo, hi := max(off, bOff), min(off+int64(len(p)), bOff+bLen)
		dst := p[lo-off : hi-off]
		if err := f.readBlock(ctx, o, b, dst, lo, waits[b]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// startAhead starts reader ra's readahead [from, to), cut to what the
// cache can hold back until it is read (Config.AheadRoom), in whole
// blocks; the reader's next reads start the rest once there is room.
// aheadMu makes "how much room is left" and "take it" one step, so that
// two readers do not both take the same room.
func (f *Fetcher) startAhead(o *Object, ra *Readahead, from, to int64) {
	if f.cfg.AheadRoom == nil {
		first, last := int(from/o.BlockSize), int((to-1)/o.BlockSize)
		ra.markFetched(o, first, last)
		f.start(o, first, last, false)
		return
	}
	f.aheadMu.Lock()
	defer f.aheadMu.Unlock()
	room := f.cfg.AheadRoom() - f.aheadInFlight.Load()
	if fit := (from/o.BlockSize + max(room, 0)/o.BlockSize) * o.BlockSize; fit < to {
		ra.cut(max(fit, from))
		to = fit
	}
	if to > from {
		first, last := int(from/o.BlockSize), int((to-1)/o.BlockSize)
		ra.markFetched(o, first, last)
		f.start(o, first, last, false)
	}
}

// readBlock copies [lo, lo+len(dst)) of block b into dst, from the fetch
// result fe if there is one (the caller's reference), else from the cache,
// else by fetching it.
func (f *Fetcher) readBlock(ctx context.Context, o *Object, b int, dst []byte, lo int64, fe *blockFetch) error {
	bOff, _ := o.blockSpan(b)
	for attempt := 0; ; attempt++ {
		if fe == nil {
			if _, err := o.Blocks.ReadAt(dst, lo); err == nil {
				return nil
			}
			if fe = f.start(o, b, b, true)[b]; fe == nil {
				if attempt < 3 {
					continue // became cached meanwhile: read it from there
				}
				// The cache keeps losing this block (eviction under
				// pressure, or a cache disk that cannot keep it): serve
				// it from a fetch of its own.
				fe = f.startUncached(o, b)
			}
			defer f.release(fe) // runs once: this iteration returns
		}
		if err := fe.wait(ctx); err != nil {
			return err
		}
		copy(dst, fe.data[lo-bOff:])
		if _, bLen := o.blockSpan(b); lo+int64(len(dst)) == bOff+bLen {
			o.Blocks.Served(b, b) // read to its end (perhaps in several reads)
		}
		return nil
	}
}

// ReadCached fills p from offset off of o only from what is cached (or
// what the open brought), never fetching: the reads of a handle whose
// version has changed in the store. It returns false when any of the range
// is not there.
func (f *Fetcher) ReadCached(o *Object, p []byte, off int64) (int, bool) {
	p = p[:min(int64(len(p)), max(o.Size-off, 0))]
	if n, err := o.Blocks.ReadAt(p, off); err == nil {
		return n, true
	}
	if h := o.head.Load(); h != nil && off+int64(len(p)) <= int64(len(*h)) {
		return copy(p, (*h)[off:]), true
	}
	return 0, false
}
