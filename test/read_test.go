package test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/checkpoint"
	"github.com/ossmount/ossmount/test/ossemu"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// Small blocks and parts keep the transfer sizes of these tests small while
// exercising the same block/part arithmetic as the defaults.
var smallBlocks = []string{"block_size=64K", "part_size=256K"}

func TestReadFilesOfEverySize(t *testing.T) {
	e := newEnv(t)
	sizes := map[string]int{
		"empty": 0, "one": 1, "small.txt": 1000,
		"block-1": 64*kib - 1, "block": 64 * kib, "block+1": 64*kib + 1,
		"part": 256 * kib, "multi-part": 3*mib + 12345,
		"dir/nested/deep.bin": 200 * kib,
	}
	want := map[string][]byte{}
	i := int64(0)
	for k, n := range sizes {
		i++
		want[k] = pattern(i, n)
		e.put(k, want[k])
	}
	e.mount(smallBlocks...)
	for k, w := range want {
		assertSame(t, k, mustRead(t, e.path(k)), w)
	}
	// The same through ordinary tools.
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, want["multi-part"], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"cmp", src, e.path("multi-part")},
		{"sh", "-c", fmt.Sprintf("cat %q | cmp - %q", e.path("multi-part"), src)},
		{"sh", "-c", fmt.Sprintf("test \"$(md5sum < %q)\" = \"$(md5sum < %q)\"", e.path("multi-part"), src)},
		{"sh", "-c", fmt.Sprintf("test \"$(tail -c 1000 %q | md5sum)\" = \"$(tail -c 1000 %q | md5sum)\"", e.path("multi-part"), src)},
		{"sh", "-c", fmt.Sprintf("test \"$(dd if=%q bs=7000 skip=100 count=3 2>/dev/null | md5sum)\" = \"$(dd if=%q bs=7000 skip=100 count=3 2>/dev/null | md5sum)\"", e.path("multi-part"), src)},
		{"sh", "-c", fmt.Sprintf("cp %q %q/copy && cmp %q/copy %q", e.path("multi-part"), filepath.Dir(src), filepath.Dir(src), src)},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v %s", c, err, out)
		}
	}
}

