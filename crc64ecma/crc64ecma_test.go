package crc64ecma

import (
	"bytes"
	"hash/crc64"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/ossmount/ossmount/crc64ecma/internal/consts"
)

// impl is one of the code paths Update can take on this machine.
type impl struct {
	name          string
	clmul, avx512 bool
}

// impls returns the fallback and every folding path this CPU can run.
func impls() []impl {
	list := []impl{{name: "table"}}
	if detectedCLMUL {
		list = append(list, impl{name: "clmul", clmul: true})
	}
	if detectedAVX512 {
		list = append(list, impl{name: "clmul-avx512", clmul: true, avx512: true})
	}
	return list
}

// The CPU's features, whatever a test switched.
var detectedCLMUL, detectedAVX512 = detect()

// TestPathsCovered guards the tests themselves: on a CPU with the
// instructions, the folding paths must be among those they run.
func TestPathsCovered(t *testing.T) {
	var hasCLMUL, hasAVX512 bool
	switch runtime.GOARCH {
	case "amd64":
		hasCLMUL = cpu.X86.HasPCLMULQDQ
		hasAVX512 = hasCLMUL && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPCLMULQDQ
	case "arm64":
		hasCLMUL = cpu.ARM64.HasPMULL
	default:
		t.Skip("only the table on", runtime.GOARCH)
	}
	if hasCLMUL != detectedCLMUL || hasAVX512 != detectedAVX512 {
		t.Fatalf("CPU has carry-less multiplication %v, AVX-512 VPCLMULQDQ %v; detected %v, %v",
			hasCLMUL, hasAVX512, detectedCLMUL, detectedAVX512)
	}
	t.Logf("paths tested: %v", impls())
}

// use switches Update to im until the test ends.
func use(tb testing.TB, im impl) {
	tb.Helper()
	useCLMUL, useAVX512 = im.clmul, im.avx512
	tb.Cleanup(func() { useCLMUL, useAVX512 = detectedCLMUL, detectedAVX512 })
}

func stdlib(crc uint64, p []byte) uint64 { return crc64.Update(crc, table, p) }

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

func TestKnownVectors(t *testing.T) {
	long := randomBytes(1, 1<<20+13)
	tests := []struct {
		name string
		in   []byte
		want uint64 // 0: hash/crc64's answer
	}{
		{"empty", nil, 0},
		{"check string", []byte("123456789"), 0x995dc9bbdf1939fa}, // CRC-64/XZ check value
		{"a", []byte("a"), 0},
		{"16 zeros", make([]byte, 16), 0},
		{"16 ones", bytes.Repeat([]byte{0xff}, 16), 0},
		{"quick fox", []byte("The quick brown fox jumps over the lazy dog"), 0x5b5eb8c2e54aa1c4},
		{"4 KiB zeros", make([]byte, 4096), 0},
		{"1 MiB + 13 random", long, 0},
	}
	for _, im := range impls() {
		use(t, im)
		for _, tc := range tests {
			want := tc.want
			if want == 0 {
				want = crc64.Checksum(tc.in, table)
			} else if std := crc64.Checksum(tc.in, table); std != want {
				t.Fatalf("%s: hash/crc64 gives %#x, the vector says %#x", tc.name, std, want)
			}
			if got := Checksum(tc.in); got != want {
				t.Errorf("%s/%s: Checksum = %#x, want %#x", im.name, tc.name, got, want)
			}
		}
	}
}

// TestExhaustive checks every length 0..1024 at every alignment, from a zero
// and a random initial CRC, on every path; and the lengths from minAVX512 on
// that the AVX-512 loop takes (several rounds plus every tail).
func TestExhaustive(t *testing.T) {
	buf := randomBytes(2, 4*minAVX512+32)
	inits := []uint64{0, 0x0123456789abcdef, ^uint64(0)}
	for _, im := range impls() {
		use(t, im)
		for off := range 16 {
			for n := 0; n <= 1024; n++ {
				p := buf[off : off+n]
				for _, init := range inits {
					if got, want := Update(init, p), stdlib(init, p); got != want {
						t.Fatalf("%s: len %d offset %d init %#x: %#x, want %#x", im.name, n, off, init, got, want)
					}
				}
			}
		}
		step := 1
		if testing.Short() {
			step = 7
		}
		for n := minAVX512; n <= 4*minAVX512+16; n += step {
			p := buf[n%16 : n%16+n]
			if got, want := Update(inits[1], p), stdlib(inits[1], p); got != want {
				t.Fatalf("%s: len %d: %#x, want %#x", im.name, n, got, want)
			}
		}
	}
}

