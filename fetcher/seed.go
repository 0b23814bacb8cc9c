package fetcher

import (
	"errors"
	"io"
)

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

// OpenFetched records, for the cache hit figures, that the open of reader
// ra brought the first n bytes of o (its GET answered with content, not
// 304), and with them, when they do not fill block 0, the first part
// (Seed): reading those is no cache hit.
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

// SeedWritten writes the whole of o, read from src, into the cache: the
// bytes of a file written through this mount, committed as version o. The
// fetcher stays the cache's only writer. It stops at the first error.
func (f *Fetcher) SeedWritten(o *Object, src io.ReaderAt) error {
	buf := f.getBlockBuf(o.BlockSize)
	defer f.putBlockBuf(buf)
	for b := range o.numBlocks() {
		off, n := o.blockSpan(b)
		if _, err := src.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err := o.Blocks.WriteBlock(b, buf[:n]); err != nil {
			f.writeErrs.Add(1)
			return err
		}
	}
	return nil
}
