// Package fetcher turns reads of an object version into parallel ranged GETs
// that land in the local block cache.
//
// # Design
//
// An object version is cut into fixed-size blocks (the cache's unit). A read
// that misses plans GETs ("parts") over runs of missing blocks, each at most
// PartSize long. Every block that is being fetched has exactly one in-flight
// entry, keyed by (version ID, block index), in Fetcher.inflight: a second
// reader of the same block attaches to that entry instead of sending another
// GET (coalescing, as gcsfuse's downloader does per chunk). A part runs on a
// detached context, so a reader that is interrupted (Ctrl-C) leaves while the
// shared fetch still completes into the cache; the reader itself waits on its
// own context. All parts of the mount share one semaphore of Parallel slots,
// which is the bound on concurrent GETs.
//
// A part streams its body block by block: as soon as a block is complete it is
// written to the cache and its waiters are released, so a reader waits only
// for the blocks it needs, not for the whole part. Every part GET carries
// If-Match with the version's ETag; a 412 means the object changed under the
// reader and surfaces as store.ErrChanged (ESTALE), never as mixed data. Transient
// failures (5xx, resets, stalls longer than ReadTimeout, short bodies) are
// retried with jittered exponential backoff, resuming from the last byte
// received; progress resets the attempt count.
//
// Memory: a part holds the buffer of the one block it is filling. A finished
// block's buffer is lent to the readers waiting for it (blockFetch.refs)
// and recycled once the last of them has copied out of it, so a cold
// sequential read needs about Parallel blocks of memory, and allocates and
// zeroes almost none.
//
// Sequential readers grow a readahead window (Readahead): it starts at one
// part once two reads in a row are sequential (or the first read is at offset
// 0) and doubles on every refill up to MaxReadahead. Random readers fetch only
// the blocks they touch. Blocks that no reader waits for yet are stored with
// Blocks.WriteBlockAhead, so that the cache keeps them until they are read
// even when it is smaller than the readahead (it would otherwise evict them
// first and they would be fetched again); the reader marks them Served as it
// takes them, and a handle that closes lets go of the rest
// (ReleaseReadahead). MaxReadahead should fit in half the cache (see
// WindowFor).
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/internal/retry"
	"github.com/ossmount/ossmount/store"
)

// Blocks is the local cache of one object version, as the fetcher uses it.
// *blockcache.Object implements it. The fetcher is its only writer.
type Blocks interface {
	// Missing returns the blocks in [first, last] (clipped to the object)
	// that are not cached: one look at the cache for a whole range.
	Missing(first, last int) []int
	// ReadAt serves a range only if all its blocks are cached; otherwise it
	// returns an error with a NotCached method that reports true
	// (blockcache.ErrNotCached). Other errors are failures of the cache.
	ReadAt(p []byte, off int64) (int, error)
	WriteBlock(block int, data []byte) error
	// WriteBlockAhead is WriteBlock for a block fetched ahead of its
	// reader: the cache keeps it until it is read (or Served).
	WriteBlockAhead(block int, data []byte) error
	// Served says blocks [first, last] were read some other way than
	// ReadAt (from their fetch), or will not be by the reader they were
	// fetched ahead of.
	Served(first, last int)
	// CRC64 is the whole object's CRC64-ECMA once every block is present.
	CRC64() (uint64, bool)
	Drop()
}

// Object is one version of one object being read.
type Object struct {
	ID        string // version identity: the coalescing key
	Key       string
	ETag      string
	Size      int64
	BlockSize int64
	// ServerCRC64 is x-oss-hash-crc64ecma of this version, if the server sent it.
	ServerCRC64  uint64
	HasServerCRC bool
	Blocks       Blocks

	// head is the start of the object the open's GET brought when it did
	// not cover block 0 (a small first GET answers the first read sooner
	// than a whole block); reads inside it are served from memory until
	// block 0 is cached, then it is dropped.
	head       atomic.Pointer[[]byte]
	crcChecked atomic.Bool
}

