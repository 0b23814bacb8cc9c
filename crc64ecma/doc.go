// Package crc64ecma computes CRC-64/ECMA — hash/crc64 with the ECMA table,
// the value OSS sends as x-oss-hash-crc64ecma — by carry-less
// multiplication, many times faster than the table.
//
// Update and Checksum give exactly what crc64.Update and crc64.Checksum give
// with crc64.MakeTable(crc64.ECMA), for any input and any initial CRC; the
// combine logic built on that (oss.CRC64Combine, blockcache's block CRCs)
// needs no change.
//
// # Design
//
// The code follows Intel's "Fast CRC Computation for Generic Polynomials
// Using PCLMULQDQ Instruction" in its bit-reflected form (the CRC is least
// significant bit first, like hash/crc64). The input is read as 128-bit
// blocks; the initial register is xored into the first one. Several
// accumulators fold forward, each by the width of the whole group per round:
//
//   - amd64 (PCLMULQDQ) and arm64 (PMULL): eight 128-bit accumulators,
//     128 bytes and a 1024-bit fold per round;
//   - amd64 with AVX-512 and VPCLMULQDQ, inputs of 1 KiB or more: four 512-bit
//     accumulators, 256 bytes and a 2048-bit fold per round; they are then
//     folded into one (512 bits at a time) and its four lanes handed to the
//     128-bit steps below.
//
// The accumulators are then folded one onto the next (128 bits at a time), the
// remaining whole blocks folded in one by one, the 128-bit result reduced to
// 64 bits (its low quadword multiplied onto the high one), and a Barrett
// reduction yields the 64-bit register. Folding a block X = L·x^64 + H by d
// bits uses L·x^(d+64) + H·x^d ≡ L·(x^(d+64) mod P) + H·(x^d mod P), two
// 64×64 carry-less products whose sum has no more than 128 bits.
//
// # Constants
//
// Each fold distance needs a pair x^(d+63) mod P and x^(d-1) mod P (one power
// lower than the algebra above, because a carry-less product of bit-reflected
// operands comes out multiplied by x), bit-reflected; the Barrett step needs
// floor(x^128/P) and P, each shifted by one for the same reason.
// internal/consts derives them all from the polynomial, and go generate
// (internal/gen) writes them, each with a comment saying what it is, to
// zconsts.s; a test checks that file against the derivation, and a
// plain-Go model of the algorithm (software carry-less product) checks the
// algebra against hash/crc64 independently of the assembly.
//
// # Fallbacks
//
// hash/crc64 does the work where folding cannot or does not pay: inputs
// shorter than one 16-byte block, the last len%16 bytes of every input, CPUs
// without PCLMULQDQ or PMULL, and every other architecture. The tests run
// every path the CPU has, and the table, against hash/crc64; the arm64 code
// has been tested under user-mode emulation only.
package crc64ecma
