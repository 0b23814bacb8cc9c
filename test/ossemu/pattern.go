package ossemu

import (
	"encoding/binary"
	"io"
)

// PatternReaderAt is an endless source of deterministic pseudo-random bytes,
// cut at Size. Byte i depends only on (Seed, i), so any range can be
// regenerated for comparison without keeping the data anywhere: tests and
// benchmarks serve multi-GiB objects from it (PutReaderAt) at no memory cost.
type PatternReaderAt struct {
	Seed int64
	Size int64
}

// word returns the 8 bytes at offset 8*i (little-endian).
func (p PatternReaderAt) word(i uint64) uint64 {
	// splitmix64 of (seed-derived key + word index).
	z := uint64(p.Seed)*0x9E3779B97F4A7C15 + i*0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E019
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// ReadAt implements io.ReaderAt. It returns io.EOF when the read reaches
// past Size.
func (p PatternReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= p.Size {
		return 0, io.EOF
	}
	want := len(b)
	if rem := p.Size - off; int64(len(b)) > rem {
		b = b[:rem]
	}
	n := len(b)
	pos := uint64(off)
	// Unaligned head.
	if r := pos % 8; r != 0 && len(b) > 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], p.word(pos/8))
		c := copy(b, tmp[r:])
		b = b[c:]
		pos += uint64(c)
	}
	// Aligned body.
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, p.word(pos/8))
		b = b[8:]
		pos += 8
	}
	// Tail.
	if len(b) > 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], p.word(pos/8))
		copy(b, tmp[:])
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// GenerateData returns the first size bytes of PatternReaderAt{seed, size}.
func GenerateData(seed int64, size int64) []byte {
	b := make([]byte, size)
	_, _ = PatternReaderAt{Seed: seed, Size: size}.ReadAt(b, 0)
	return b
}