// OpenFetched records, for the cache hit figures, that the open of reader
// ra brought the first n bytes of o (its GET answered with content, not
// 304), and with them, when they do not fill block 0, the first part
// (SetHead): reading those is no cache hit.
func (f *Fetcher) OpenFetched(ra *Readahead, o *Object, n int64) {
	if n <= 0 {
		return
	}
	last := int((n - 1) / o.BlockSize)
	if n < min(o.Size, o.BlockSize) {
		last = int(max(f.cfg.PartSize/o.BlockSize, 1)) - 1
	}
	ra.mark(o, 0, last, false)
}

// Seed takes what the open's GET brought of a new version, the first
// len(b) bytes, so that no byte is fetched twice. A whole block 0 is
// written to the cache. A shorter start (the open's GET is kept small, so
// that the first read is answered soon) is kept in memory, serving reads
// inside it, and the first part is started at once (sequential readers
// will want it): its GET asks for block 0 from where the open's GET ended
// (part.prefill), and the start is dropped once block 0 is complete.
func (f *Fetcher) Seed(o *Object, b []byte) {
	if len(b) == 0 || o.Size == 0 || len(o.Blocks.Missing(0, 0)) == 0 {
		return
	}
	if _, n := o.blockSpan(0); int64(len(b)) >= n {
		f.cacheBlock(o, 0, b[:n], false)
		return
	}
	o.head.Store(&b)
	if len(o.Blocks.Missing(0, 0)) == 0 { // cached meanwhile: no fetch will clear it
		o.head.Store(nil)
		return
	}
	// Not held in the cache as read ahead: many opens read only the
	// first bytes of a file (file(1), thumbnails).
	f.startParts(o, 0, int(max(f.cfg.PartSize/o.BlockSize, 1))-1, false, false)
}