// TestSplit checks that Update continues a CRC across any split of the input.
func TestSplit(t *testing.T) {
	p := randomBytes(3, 3000)
	want := crc64.Checksum(p, table)
	for _, im := range impls() {
		use(t, im)
		for i := 0; i <= len(p); i += 37 {
			if got := Update(Update(0, p[:i]), p[i:]); got != want {
				t.Fatalf("%s: split at %d: %#x, want %#x", im.name, i, got, want)
			}
		}
	}
}

// TestFallbackWhenFeatureOff forces the CPU feature off: the folding code
// must then take nothing, and the answers stay those of hash/crc64.
func TestFallbackWhenFeatureOff(t *testing.T) {
	if detectedCLMUL && foldLen(4096) != 4096 {
		t.Fatalf("with carry-less multiplication, foldLen(4096) = %d, want 4096", foldLen(4096))
	}
	use(t, impl{name: "table"})
	p := randomBytes(4, 5000)
	for _, n := range []int{0, 15, 16, 17, 128, 1024, 4096, 5000} {
		if got := foldLen(n); got != 0 {
			t.Errorf("feature off: foldLen(%d) = %d, want 0 (table only)", n, got)
		}
		if got, want := Update(7, p[:n]), stdlib(7, p[:n]); got != want {
			t.Errorf("feature off: len %d: %#x, want %#x", n, got, want)
		}
	}
}

// TestShortInputsUseTable checks that inputs below minCLMUL skip the folding
// code even when the CPU has it.
func TestShortInputsUseTable(t *testing.T) {
	use(t, impl{name: "clmul", clmul: true})
	for n := range minCLMUL {
		if got := foldLen(n); got != 0 {
			t.Errorf("foldLen(%d) = %d, want 0", n, got)
		}
	}
	for _, n := range []int{16, 31, 32, 1000, 1024} {
		if got, want := foldLen(n), n&^15; got != want {
			t.Errorf("foldLen(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestGeneratedConstants checks that the committed constants file is what
// internal/consts derives from the polynomial (run go generate if not).
func TestGeneratedConstants(t *testing.T) {
	got, err := os.ReadFile("zconsts.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, consts.Asm()) {
		t.Fatal("zconsts.s is stale: run go generate ./crc64ecma/")
	}
	// The constants must agree with hash/crc64's own polynomial.
	if consts.Reflect(consts.PolyLow) != crc64.ECMA {
		t.Fatalf("reflect(PolyLow) = %#x, want crc64.ECMA %#x", consts.Reflect(consts.PolyLow), uint64(crc64.ECMA))
	}
}

// FuzzUpdate checks Update against hash/crc64 for arbitrary data and initial
// CRC, at the alignment off%16, for every prefix length up to 256 bytes and
// the whole input, on every path, and across a split at cut.
func FuzzUpdate(f *testing.F) {
	f.Add([]byte(""), uint64(0), uint8(0), uint16(0))
	f.Add([]byte("123456789"), uint64(0), uint8(3), uint16(4))
	f.Add(randomBytes(5, 300), ^uint64(0), uint8(7), uint16(100))
	f.Add(randomBytes(6, 1500), uint64(0xdeadbeef), uint8(15), uint16(1024))
	f.Fuzz(func(t *testing.T, data []byte, init uint64, off uint8, cut uint16) {
		buf := make([]byte, len(data)+16)
		o := int(off % 16)
		p := buf[o : o+len(data)]
		copy(p, data)
		c := int(cut) % (len(p) + 1)
		for _, im := range impls() {
			useCLMUL, useAVX512 = im.clmul, im.avx512
			for n := 0; n <= min(len(p), 256); n++ {
				if got, want := Update(init, p[:n]), stdlib(init, p[:n]); got != want {
					t.Fatalf("%s: len %d offset %d init %#x: %#x, want %#x", im.name, n, o, init, got, want)
				}
			}
			want := stdlib(init, p)
			if got := Update(init, p); got != want {
				t.Fatalf("%s: len %d offset %d init %#x: %#x, want %#x", im.name, len(p), o, init, got, want)
			}
			if got := Update(Update(init, p[:c]), p[c:]); got != want {
				t.Fatalf("%s: len %d split at %d: %#x, want %#x", im.name, len(p), c, got, want)
			}
		}
		useCLMUL, useAVX512 = detectedCLMUL, detectedAVX512
	})
}
