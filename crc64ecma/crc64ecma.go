package crc64ecma

import "hash/crc64"

//go:generate go run ./internal/gen

// Size is the size of a CRC-64 checksum in bytes.
const Size = 8

var table = crc64.MakeTable(crc64.ECMA)

// minCLMUL is the shortest input the folding code takes. One 16-byte block
// already costs it less than the table does.
const minCLMUL = 16

// minAVX512 is the shortest input the AVX-512 loop takes (it loads 256 bytes
// at once, and wider registers pay only on longer runs); below it, or without
// AVX-512, the SSE loop runs.
const minAVX512 = 1024

// What the CPU offers (detect is per architecture); tests switch these off to
// cover the fallbacks. useCLMUL: carry-less multiplication (PCLMULQDQ);
// useAVX512: the 512-bit VPCLMULQDQ with AVX-512 as well.
var useCLMUL, useAVX512 = detect()

// Update returns the CRC-64/ECMA of crc's input followed by p: the same as
// crc64.Update(crc, crc64.MakeTable(crc64.ECMA), p), for any crc.
func Update(crc uint64, p []byte) uint64 {
	if n := foldLen(len(p)); n > 0 {
		// The folding code works on the register, the inverted CRC.
		crc = ^clmulUpdate(^crc, p[:n], useAVX512)
		p = p[n:]
	}
	return crc64.Update(crc, table, p)
}

// Checksum returns the CRC-64/ECMA of p, the value OSS sends as
// x-oss-hash-crc64ecma: the same as crc64.Checksum(p, crc64.MakeTable(crc64.ECMA)).
func Checksum(p []byte) uint64 { return Update(0, p) }

// foldLen returns how many of n bytes the folding code takes (whole 16-byte
// blocks), or 0 when the table must do all of them.
func foldLen(n int) int {
	if !useCLMUL || n < minCLMUL {
		return 0
	}
	return n &^ 15
}
