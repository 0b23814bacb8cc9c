package fetcher

import (
	"errors"
	"fmt"
	"io"

	"github.com/ossmount/ossmount/internal/retry"
	"github.com/ossmount/ossmount/store"
)

// start makes sure every block in [first, last] that is not cached has an
// in-flight fetch, planning new parts over runs of the blocks that have
// none. With want it returns the in-flight entries of those blocks, each
// with a reference the caller must release; without, the parts it starts
// are readahead (their blocks are held in the cache until read).
func (f *Fetcher) start(o *Object, first, last int, want bool) map[int]*blockFetch {
	return f.startParts(o, first, last, want, !want)
}

// startParts is start, with ahead saying whether new parts are readahead.
func (f *Fetcher) startParts(o *Object, first, last int, want, ahead bool) map[int]*blockFetch {
	last = min(last, o.numBlocks()-1)
	var waits map[int]*blockFetch
	maxRun := int(max(f.cfg.PartSize/o.BlockSize, 1))
	type run struct {
		first   int
		entries []*blockFetch
	}
	var runs []run
	f.mu.Lock()
	// Under mu: a part removes a block's entry only once the block is
	// cached (or failed), so a block is never missed between the two.
	missing := o.Blocks.Missing(first, last)
	for b := first; b <= last; b++ {
		isMissing := len(missing) > 0 && missing[0] == b
		if isMissing {
			missing = missing[1:]
		}
		k := blockKey{o.ID, b}
		fe, ok := f.inflight[k]
		if !ok {
			if !isMissing {
				continue // cached
			}
			fe = newBlockFetch(1) // the part's reference
			f.inflight[k] = fe
			if n := len(runs); n > 0 && runs[n-1].first+len(runs[n-1].entries) == b && len(runs[n-1].entries) < maxRun {
				runs[n-1].entries = append(runs[n-1].entries, fe)
			} else {
				runs = append(runs, run{first: b, entries: []*blockFetch{fe}})
			}
		}
		if want {
			if waits == nil {
				waits = make(map[int]*blockFetch)
			}
			fe.refs.Add(1)
			waits[b] = fe
		}
	}
	f.mu.Unlock()
	for _, r := range runs {
		if ahead {
			lo, _ := o.blockSpan(r.first)
			hiOff, hiLen := o.blockSpan(r.first + len(r.entries) - 1)
			f.aheadInFlight.Add(hiOff + hiLen - lo)
		}
		f.wg.Add(1)
		go f.runPart(o, r.first, r.entries, true, ahead)
	}
	return waits
}

// startUncached fetches block b for one reader without registering it for
// others: the fallback when the cache cannot hold the block. The caller
// must release the entry.
func (f *Fetcher) startUncached(o *Object, b int) *blockFetch {
	fe := newBlockFetch(2) // the part's and the caller's
	f.wg.Add(1)
	go f.runPart(o, b, []*blockFetch{fe}, false, false)
	return fe
}

// part is the state of one part being fetched: which block is being filled
// and how far. Owned by its runPart goroutine.
type part struct {
	f          *Fetcher
	o          *Object
	first      int
	entries    []*blockFetch
	registered bool // entries are in f.inflight
	ahead      bool // readahead: no reader asked for these blocks (yet)

	cur  int    // block being filled
	buf  []byte // its bytes: from getBlockBuf, until handed to the entry
	fill int    // bytes of buf received
	pos  int64  // next object offset to receive
	end  int64  // last object offset of the part (inclusive)
}

// prefill starts block 0 with what the open's GET brought of it
// (Object.head), so that the part's GET asks only for the rest.
func (pt *part) prefill() {
	if pt.cur != 0 {
		return
	}
	if h := pt.o.head.Load(); h != nil && len(*h) < len(pt.buf) {
		pt.fill = copy(pt.buf, *h)
		pt.pos = int64(pt.fill)
	}
}

// room is where the next body bytes go.
func (pt *part) room() []byte { return pt.buf[pt.fill:] }

// received accounts n bytes written into room(); a full block is stored in
// the cache and handed to its waiters.
func (pt *part) received(n int) {
	pt.fill += n
	pt.pos += int64(n)
	if pt.fill < len(pt.buf) {
		return
	}
	data := pt.buf
	pt.buf = nil
	pt.f.cacheBlock(pt.o, pt.cur, data, pt.ahead)
	if pt.cur == 0 {
		pt.o.head.Store(nil) // block 0 is here (cached, or handed to its waiters)
	}
	pt.resolve(data, nil)
	pt.cur++
	if pt.cur < pt.first+len(pt.entries) {
		_, l := pt.o.blockSpan(pt.cur)
		pt.buf, pt.fill = pt.f.getBlockBuf(l), 0
	}
}

