package crc64ecma

import (
	"fmt"
	"hash/crc64"
	"testing"
)

// BenchmarkUpdate compares every path Update can take on this CPU (the
// fastest is what Update uses) with hash/crc64's ECMA table at a short, a
// page-sized and a cache-block-sized input; b.SetBytes makes -bench report the
// throughput.
func BenchmarkUpdate(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 1 << 20} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i)
		}
		b.Run(fmt.Sprintf("hash-crc64/%s", sizeName(size)), func(b *testing.B) {
			b.SetBytes(int64(size))
			var crc uint64
			for b.Loop() {
				crc = crc64.Update(crc, table, buf)
			}
		})
		for _, im := range impls() {
			b.Run(fmt.Sprintf("%s/%s", im.name, sizeName(size)), func(b *testing.B) {
				use(b, im)
				b.SetBytes(int64(size))
				var crc uint64
				for b.Loop() {
					crc = Update(crc, buf)
				}
			})
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
