package fetcher

import (
	"errors"
	"sync/atomic"

	"github.com/ossmount/ossmount/version"
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

// blocks is o's block maths (version.Version's).
func (o *Object) blocks() version.Version {
	return version.Version{Size: o.Size, BlockSize: o.BlockSize}
}

func (o *Object) numBlocks() int { return o.blocks().NumBlocks() }

// blockSpan returns the byte range [off, off+n) of block b.
func (o *Object) blockSpan(b int) (off, n int64) { return o.blocks().BlockRange(b) }

// notCached reports whether a cache read failed because the range is not
// cached (Blocks.ReadAt), not because the cache failed.
func notCached(err error) bool {
	var nc interface{ NotCached() bool }
	return errors.As(err, &nc) && nc.NotCached()
}
