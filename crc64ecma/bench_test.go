package crc64ecma

import (
	"fmt"
	"hash/crc64"
	"testing"
)

// BenchmarkUpdate compares Update with hash/crc64 (ECMA table) at a short, a
// page-sized and a cache-block-sized input; b.SetBytes makes -bench report
// the throughput.
func BenchmarkUpdate(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 1 << 20} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i)
		}
		impls := []struct {
			name string
			f    func(uint64, []byte) uint64
		}{
			{"crc64ecma", Update},
			{"stdlib", func(c uint64, p []byte) uint64 { return crc64.Update(c, table, p) }},
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("%s/%s", impl.name, sizeName(size)), func(b *testing.B) {
				b.SetBytes(int64(size))
				var crc uint64
				for b.Loop() {
					crc = impl.f(crc, buf)
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