// notCached reports whether a cache read failed because the range is not
// cached (Blocks.ReadAt), not because the cache failed.
func notCached(err error) bool {
	var nc interface{ NotCached() bool }
	return errors.As(err, &nc) && nc.NotCached()
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

func (o *Object) numBlocks() int {
	return int((o.Size + o.BlockSize - 1) / o.BlockSize)
}

// blockSpan returns the byte range [off, off+n) of block b.
func (o *Object) blockSpan(b int) (off, n int64) {
	off = int64(b) * o.BlockSize
	return off, min(o.BlockSize, o.Size-off)
}

// Config tunes a Fetcher.
type Config struct {
	PartSize     int64         // bytes per GET at most (a multiple of the block size)
	Parallel     int           // concurrent GETs across the whole mount
	MaxReadahead int64         // readahead window cap per reader; 0: DefaultMaxReadahead, < 0: none
	Retries      int           // attempts after the first, per part without progress
	ReadTimeout  time.Duration // a body that delivers nothing this long is abandoned
	// AheadRoom returns how many more bytes the cache can hold back for
	// blocks read ahead (Blocks.WriteBlockAhead); readers share it, and
	// readahead beyond it waits until they have read what is held. nil:
	// no limit.
	AheadRoom func() int64
	Logger    *slog.Logger
}

// Stats are cumulative counters.
type Stats struct {
	Gets, Probes, NotModified int64
	BytesFetched              int64
	Retries, Errors           int64
	CacheWriteErrors          int64
	CRCMismatches             int64
	InFlight                  int64
	// Bytes of reads served from blocks that were cached before the
	// reader (its open file) first asked for them (hits); of reads that
	// had to wait for a fetch (misses); and of reads served at once from
	// what was fetched ahead for the same reader: its readahead, its
	// open's first GET, or the rest of a block an earlier read of it
	// fetched. The last are no hits: a cold sequential read is mostly
	// made of them.
	CacheHitBytes, CacheMissBytes, ReadAheadBytes int64
}

// Fetcher runs the parts of every reader of the mount.
type Fetcher struct {
	store store.Getter
	cfg   Config
	log   *slog.Logger
	sem   *semaphore.Weighted // the one bound on concurrent GETs

	// ctx is the detached context every part runs on; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards inflight. Held only for map operations and one look at
	// the cache's bitmap (Blocks.Missing), never across I/O. Taken before
	// the cache object's own lock.
	mu       sync.Mutex
	inflight map[blockKey]*blockFetch

	// spare holds up to Parallel block buffers between parts. Without it a
	// cold read allocates, zeroes and faults in a fresh buffer for every
	// block (8% of a cold read's CPU profile). Emptied whenever no part is
	// running, so an idle mount holds none.
	spare chan []byte

	// aheadInFlight is the bytes of readahead blocks being fetched, not
	// yet held by the cache (see Config.AheadRoom). aheadMu serializes the
	// readahead that is fitted to the room (startAhead); taken before mu.
	aheadInFlight atomic.Int64
	aheadMu       sync.Mutex

	gets, probes, notModified, bytes, retries, errs, writeErrs, crcBad, active atomic.Int64
	hitBytes, missBytes, aheadBytes                                            atomic.Int64

	// poisonFreed (set by tests only) makes putBlockBuf overwrite each
	// buffer it takes back, so that a reader of a buffer after its release
	// sees garbage.
	poisonFreed bool
}

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
//
// A reader may drop the last reference after the last part has ended and
// emptied the spares; it then empties them itself, so an idle mount keeps
// no spare whichever of the two comes last.
func (f *Fetcher) release(fe *blockFetch) {
	if fe.refs.Add(-1) == 0 && fe.data != nil {
		f.putBlockBuf(fe.data)
		if f.active.Load() == 0 {
			f.dropSpares()
		}
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
// garbage collector.
func (f *Fetcher) putBlockBuf(b []byte) {
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

// New returns a Fetcher over store.
func New(st store.Getter, cfg Config) *Fetcher {
	if cfg.Parallel <= 0 {
		cfg.Parallel = config.DefaultParallel
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = config.DefaultPartSize
	}
	if cfg.MaxReadahead == 0 {
		cfg.MaxReadahead = DefaultMaxReadahead(cfg.Parallel, cfg.PartSize)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = config.DefaultReadTimeout
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Fetcher{
		store: st, cfg: cfg, log: cfg.Logger,
		sem: semaphore.NewWeighted(int64(cfg.Parallel)),
		ctx: ctx, cancel: cancel,
		inflight: make(map[blockKey]*blockFetch),
		spare:    make(chan []byte, cfg.Parallel),
	}
}

// DefaultMaxReadahead is the readahead window cap for parallel GETs of
// partSize: enough parts to keep every connection busy, at most 256 MiB.
func DefaultMaxReadahead(parallel int, partSize int64) int64 {
	return min(int64(parallel)*partSize, 256<<20)
}

// WindowFor returns the readahead window cap that a cache able to hold
// capacity bytes keeps without losing blocks before they are read: at
// most max, at most half the capacity (the cache holds back that much
// for blocks read ahead), a whole number of blocks, -1 (none) if not even
// one block fits; fits reports whether max itself does.
func WindowFor(max, capacity, blockSize int64) (window int64, fits bool) {
	if capacity >= 2*max {
		return max, true
	}
	if w := capacity / 2 / blockSize * blockSize; w > 0 {
		return w, false
	}
	return -1, false
}

// MaxReadahead is the readahead window cap of every reader.
func (f *Fetcher) MaxReadahead() int64 { return max(f.cfg.MaxReadahead, 0) }

// ReleaseReadahead lets go of what reader ra fetched ahead of itself and
// has not read (its handle is closing): the cache may evict it as any
// other block.
func (f *Fetcher) ReleaseReadahead(o *Object, ra *Readahead) {
	from, to := ra.pending()
	if to > from {
		o.Blocks.Served(int(from/o.BlockSize), int((to-1)/o.BlockSize))
	}
}

// Close cancels every part in flight and waits for them to stop.
func (f *Fetcher) Close() {
	f.cancel()
	f.wg.Wait()
}

// Stats returns the counters.
func (f *Fetcher) Stats() Stats {
	return Stats{
		Gets: f.gets.Load(), Probes: f.probes.Load(), NotModified: f.notModified.Load(),
		BytesFetched: f.bytes.Load(), Retries: f.retries.Load(), Errors: f.errs.Load(),
		CacheWriteErrors: f.writeErrs.Load(), CRCMismatches: f.crcBad.Load(), InFlight: f.active.Load(),
		CacheHitBytes: f.hitBytes.Load(), CacheMissBytes: f.missBytes.Load(), ReadAheadBytes: f.aheadBytes.Load(),
	}
}

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
// a part holds one block buffer at a time, not all of its blocks (a cold
// sequential read had 16 parts × 8 MiB live, most of it already cached).
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
	if resp.Info.ETag != "" && resp.Info.ETag != o.ETag {
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