// resolve hands the current block's outcome to its waiters, and lets go of
// the entry: from here on only its waiters keep the block's bytes alive, so
// a part holds one block buffer at a time, not all of its blocks (else a
// cold sequential read keeps every part's blocks live, most of them
// already cached).
func (pt *part) resolve(data []byte, err error) {
	i := pt.cur - pt.first
	fe := pt.entries[i]
	pt.entries[i] = nil
	if pt.registered {
		pt.f.mu.Lock()
		delete(pt.f.inflight, blockKey{pt.o.ID, pt.cur})
		pt.f.mu.Unlock()
	}
	fe.data, fe.err = data, err
	close(fe.done)
	pt.f.release(fe)
	if pt.ahead {
		_, n := pt.o.blockSpan(pt.cur)
		pt.f.aheadInFlight.Add(-n) // held by the cache now, or lost
	}
}

// fail resolves every block not yet delivered with err.
func (pt *part) fail(err error) {
	pt.f.errs.Add(1)
	for ; pt.cur < pt.first+len(pt.entries); pt.cur++ {
		pt.resolve(nil, err)
	}
}

// runPart fetches the blocks of entries (first, first+1, ...) of o with one
// ranged GET, more on retries, resolving each entry as its block completes.
func (f *Fetcher) runPart(o *Object, first int, entries []*blockFetch, registered, ahead bool) {
	defer f.wg.Done()
	pt := &part{f: f, o: o, first: first, entries: entries, registered: registered, ahead: ahead, cur: first}
	pt.pos, _ = o.blockSpan(first)
	lastOff, lastLen := o.blockSpan(first + len(entries) - 1)
	pt.end = lastOff + lastLen - 1
	if err := f.sem.Acquire(f.ctx, 1); err != nil {
		pt.fail(err)
		return
	}
	defer f.sem.Release(1)
	f.active.Add(1)
	defer func() { // after the buffer below is given back
		if f.active.Add(-1) == 0 {
			f.dropSpares()
		}
	}()
	// The first buffer is taken only now: parts queued for the semaphore
	// (readahead runs far ahead) hold no memory.
	_, l := o.blockSpan(first)
	pt.buf = f.getBlockBuf(l)
	pt.prefill()
	defer func() {
		if pt.buf != nil { // a block left unfinished
			f.putBlockBuf(pt.buf)
		}
	}()

	var lastErr error
	for attempt := 0; pt.pos <= pt.end; {
		if attempt > 0 {
			if attempt > f.cfg.Retries {
				f.log.Error("giving up on part", "key", o.Key, "at", pt.pos, "end", pt.end, "attempts", attempt, "err", lastErr)
				pt.fail(lastErr)
				return
			}
			f.retries.Add(1)
			if !retry.Wait(f.ctx, attempt) {
				pt.fail(f.ctx.Err())
				return
			}
		}
		f.gets.Add(1)
		resp, err := f.store.Get(f.ctx, store.GetRequest{Key: o.Key, Start: pt.pos, End: pt.end, IfMatch: o.ETag})
		if err == nil {
			if err = checkPart(resp, o, pt.pos); err != nil {
				resp.Body.Close()
			}
		}
		err = shorterThanVersion(err)
		if err != nil {
			if errors.Is(err, store.ErrChanged) {
				f.log.Info("object changed while being read", "key", o.Key, "etag", o.ETag)
			}
			if !store.Retryable(err) || f.ctx.Err() != nil {
				pt.fail(err)
				return
			}
			f.log.Warn("part GET failed, retrying", "key", o.Key, "at", pt.pos, "err", err, "attempt", attempt+1)
			lastErr = err
			attempt++
			continue
		}
		before := pt.pos
		rerr := f.readBody(resp, pt)
		resp.Body.Close()
		if pt.pos > pt.end {
			break
		}
		lastErr = &store.RequestError{Op: "GET", Key: o.Key, RequestID: resp.RequestID, Kind: store.ErrTransient,
			Err: fmt.Errorf("body interrupted at byte %d: %w", pt.pos, rerr)}
		f.log.Warn("part body interrupted, resuming", "key", o.Key, "err", lastErr)
		if pt.pos > before {
			attempt = 0 // progress: the link works, keep going
		}
		attempt++
	}
	f.CheckWholeCRC(o)
}

