package crc64ecma

import "golang.org/x/sys/cpu"

// detect reports whether the CPU has PCLMULQDQ, and the 512-bit VPCLMULQDQ
// with AVX-512 enabled by the OS.
func detect() (clmul, avx512 bool) {
	clmul = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE2
	return clmul, clmul && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPCLMULQDQ
}

// clmulUpdate returns the CRC register (the inverted CRC) after p, from the
// register crc. len(p) is a multiple of 16 and at least 16. With avx512, the
// 512-bit loop takes inputs of minAVX512 bytes or more.
//
//go:noescape
func clmulUpdate(crc uint64, p []byte, avx512 bool) uint64