func TestStatListAndFind(t *testing.T) {
	e := newEnv(t)
	lm := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	e.put("a.txt", []byte("hello"), ossemu.WithLastModified(lm))
	e.put("dir/b.bin", pattern(1, 12345), ossemu.WithLastModified(lm))
	e.put("dir/sub/c", []byte("c"))
	e.put("marker/", nil) // a directory marker object
	e.put("both", []byte("file"))
	e.put("both/inner", []byte("x")) // a key that is also a prefix shows as the directory
	e.mount()

	st, err := os.Stat(e.path("dir/b.bin"))
	if err != nil || st.Size() != 12345 || !st.ModTime().Equal(lm) || st.IsDir() || st.Mode().Perm() != 0o444 {
		t.Fatalf("stat dir/b.bin: %v %v", st, err)
	}
	for _, d := range []string{"dir", "dir/sub", "marker", "both"} {
		if st, err := os.Stat(e.path(d)); err != nil || !st.IsDir() {
			t.Errorf("%s: want a directory: %v %v", d, st, err)
		}
	}
	names := func(d string) []string {
		ents, err := os.ReadDir(e.path(d))
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return n
	}
	if got := strings.Join(names(""), ","); got != "a.txt,both,dir,marker" {
		t.Errorf("root listing: %s", got)
	}
	if got := strings.Join(names("marker"), ","); got != "" {
		t.Errorf("marker dir listing: %q", got)
	}
	out, err := exec.Command("find", e.mnt, "-type", "f").Output()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, l := range strings.Fields(string(out)) {
		files = append(files, strings.TrimPrefix(l, e.mnt+"/"))
	}
	sort.Strings(files)
	if got := strings.Join(files, ","); got != "a.txt,both/inner,dir/b.bin,dir/sub/c" {
		t.Errorf("find -type f: %s", got)
	}
	if _, err := os.Stat(e.path("nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Inode numbers are stable per path.
	a1, _ := os.Stat(e.path("dir/b.bin"))
	time.Sleep(1100 * time.Millisecond) // past metadata_ttl: looked up again
	a2, _ := os.Stat(e.path("dir/b.bin"))
	if a1.Sys().(*syscall.Stat_t).Ino != a2.Sys().(*syscall.Stat_t).Ino {
		t.Error("inode number changed between lookups")
	}
}

func TestListingOf5000Keys(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{}
	for i := 0; i < 5000; i++ {
		k := fmt.Sprintf("many/f%05d", i)
		e.put(k, []byte(k))
		want[filepath.Base(k)] = true
	}
	e.mount()
	e.emu.ResetRequests()
	ents, err := os.ReadDir(e.path("many"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 5000 {
		t.Fatalf("listed %d entries, want 5000", len(ents))
	}
	// 5 pages of 1000, each asked for once (pages are requested ahead
	// of the one being decoded, never twice or past the last).
	pages := map[string]int{}
	for _, r := range e.emu.Requests() {
		if r.Op == "ListObjectsV2" && strings.Contains(r.RawQuery, "max-keys=1000") {
			q, _ := url.ParseQuery(r.RawQuery)
			pages[q.Get("continuation-token")]++
		}
	}
	if len(pages) != 5 {
		t.Errorf("listing pages by token: %v, want 5 pages", pages)
	}
	for tok, n := range pages {
		if n != 1 {
			t.Errorf("page after token %q asked for %d times", tok, n)
		}
	}
	for _, en := range ents {
		if !want[en.Name()] {
			t.Fatalf("unexpected entry %q", en.Name())
		}
	}
	// ls -l: attributes come from the listing, not from a HEAD per file.
	e.emu.ResetRequests()
	if out, err := exec.Command("ls", "-l", e.path("many")).CombinedOutput(); err != nil {
		t.Fatalf("ls -l: %v %s", err, out)
	}
	heads := 0
	for _, r := range e.emu.Requests() {
		if r.Method == "HEAD" {
			heads++
		}
	}
	if heads > 0 {
		t.Errorf("ls -l sent %d HEAD requests", heads)
	}
}

// A prefix of 100,000 keys lists in full, each page asked for once, and
// the first entries are readable while the listing is still arriving
// (100 pages with 20 ms before each answer: 2 s to list it all).
func TestListingOf100kKeysStreams(t *testing.T) {
	e := newEnv(t)
	const n = 100_000
	for i := range n {
		e.put(fmt.Sprintf("big/k%06d", i), nil)
	}
	e.mount()
	e.emu.SetFaults(ossemu.Faults{Latency: 20 * time.Millisecond})
	e.emu.ResetRequests()
	listPages := func() int {
		pages := 0
		for _, r := range e.emu.Requests() {
			if r.Op == "ListObjectsV2" && strings.Contains(r.RawQuery, "max-keys=1000") {
				pages++
			}
		}
		return pages
	}
	// Signals interrupt a getdents that waits for the daemon, and the
	// kernel then sends FUSE_INTERRUPT: an entry must not get lost to it
	// (Go preempts with SIGURG; here it comes every millisecond).
	stopSignals := make(chan struct{})
	defer close(stopSignals)
	go func() {
		for {
			select {
			case <-stopSignals:
				return
			case <-time.After(time.Millisecond):
				_ = syscall.Kill(os.Getpid(), syscall.SIGURG)
			}
		}
	}()
	d, err := os.Open(e.path("big"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first, err := d.Readdirnames(10)
	if err != nil || len(first) != 10 {
		t.Fatalf("first entries: %v, %v", first, err)
	}
	if p := listPages(); p >= n/1000 {
		t.Errorf("the first entries came after all %d pages had been asked for: not streamed", p)
	}
	rest, err := d.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range append(first, rest...) {
		if seen[name] {
			t.Fatalf("%q listed twice", name)
		}
		seen[name] = true
	}
	if len(seen) != n {
		var missing []string
		for i := 0; i < n && len(missing) < 5; i++ {
			if name := fmt.Sprintf("k%06d", i); !seen[name] {
				missing = append(missing, name)
			}
		}
		t.Fatalf("listed %d names, want %d; missing %v...", len(seen), n, missing)
	}
	if p := listPages(); p != n/1000 {
		t.Errorf("%d listing pages asked for, want %d", p, n/1000)
	}
}

func TestParallelReadersShareFetches(t *testing.T) {
	e := newEnv(t)
	data := pattern(7, 6*mib+5)
	e.put("shared.bin", data)
	e.mount(smallBlocks...)
	readConcurrently(t, e.path("shared.bin"), 8, data)
	if got := bodyBytes(e.gets("shared.bin")); got != int64(len(data)) {
		t.Errorf("8 readers moved %d body bytes for a %d-byte object: fetches not shared", got, len(data))
	}
}

// With the default blocks (larger than the open's GET), the open's GET
// brings the start of block 0 and the first part asks only for the rest:
// a cold sequential read moves each byte of the file once.
func TestColdReadMovesEachByteOnce(t *testing.T) {
	e := newEnv(t)
	data := pattern(11, 3*mib+12345)
	e.put("cold.bin", data)
	e.mount()
	assertSame(t, "cold.bin", mustRead(t, e.path("cold.bin")), data)
	if got := bodyBytes(e.gets("cold.bin")); got != int64(len(data)) {
		t.Errorf("a cold read moved %d body bytes for a %d-byte object, want each byte once", got, len(data))
	}
}

func TestRandomPreads(t *testing.T) {
	e := newEnv(t)
	data := pattern(8, 8*mib)
	e.put("random.bin", data)
	e.mount(smallBlocks...)
	f, err := os.Open(e.path("random.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 300; i++ {
		n := 1 + r.IntN(200*kib)
		off := r.Int64N(int64(len(data)))
		buf := make([]byte, n)
		got, err := f.ReadAt(buf, off)
		end := min(off+int64(n), int64(len(data)))
		if int64(got) != end-off || (err != nil && got == n) {
			t.Fatalf("pread %d@%d: n=%d err=%v", n, off, got, err)
		}
		if !bytes.Equal(buf[:got], data[off:end]) {
			t.Fatalf("pread %d@%d: wrong bytes", n, off)
		}
	}
}

func TestReopenUnchangedIsOne304(t *testing.T) {
	for _, mode := range []string{"etag", "mtime"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			data := pattern(11, 2*mib+3)
			e.put("same.bin", data)
			e.mount("revalidate=" + mode)
			assertSame(t, "first read", mustRead(t, e.path("same.bin")), data)
			e.emu.ResetRequests()
			assertSame(t, "second read", mustRead(t, e.path("same.bin")), data)
			gets := e.gets("same.bin")
			cond := 0
			for _, r := range gets {
				if (mode == "etag" && r.IfNoneMatch != "") || (mode == "mtime" && r.IfModifiedSince != "") {
					cond++
					if r.Status != 304 {
						t.Errorf("conditional request answered %d", r.Status)
					}
				}
			}
			if cond != 1 || len(gets) != 1 {
				t.Errorf("reopen sent %d GETs (%d conditional), want exactly one conditional: %+v", len(gets), cond, gets)
			}
			if n := bodyBytes(gets); n != 0 {
				t.Errorf("reopen of an unchanged file moved %d body bytes", n)
			}
		})
	}
}

func TestReopenAfterChangeSeesNewContent(t *testing.T) {
	e := newEnv(t)
	e.put("doc", pattern(12, 300*kib))
	e.mount(smallBlocks...)
	mustRead(t, e.path("doc"))
	newData := pattern(13, 500*kib+1) // another size, too
	e.put("doc", newData)
	assertSame(t, "after change", mustRead(t, e.path("doc")), newData)
	e.emu.Delete(testBucket, "doc")
	if _, err := os.ReadFile(e.path("doc")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted object: %v, want ENOENT", err)
	}
}

func TestChangeMidReadIsESTALE(t *testing.T) {
	e := newEnv(t)
	old := pattern(14, 16*mib)
	e.put("moving.bin", old)
	e.mount(smallBlocks...)
	f, err := os.Open(e.path("moving.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64*kib)
	if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, old[:64*kib]) {
		t.Fatalf("first read: %v", err)
	}
	e.put("moving.bin", pattern(15, 16*mib))
	// A block far from anything read or read ahead.
	off := int64(12 * mib)
	_, err = f.ReadAt(buf, off)
	if !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("read after change: err=%v, want ESTALE (and never new bytes)", err)
	}
	// A new open sees the new version.
	assertSame(t, "reopen", mustRead(t, e.path("moving.bin")), pattern(15, 16*mib))
}

func TestFaultsAreRetriedWithCorrectBytes(t *testing.T) {
	e := newEnv(t)
	data := pattern(16, 4*mib)
	e.put("faulty.bin", data)
	e.mount(append(smallBlocks, "read_timeout=2s")...)
	e.emu.SetFaults(ossemu.Faults{ResetAfterBytes: 100*kib + 17, ResetCount: 6, KeyFilter: "faulty"})
	assertSame(t, "with resets", mustRead(t, e.path("faulty.bin")), data)
	e.emu.SetFaults(ossemu.Faults{Status5xxEveryN: 3, Status5xxCode: 503, KeyFilter: "faulty2"})
	data2 := pattern(17, 3*mib)
	e.put("faulty2.bin", data2)
	assertSame(t, "with 503s", mustRead(t, e.path("faulty2.bin")), data2)
	e.emu.SetFaults(ossemu.Faults{StallAfterBytes: 10 * kib, StallDuration: 30 * time.Second, StallCount: 2, KeyFilter: "faulty3"})
	data3 := pattern(18, 1*mib)
	e.put("faulty3.bin", data3)
	assertSame(t, "with stalls", mustRead(t, e.path("faulty3.bin")), data3)
	e.emu.SetFaults(ossemu.Faults{})
}

func TestWritesAreEROFS(t *testing.T) {
	e := newEnv(t)
	e.put("ro.txt", []byte("x"))
	e.put("d/x", []byte("x"))
	e.mount()
	checks := map[string]error{}
	checks["create"] = os.WriteFile(e.path("new.txt"), []byte("y"), 0o644)
	_, err := os.OpenFile(e.path("ro.txt"), os.O_WRONLY, 0)
	checks["open for write"] = err
	checks["mkdir"] = os.Mkdir(e.path("nd"), 0o755)
	checks["remove"] = os.Remove(e.path("ro.txt"))
	checks["rename"] = os.Rename(e.path("ro.txt"), e.path("r2"))
	checks["truncate"] = os.Truncate(e.path("ro.txt"), 0)
	checks["chmod"] = os.Chmod(e.path("ro.txt"), 0o777)
	checks["rmdir"] = os.Remove(e.path("d"))
	for what, err := range checks {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
}

func TestCacheStaysUnderCacheSize(t *testing.T) {
	e := newEnv(t)
	data := pattern(19, 12*mib)
	e.put("big.bin", data)
	e.mount(append(smallBlocks, "cache_size=2M")...)
	assertSame(t, "big through a small cache", mustRead(t, e.path("big.bin")), data)
	assertSame(t, "again", mustRead(t, e.path("big.bin")), data)
	e.unmount()
	if used := diskUsage(t, filepath.Join(e.cacheDir)); used > 2*mib+256*kib {
		t.Errorf("cache dir holds %d bytes of data, limit 2 MiB", used)
	}
}

// diskUsage sums the allocated bytes of the data files under dir.
func diskUsage(t *testing.T, dir string) int64 {
	var total int64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() && strings.HasSuffix(p, ".data") {
			total += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// cachedBlocks reads the checkpoints in the cache dir (daemon stopped) and
// returns, per key, the set of blocks they list.
func cachedBlocks(t *testing.T, dir string) map[string]map[int]bool {
	out := map[string]map[int]bool{}
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !strings.HasSuffix(p, ".ckpt") {
			return nil
		}
		v, err := checkpoint.ReadHeader(p)
		if err != nil {
			return nil
		}
		l, blocks, err := checkpoint.Load(p, v)
		if err != nil {
			return nil
		}
		l.Close()
		m := map[int]bool{}
		for b := range blocks {
			m[b] = true
		}
		out[v.Key] = m
		return nil
	})
	return out
}

func TestKill9MidReadThenRemountFetchesOnlyMissingBlocks(t *testing.T) {
	e := newEnv(t)
	data := pattern(20, 24*mib)
	e.put("crash.bin", data)
	const bs = 64 * kib
	e.emu.SetFaults(ossemu.Faults{BytesPerSec: 8 * mib})
	e.mount(append(smallBlocks, "parallel=4")...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = os.ReadFile(e.path("crash.bin")) // fails once the daemon dies
	}()
	deadline := time.Now().Add(30 * time.Second)
	for bodyBytes(e.gets("crash.bin")) < 4*mib && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// The root's attributes are now in the kernel's cache, so stat of the dead
	// mount will succeed: the next mount must still see it is dead.
	if _, err := os.Stat(e.mnt); err != nil {
		t.Fatal(err)
	}
	e.kill9()
	<-done
	have := cachedBlocks(t, e.cacheDir)["crash.bin"]
	if len(have) == 0 {
		t.Fatal("checkpoint lists no block after 4 MiB were fetched")
	}
	e.emu.SetFaults(ossemu.Faults{})
	e.emu.ResetRequests()
	e.mount(smallBlocks...) // also replaces the dead mount the kill left
	assertSame(t, "after kill -9 and remount", mustRead(t, e.path("crash.bin")), data)
	for _, r := range e.gets("crash.bin") {
		if r.Range == "" || r.BodyBytes == 0 {
			continue
		}
		var a, b int64
		if _, err := fmt.Sscanf(r.Range, "bytes=%d-%d", &a, &b); err != nil {
			t.Fatalf("range %q", r.Range)
		}
		for blk := a / bs; blk <= b/bs; blk++ {
			if have[int(blk)] && blk*bs >= a && (blk+1)*bs-1 <= b {
				t.Errorf("block %d was in the checkpoint but fetched again (%s)", blk, r.Range)
			}
		}
	}
	if got := bodyBytes(e.gets("crash.bin")); got > int64(len(data))-int64(len(have))*bs {
		t.Errorf("remount moved %d bytes; only %d were missing", got, int64(len(data))-int64(len(have))*bs)
	}
}

func TestCorruptBlockAndCheckpointAreRefetched(t *testing.T) {
	e := newEnv(t)
	data := pattern(21, 1*mib)
	e.put("c.bin", data)
	e.mount(smallBlocks...)
	assertSame(t, "first", mustRead(t, e.path("c.bin")), data)
	e.unmount()
	var dataFile, ckptFile string
	_ = filepath.Walk(e.cacheDir, func(p string, fi os.FileInfo, err error) error {
		switch {
		case err != nil:
		case strings.HasSuffix(p, ".data"):
			dataFile = p
		case strings.HasSuffix(p, ".ckpt"):
			ckptFile = p
		}
		return nil
	})
	if dataFile == "" || ckptFile == "" {
		t.Fatal("no cache files after a read")
	}
	// Flip a byte in block 5.
	f, err := os.OpenFile(dataFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	f.ReadAt(b, 5*64*kib+100)
	b[0] ^= 0xff
	f.WriteAt(b, 5*64*kib+100)
	f.Close()
	e.emu.ResetRequests()
	e.mount(smallBlocks...)
	assertSame(t, "after block corruption", mustRead(t, e.path("c.bin")), data)
	refetched := false
	for _, r := range e.gets("c.bin") {
		if r.BodyBytes > 0 && strings.HasPrefix(r.Range, fmt.Sprintf("bytes=%d-", 5*64*kib)) {
			refetched = true
		}
	}
	if !refetched {
		t.Errorf("corrupted block not refetched: %+v", e.gets("c.bin"))
	}
	e.unmount()

	// Damage the checkpoint: everything is refetched, nothing wrong served.
	ck, _ := os.ReadFile(ckptFile)
	ck[12] ^= 0x55 // inside the header: the whole record is untrustworthy
	os.WriteFile(ckptFile, ck, 0o600)
	e.emu.ResetRequests()
	e.mount(smallBlocks...)
	assertSame(t, "after checkpoint corruption", mustRead(t, e.path("c.bin")), data)
	if got := bodyBytes(e.gets("c.bin")); got < int64(len(data))-64*kib {
		t.Errorf("after a damaged checkpoint only %d bytes were refetched", got)
	}
}