// readBody streams resp's body into the part until the part is complete or
// the body fails. A body that delivers nothing for ReadTimeout is abandoned.
func (f *Fetcher) readBody(resp *store.GetResponse, pt *part) error {
	wd := retry.Watch(resp.Body, f.cfg.ReadTimeout)
	defer wd.Stop()
	for pt.pos <= pt.end {
		n, err := resp.Body.Read(pt.room())
		if n > 0 {
			f.bytes.Add(int64(n))
			wd.Progress()
			pt.received(n)
		}
		switch {
		case err == nil:
		case wd.Stalled():
			return wd.Explain(err)
		case err == io.EOF && pt.pos <= pt.end:
			return io.ErrUnexpectedEOF
		case err == io.EOF:
			return nil
		default:
			return err
		}
	}
	return nil
}

// cacheBlock writes a complete block to the cache. A cache that cannot take it
// (disk full, directory gone) is logged; the block is still served from
// memory to its waiters.
func (f *Fetcher) cacheBlock(o *Object, b int, data []byte, ahead bool) {
	write := o.Blocks.WriteBlock
	if ahead {
		write = o.Blocks.WriteBlockAhead
	}
	if err := write(b, data); err != nil {
		if f.writeErrs.Add(1) == 1 {
			f.log.Error("cache write failed; serving without caching", "key", o.Key, "err", err)
		} else {
			f.log.Debug("cache write failed", "key", o.Key, "block", b, "err", err)
		}
	}
}

// checkPart validates the headers of a part answer against what was asked.
func checkPart(resp *store.GetResponse, o *Object, pos int64) error {
	bad := func(format string, args ...any) error {
		return &store.RequestError{Op: "GET", Key: o.Key, Status: resp.StatusCode, RequestID: resp.RequestID, Kind: store.ErrProtocol, Err: fmt.Errorf(format, args...)}
	}
	if resp.Info.ETag != "" && !store.SameETag(resp.Info.ETag, o.ETag) {
		return &store.RequestError{Op: "GET", Key: o.Key, Status: resp.StatusCode, RequestID: resp.RequestID, Kind: store.ErrChanged,
			Err: fmt.Errorf("ETag %s, reading %s", resp.Info.ETag, o.ETag)}
	}
	if resp.StatusCode != 206 && !(resp.StatusCode == 200 && pos == 0) {
		return bad("status %d for a range starting at %d", resp.StatusCode, pos)
	}
	if resp.Info.Size != o.Size {
		return bad("object size %d, expected %d", resp.Info.Size, o.Size)
	}
	if resp.RangeStart != pos {
		return bad("range starts at %d, asked %d", resp.RangeStart, pos)
	}
	return nil
}

// CheckWholeCRC compares the combined CRC64 of a fully cached object with
// the server's x-oss-hash-crc64ecma, once. A mismatch drops the cached copy.
// The fetcher runs it when the last block lands; a caller about to hand the
// cached copy to someone who will not ask again (the kernel) runs it too.
func (f *Fetcher) CheckWholeCRC(o *Object) {
	if !o.HasServerCRC || o.crcChecked.Load() {
		return
	}
	got, ok := o.Blocks.CRC64()
	if !ok || !o.crcChecked.CompareAndSwap(false, true) {
		return
	}
	if got != o.ServerCRC64 {
		f.crcBad.Add(1)
		f.log.Error("whole-object CRC64 mismatch; dropping cached copy", "key", o.Key, "etag", o.ETag,
			"want", o.ServerCRC64, "got", got)
		o.Blocks.Drop()
	}
}

// shorterThanVersion turns a 416 to a range inside the version being read
// into store.ErrChanged: the object is shorter now, so it changed (a server that
// checks the range before If-Match answers so instead of 412).
func shorterThanVersion(err error) error {
	var re *store.RequestError
	if !errors.As(err, &re) || !errors.Is(err, store.ErrRangeNotSatisfiable) {
		return err
	}
	changed := *re
	changed.Kind, changed.Err = store.ErrChanged, fmt.Errorf("range not satisfiable: the object is shorter than the version being read")
	return &changed
}
