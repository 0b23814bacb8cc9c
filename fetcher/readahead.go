package fetcher

import "sync"

// Readahead is the sequential-read detector and window of one reader (one
// open file handle). The zero value is ready; a nil *Readahead never reads
// ahead.
type Readahead struct {
	mu     sync.Mutex
	next   int64 // offset just after the previous read
	streak int   // consecutive reads that continued the previous one
	window int64 // readahead window in bytes; 0 while the reader looks random
	issued int64 // readahead has been started up to this offset (exclusive)
	// fetched marks the blocks this reader had fetched (by a read that
	// missed, or by its readahead): reading them later is no cache hit,
	// since they were not in the cache when this reader first asked.
	fetched []uint64
}

// markFetched records that this reader started fetching the blocks of
// [first, last] that o's cache does not hold yet.
func (ra *Readahead) markFetched(o *Object, first, last int) {
	ra.mark(o, first, last, true)
}

func (ra *Readahead) mark(o *Object, first, last int, onlyUncached bool) {
	if ra == nil || last < first {
		return
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if words := (o.numBlocks() + 63) / 64; len(ra.fetched) < words {
		ra.fetched = append(ra.fetched, make([]uint64, words-len(ra.fetched))...)
	}
	last = min(last, o.numBlocks()-1)
	if onlyUncached {
		for _, b := range o.Blocks.Missing(first, last) {
			ra.fetched[b/64] |= 1 << (b % 64)
		}
		return
	}
	for b := first; b <= last; b++ {
		ra.fetched[b/64] |= 1 << (b % 64)
	}
}

// fetchedBytes returns how many bytes of [off, off+n) lie in blocks this
// reader had fetched.
func (ra *Readahead) fetchedBytes(o *Object, off, n int64) int64 {
	if ra == nil || n <= 0 {
		return 0
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	var sum int64
	for b := int(off / o.BlockSize); b <= int((off+n-1)/o.BlockSize); b++ {
		if b/64 < len(ra.fetched) && ra.fetched[b/64]&(1<<(b%64)) != 0 {
			bOff, bLen := o.blockSpan(b)
			sum += min(off+n, bOff+bLen) - max(off, bOff)
		}
	}
	return sum
}

// pending returns the range readahead started that the reader has not
// reached.
func (ra *Readahead) pending() (from, to int64) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return ra.next, ra.issued
}

// cut lowers the end of the readahead started to at (the rest was not
// started after all).
func (ra *Readahead) cut(at int64) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.issued = min(ra.issued, at)
}

// advance records a read of n bytes at off and returns the byte range to
// fetch ahead of it, if any (empty when from >= to).
func (ra *Readahead) advance(off, n, size, partSize, maxWindow int64) (from, to int64) {
	if ra == nil {
		return 0, 0
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	// How far a read may land from where the previous one ended and still
	// count as sequential: the kernel issues readahead reads concurrently, so
	// they arrive slightly out of order (mountpoint-s3 tolerates similar
	// distances). Half a part forward, a quarter back.
	back, forward := partSize/4, partSize/2
	seq := (ra.next == 0 && ra.streak == 0 && off == 0) ||
		(ra.next > 0 && off >= ra.next-back && off <= ra.next+forward)
	if seq {
		ra.streak++
	} else {
		ra.streak, ra.window, ra.issued = 0, 0, 0
	}
	end := off + n
	if end > ra.next || !seq {
		ra.next = end
	}
	if maxWindow <= 0 {
		return 0, 0 // no readahead at all
	}
	// Start reading ahead at the start of a file, or after two sequential reads.
	if ra.window == 0 && seq && (off == 0 || ra.streak >= 2) {
		ra.window = min(partSize, maxWindow)
	}
	if ra.window == 0 {
		return 0, 0
	}
	// Refill when less than half a window is left ahead of the reader,
	// and, once the window holds several parts, as soon as a whole part
	// fits again: a sequential reader then keeps about window/partSize
	// parts in flight (refilling at half a window kept only three
	// quarters of them busy on average; the link sat idle).
	if ra.issued-ra.next > max(ra.window-partSize, ra.window/2) {
		return 0, 0
	}
	from = max(ra.issued, ra.next)
	to = min(ra.next+ra.window, size)
	ra.issued = to
	ra.window = min(ra.window*2, maxWindow)
	return from, to
}
