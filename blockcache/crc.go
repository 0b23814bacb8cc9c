package blockcache

import "hash/crc64"

// gf2 is a 64×64 matrix over GF(2): column i is the image of bit i.
type gf2 [64]uint64

func (m *gf2) times(vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

// mul returns m∘n (apply n, then m).
func (m *gf2) mul(n *gf2) gf2 {
	var r gf2
	for i := range r {
		r[i] = m.times(n[i])
	}
	return r
}

// zeros returns the operator that advances a CRC64-ECMA register over n zero
// bytes (the zlib crc32_combine method, for the reflected ECMA polynomial).
func zeros(n int64) gf2 {
	var op gf2 // one zero bit
	op[0] = crc64.ECMA
	for i := 1; i < 64; i++ {
		op[i] = 1 << (i - 1)
	}
	for range 3 { // 2, 4, then 8 zero bits: one zero byte
		op = op.mul(&op)
	}
	var r gf2 // identity
	for i := range r {
		r[i] = 1 << i
	}
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			r = op.mul(&r)
		}
		if n > 1 {
			op = op.mul(&op)
		}
	}
	return r
}

// combineBlocks returns the CRC64-ECMA of the concatenation of blocks whose
// CRCs are crcs: every block is blockSize long except the last, which is
// lastLen long. The shift operators are computed once, so the cost is
// O(len(crcs)) matrix-vector products.
func combineBlocks(crcs []uint64, blockSize, lastLen int64) uint64 {
	if len(crcs) == 0 {
		return 0
	}
	crc := crcs[0]
	if len(crcs) == 1 {
		return crc
	}
	full := zeros(blockSize)
	for _, c := range crcs[1 : len(crcs)-1] {
		crc = full.times(crc) ^ c
	}
	last := full
	if lastLen != blockSize {
		last = zeros(lastLen)
	}
	return last.times(crc) ^ crcs[len(crcs)-1]
}
