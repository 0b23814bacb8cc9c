// Package fetcher turns reads of an object version into parallel ranged GETs
// that land in the local block cache.
//
// The fetcher is the cache's only writer: the blocks of parts, and what the
// open's GET brought (Seed). It sees the cache through Blocks and the store
// through store.Getter, so it imports neither blockcache nor an SDK.
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
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/store"
)

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
	// block, a visible share of its CPU. Emptied whenever no part is
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
