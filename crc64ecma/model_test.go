package crc64ecma

import (
	"encoding/binary"
	"hash/crc64"
	"math/rand/v2"
	"testing"

	"github.com/ossmount/ossmount/crc64ecma/internal/consts"
)

// clmul is a software PCLMULQDQ: the 128-bit carry-less product of a and b,
// as (low, high) quadwords.
func clmul(a, b uint64) (lo, hi uint64) {
	for i := range 64 {
		if b>>i&1 != 0 {
			lo ^= a << i
			if i > 0 {
				hi ^= a >> (64 - i)
			}
		}
	}
	return lo, hi
}

type block struct{ lo, hi uint64 }

func load(p []byte) block {
	return block{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])}
}

// fold returns x folded forward by the distance whose constants are k, xor b.
func fold(x block, klo, khi uint64, b block) block {
	l0, l1 := clmul(x.lo, klo)
	h0, h1 := clmul(x.hi, khi)
	return block{l0 ^ h0 ^ b.lo, l1 ^ h1 ^ b.hi}
}

// modelUpdate is the algorithm of the assembly in plain Go (one accumulator,
// 128-bit folds), with the constants internal/consts derives: it checks the
// algebra independently of any instruction. len(p) is a multiple of 16, ≥ 16.
func modelUpdate(crc uint64, p []byte) uint64 {
	klo, khi := consts.Fold(consts.Fold1)
	x := load(p)
	x.lo ^= ^crc
	for p = p[16:]; len(p) > 0; p = p[16:] {
		x = fold(x, klo, khi, load(p))
	}
	// 128 → 64: the low quadword onto the high one.
	r0, r1 := clmul(x.lo, consts.Reflect(consts.XPowModP(consts.Reduce1+63)))
	ylo, yhi := r0^x.hi, r1
	// Barrett.
	q, _ := clmul(ylo, consts.BarrettQ())
	_, t := clmul(q, consts.BarrettP())
	return ^(t ^ q ^ yhi)
}

func TestModelMatchesStdlib(t *testing.T) {
	tab := crc64.MakeTable(crc64.ECMA)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for n := 16; n <= len(buf); n += 16 {
		init := rng.Uint64()
		if n == 16 {
			init = 0
		}
		if got, want := modelUpdate(init, buf[:n]), crc64.Update(init, tab, buf[:n]); got != want {
			t.Fatalf("len %d init %#x: model %#x, hash/crc64 %#x", n, init, got, want)
		}
	}
}
