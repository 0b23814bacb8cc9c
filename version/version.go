// Package version is the identity of one object version as ossmount caches
// it: bucket, key, ETag, size, Last-Modified (whole seconds) and the block
// size it is cut into, and the block maths over it. The cache, its
// checkpoint format, the fetcher and the core all speak it; none of them
// owns it.
package version

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Version identifies one object version whose blocks are cached. Compare
// Versions by ID, not with ==: only whole seconds of LastModified count, and
// versions read back from a file (ReadHeader) carry it in UTC.
type Version struct {
	Bucket, Key  string
	ETag         string    // as OSS sends it, with quotes
	Size         int64     // bytes
	LastModified time.Time // only whole seconds count (stored as Unix seconds)
	BlockSize    int64     // bytes per block (the last block may be shorter)
}

// Identity returns the canonical, length-prefixed encoding of v that both
// the header and ID use. Two Versions with the same encoding are the same
// version, whatever the sub-second part or location of LastModified.
func (v Version) Identity() []byte {
	b := make([]byte, 0, 3*4+len(v.Bucket)+len(v.Key)+len(v.ETag)+3*8)
	for _, s := range []string{v.Bucket, v.Key, v.ETag} {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(v.Size))
	b = binary.LittleEndian.AppendUint64(b, uint64(v.LastModified.Unix()))
	b = binary.LittleEndian.AppendUint64(b, uint64(v.BlockSize))
	return b
}

// ID is a stable, file-name-safe identity of v: 32 hex digits of a SHA-256
// over the canonical encoding of every field. It never contains the key.
func (v Version) ID() string {
	sum := sha256.Sum256(v.Identity())
	return hex.EncodeToString(sum[:16])
}

// NumBlocks is the number of blocks of v: ceil(Size/BlockSize), 0 for an
// empty object (or an invalid BlockSize).
func (v Version) NumBlocks() int {
	if v.Size <= 0 || v.BlockSize <= 0 {
		return 0
	}
	n := v.Size / v.BlockSize
	if v.Size%v.BlockSize != 0 {
		n++
	}
	return int(n)
}

// BlockRange returns the byte range [off, off+n) of block i. n is 0 for an
// index outside [0, NumBlocks).
func (v Version) BlockRange(i int) (off, n int64) {
	if i < 0 || i >= v.NumBlocks() {
		return 0, 0
	}
	off = int64(i) * v.BlockSize
	return off, min(v.BlockSize, v.Size-off)
}

// SameAs reports whether v and w are the same version (same identity).
func (v Version) SameAs(w Version) bool {
	return string(v.Identity()) == string(w.Identity())
}
