package ossemu

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// TestConcurrentUse mixes ranged GETs, listings, puts, deletes and fault
// changes; run with -race.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(11, 700_000)
	for i := 0; i < 20; i++ {
		f.emu.Put("bkt", fmt.Sprintf("c/%02d", i), data)
	}
	c := f.client()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				key := fmt.Sprintf("c/%02d", (g*7+i)%20)
				switch i % 5 {
				case 0, 1:
					off := int64((g*131 + i*977) % 600_000)
					out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr(key), Range: oss.Ptr(fmt.Sprintf("bytes=%d-%d", off, off+99_999))})
					if err != nil {
						errs <- err
						return
					}
					b := readAll(t, out.Body)
					if string(b) != string(data[off:off+100_000]) {
						errs <- fmt.Errorf("%s at %d: wrong bytes", key, off)
						return
					}
				case 2:
					if _, err := c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("c/"), MaxKeys: 7}); err != nil {
						errs <- err
						return
					}
				case 3:
					f.emu.Put("bkt", fmt.Sprintf("tmp/%d-%d", g, i), []byte(strings.Repeat("y", i)))
					f.emu.Delete("bkt", fmt.Sprintf("tmp/%d-%d", g, i-5))
				case 4:
					f.emu.SetFaults(Faults{Latency: 1, BytesPerSec: 64 << 20, KeyFilter: "c/"})
					_ = f.emu.Requests()
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if keys := f.emu.Keys("bkt", "tmp/"); len(keys) != 6 {
		t.Fatalf("tmp keys: %v", keys)
	}
}
