//go:build !amd64 && !arm64

package crc64ecma

import "hash/crc64"

func detect() (clmul, avx512 bool) { return false, false }

// clmulUpdate is never called here (useCLMUL stays false); it computes
// the same register with the table so that it is correct all the same.
func clmulUpdate(crc uint64, p []byte, _ bool) uint64 {
	return ^crc64.Update(^crc, table, p)
}
