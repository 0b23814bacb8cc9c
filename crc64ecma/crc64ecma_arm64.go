package crc64ecma

import "golang.org/x/sys/cpu"

// detect reports whether the CPU has PMULL (64×64 → 128-bit carry-less
// multiplication); there is no wider variant here.
func detect() (clmul, avx512 bool) { return cpu.ARM64.HasPMULL, false }

// clmulUpdate returns the CRC register (the inverted CRC) after p, from the
// register crc. len(p) is a multiple of 16 and at least 16. avx512 is
// ignored.
//
//go:noescape
func clmulUpdate(crc uint64, p []byte, avx512 bool) uint64
