package test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

// A sequential read of a file several times larger than the cache fetches
// it about once: readahead never evicts blocks it fetched and the reader
// has not read yet. The mount warns that the cache cannot hold a window.
func TestReadaheadFitsASmallCache(t *testing.T) {
	e := newEnv(t)
	const size = 96 * mib
	want := pattern(73, size)
	e.put("big.bin", want)
	e.mount("cache_size=16M", "min_free=0")
	const warning = "less than two readahead windows"
	if !strings.Contains(e.stderr.String(), "ossmount: warning: the cache can hold 16.0 MiB") {
		t.Errorf("no warning on stderr at mount: %q", e.stderr.String())
	}
	if !strings.Contains(readLog(e), warning) {
		t.Error("no warning in the log at mount")
	}
	if out, errs, code := ossmountCmd(t, "stats", e.mnt); code != 0 || !strings.Contains(out, warning) {
		t.Errorf("ossmount stats does not show the warning (exit %d, %s):\n%s", code, errs, out)
	}
	got, err := slowSequentialRead(e.path("big.bin"), 4*mib)
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, "big.bin", got, want)
	fetched := bodyBytes(e.gets("big.bin"))
	t.Logf("fetched %.2f× the file", float64(fetched)/size)
	if fetched > size*11/10 {
		t.Errorf("a sequential read of %d MiB through a 16 MiB cache fetched %d MiB (%.2f×)", size>>20, fetched>>20, float64(fetched)/size)
	}
}

// A cache that holds two readahead windows says nothing.
func TestNoReadaheadWarningWithABigEnoughCache(t *testing.T) {
	e := newEnv(t)
	e.mount("cache_size=512M", "min_free=0") // two windows of 256 MiB
	if strings.Contains(e.stderr.String(), "warning") || strings.Contains(readLog(e), "readahead windows") {
		t.Fatalf("warning with a 512 MiB cache: %q", e.stderr.String())
	}
}

// Two sequential readers of different files through one small cache: the
// blocks read ahead for one are not evicted for the other's.
func TestTwoReadersShareASmallCache(t *testing.T) {
	e := newEnv(t)
	const size = 64 * mib
	wants := [][]byte{pattern(74, size), pattern(75, size)}
	e.put("a.bin", wants[0])
	e.put("b.bin", wants[1])
	e.mount("cache_size=16M", "min_free=0")
	var wg sync.WaitGroup
	for i, name := range []string{"a.bin", "b.bin"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := slowSequentialRead(e.path(name), 2*mib)
			if err != nil || !bytes.Equal(got, wants[i]) {
				t.Errorf("%s: %d bytes, %v (or wrong bytes)", name, len(got), err)
			}
		}()
	}
	wg.Wait()
	for _, name := range []string{"a.bin", "b.bin"} {
		fetched := bodyBytes(e.gets(name))
		t.Logf("%s: fetched %.2f× the file", name, float64(fetched)/size)
		if fetched > size*11/10 {
			t.Errorf("%s: two sequential readers through a 16 MiB cache fetched %.2f× the file; GETs: %s",
				name, float64(fetched)/size, getRanges(e.gets(name)))
		}
	}
}

// slowSequentialRead reads file p from start to end in 256 KiB reads,
// pausing a little every pauseEvery bytes: a reader slower than the link,
// so that readahead runs ahead of it.
func slowSequentialRead(p string, pauseEvery int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var got []byte
	buf := make([]byte, 256<<10)
	for {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if len(got)%pauseEvery == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// getRanges lists the ranges of GETs, in the order they were sent.
func getRanges(rs []ossemu.Request) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s(%d) ", strings.TrimPrefix(r.Range, "bytes="), r.BodyBytes)
	}
	return b.String()
}
