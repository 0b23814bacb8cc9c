package test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/test/ossemu"
)

// The reliability suite (issue 5). Every test here runs in `make test` at a
// small scale; `make reliability` runs them with -reliability, at the scale
// the issue names, and prints the table of what they verified.

var (
	reliabilityFlag = flag.Bool("reliability", false, "run the reliability suite at full scale")
	reliabilityOut  = flag.String("reliability-out", "", "write the reliability table (markdown) to this file")
	soakFor         = flag.Duration("soak-for", 0, "run the soak this long instead of its scale's duration")
	soakLatency     = flag.Duration("soak-latency", 0, "delay every answer of the soak's server by this much (a slow link)")
)

// relScale is how big the reliability cases are.
type relScale struct {
	objSize   int           // bytes of each object the fault cases read
	readers   int           // concurrent readers per fault case
	downFor   time.Duration // how long the server is down
	kills     int           // kill -9 rounds
	killSize  int           // bytes of each of the 4 objects read while killing
	bigSize   int           // object read through a small cache filesystem
	soakFor   time.Duration // mixed load duration
	soakFiles int
}

func scale() relScale {
	if *reliabilityFlag {
		return relScale{objSize: 16 << 20, readers: 8, downFor: 10 * time.Second, kills: 20, killSize: 256 << 20,
			bigSize: 1 << 30, soakFor: 5 * time.Minute, soakFiles: 50}
	}
	return relScale{objSize: 2 << 20, readers: 8, downFor: 3 * time.Second, kills: 3, killSize: 16 << 20,
		bigSize: 96 << 20, soakFor: 15 * time.Second, soakFiles: 12}
}

// relRow is one line of the reliability table.
type relRow struct {
	Kind          string
	Reads         int64 // reads that returned (right bytes or an error)
	BytesVerified int64 // bytes compared with the source and found equal
	WrongBytes    int64 // bytes returned that differ from the source (must be 0)
	Errors        int64 // reads that failed cleanly (EIO, ESTALE)
	Restarts      int   // daemon restarts needed (must be 0; kills are not counted)
	PeakRSS       int64 // daemon VmHWM during the case, bytes
	Note          string
}

var relTable struct {
	sync.Mutex
	rows []relRow
}

func addRelRow(r relRow) {
	relTable.Lock()
	defer relTable.Unlock()
	relTable.rows = append(relTable.rows, r)
}

// printRelTable writes the table to stdout and, with -reliability-out, to
// a file. Called from TestMain after the tests ran.
func printRelTable() {
	relTable.Lock()
	defer relTable.Unlock()
	if len(relTable.rows) == 0 {
		return
	}
	var b strings.Builder
	mode := "small scale (make test)"
	if *reliabilityFlag {
		mode = "full scale (make reliability)"
	}
	fmt.Fprintf(&b, "## ossmount reliability, %s, %s\n\n", mode, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("| case | reads | bytes verified | wrong bytes | errors returned | daemon restarts | peak RSS | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range relTable.rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.0f MiB | %s |\n", r.Kind, r.Reads, r.BytesVerified, r.WrongBytes,
			r.Errors, r.Restarts, float64(r.PeakRSS)/(1<<20), r.Note)
	}
	fmt.Print("\n" + b.String())
	if *reliabilityOut != "" {
		if err := os.WriteFile(*reliabilityOut, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// resetPeakRSS restarts the kernel's VmHWM of pid.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procStatus reads a "Name: N kB" field of /proc/pid/status, in bytes.
func procStatus(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

func openFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// alive fails the test if the daemon has exited.
func (e *env) alive(t *testing.T) {
	t.Helper()
	select {
	case <-e.exited:
		t.Fatalf("the daemon exited")
	default:
	}
}

// readOutcome is what one bounded read came to.
type readOutcome struct {
	verified, wrong int64
	err             error
	hung            bool
}

// boundedRead reads p fully and compares it with want, giving up (and
// reporting a hang) after limit.
func boundedRead(p string, want []byte, limit time.Duration) readOutcome {
	ch := make(chan readOutcome, 1)
	go func() {
		got, err := os.ReadFile(p)
		if err != nil {
			ch <- readOutcome{err: err}
			return
		}
		ch <- compareBytes(got, want)
	}()
	select {
	case o := <-ch:
		return o
	case <-time.After(limit):
		return readOutcome{hung: true}
	}
}

// compareBytes counts equal and differing bytes (a length difference
// counts as wrong bytes too).
func compareBytes(got, want []byte) readOutcome {
	if bytes.Equal(got, want) {
		return readOutcome{verified: int64(len(got))}
	}
	var o readOutcome
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			o.wrong++
		}
	}
	o.wrong += int64(max(len(got), len(want)) - n)
	o.verified = int64(n) - o.wrong
	return o
}

// cleanReadError reports whether err is a failure a reader may see under
// faults: EIO or ESTALE (never ENOENT, EINVAL, a short read...).
func cleanReadError(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ESTALE)
}

// faultCase is one fault kind of TestFaultsWithConcurrentReaders.
type faultCase struct {
	name string
	// set turns the fault on for objects under prefix (listing faults
	// cannot be limited to a prefix and hit every listing).
	set func(e *env, prefix string)
	// tag is the emulator's name for the fault, which must show in its
	// request log: proof that the fault was really injected.
	tag string
	// listing: readers also list the object's directory.
	listing bool
	// retryable faults leave every read correct; others may fail reads.
	retryable bool
	// liftAfter, if set, lifts the fault while the readers run.
	liftAfter time.Duration
}

func TestFaultsWithConcurrentReaders(t *testing.T) {
	sc := scale()
	e := newEnv(t)
	e.mount("block_size=64K", "part_size=256K", "read_timeout=2s", "retries=4", "parallel=8")
	pid := e.cmd.Process.Pid
	cases := []faultCase{
		{name: "connection reset mid-body", tag: "reset", retryable: true, set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.ResetAfterBytes = 37*1024 + 11 }))
		}},
		{name: "503 SlowDown every 2nd request", tag: "5xx", retryable: true, set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.Status5xxEveryN, f.Status5xxCode = 2, 503 }))
		}},
		// A burst longer than a request's retries may fail the reads that
		// meet it (EIO); the ones after it must work.
		{name: "500 burst (next 12 requests)", tag: "5xx", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.FailNext = 12 }))
		}},
		{name: "stall longer than read_timeout", tag: "stall", retryable: true, set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.StallAfterBytes, f.StallDuration, f.StallCount = 20*1024, time.Minute, 6 }))
		}},
		{name: "truncated body (clean FIN)", tag: "short", retryable: true, set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.ShortBodyBytes = 50 * 1024 }))
		}},
		{name: fmt.Sprintf("server down %s, then up", sc.downFor), tag: "down", liftAfter: sc.downFor, set: func(e *env, p string) {
			e.emu.SetFaults(faults("", func(f *faultsT) { f.Down = true }))
		}},
		{name: "wrong Content-Range", tag: "wrong-content-range", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.WrongContentRange = true }))
		}},
		{name: "Content-Length shorter than the range", tag: "length-mismatch", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.LengthMismatch = 1000 }))
		}},
		{name: "body longer than its Content-Length", tag: "extra-body", retryable: true, set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.ExtraBodyBytes = 100 }))
		}},
		{name: "200 where 206 was asked", tag: "ignore-range", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.IgnoreRange = true }))
		}},
		{name: "absurd object size", tag: "absurd-size", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.AbsurdSize = true }))
		}},
		{name: "HEAD 500 without x-oss-err", tag: "head-error-no-detail", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.HeadErrorNoDetail = true }))
		}},
		{name: "huge response headers (2 MiB)", tag: "huge-header", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.HugeHeaderBytes = 2 << 20 }))
		}},
		{name: "malformed listing XML", tag: "malformed-xml", listing: true, set: func(e *env, p string) {
			e.emu.SetFaults(faults("", func(f *faultsT) { f.MalformedListing = true }))
		}},
		{name: "duplicate, unsorted listing entries", tag: "duplicate-listing", listing: true, retryable: true, set: func(e *env, p string) {
			e.emu.SetFaults(faults("", func(f *faultsT) { f.DuplicateListing = true }))
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := fmt.Sprintf("case%02d", i)
			key := dir + "/obj.bin"
			data := pattern(int64(1000+i), sc.objSize)
			e.put(key, data)
			e.put(dir+"/other.txt", []byte("x"))
			e.emu.ResetRequests()
			resetPeakRSS(pid)
			c.set(e, dir+"/")
			if c.liftAfter > 0 {
				time.AfterFunc(c.liftAfter, func() { e.emu.SetFaults(faultsT{}) })
			}
			row := relRow{Kind: c.name}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for r := 0; r < sc.readers; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if c.listing {
						ents, err := os.ReadDir(e.path(dir))
						mu.Lock()
						row.Reads++
						switch {
						case err != nil && !cleanReadError(err):
							t.Errorf("listing: %v, want EIO", err)
						case err != nil:
							row.Errors++
						default:
							seen := map[string]bool{}
							for _, d := range ents {
								if seen[d.Name()] {
									t.Errorf("listing shows %s twice", d.Name())
								}
								seen[d.Name()] = true
							}
							if !seen["obj.bin"] || !seen["other.txt"] || len(ents) != 2 {
								t.Errorf("listing: %v", ents)
							}
						}
						mu.Unlock()
					}
					o := boundedRead(e.path(key), data, 2*time.Minute)
					mu.Lock()
					defer mu.Unlock()
					row.Reads++
					row.BytesVerified += o.verified
					row.WrongBytes += o.wrong
					switch {
					case o.hung:
						t.Errorf("a read hung for 2 minutes")
					case o.wrong > 0:
						t.Errorf("a read returned %d wrong bytes", o.wrong)
					case o.err != nil && !cleanReadError(o.err):
						t.Errorf("read failed with %v; want EIO or ESTALE", o.err)
					case o.err != nil && c.retryable:
						t.Errorf("read failed under a retryable fault: %v", o.err)
					case o.err != nil:
						row.Errors++
					}
				}()
			}
			wg.Wait()
			injected := 0
			for _, r := range e.emu.Requests() {
				if strings.Contains(r.Fault, c.tag) {
					injected++
				}
			}
			if injected == 0 {
				t.Errorf("the emulator never injected %q", c.tag)
			}
			e.emu.SetFaults(faultsT{})
			e.alive(t)
			row.PeakRSS = procStatus(pid, "VmHWM")
			row.Note = fmt.Sprintf("%d answers faulted", injected)

			// Once the fault is gone (and cached lookups have expired),
			// reads succeed without a restart.
			time.Sleep(1100 * time.Millisecond)
			o := boundedRead(e.path(key), data, time.Minute)
			if o.err != nil || o.wrong != 0 || o.hung {
				t.Errorf("after the fault was lifted: %+v", o)
			}
			row.Reads++
			row.BytesVerified += o.verified
			addRelRow(row)
		})
	}
}

// faultsT abbreviates the emulator's fault type.
type faultsT = ossemu.Faults

// faults returns a fault set limited to keys under prefix ("" = all).
func faults(prefix string, set func(*faultsT)) faultsT {
	f := faultsT{KeyFilter: prefix}
	set(&f)
	return f
}

// TestKill9DuringConcurrentReads kills the daemon at random moments while
// four readers stream four objects. After every remount the files read
// byte-equal, no block a checkpoint listed at the kill is fetched again,
// and over all rounds the bytes fetched exceed the objects' size by at
// most the parts in flight at each kill.
func TestKill9DuringConcurrentReads(t *testing.T) {
	sc := scale()
	e := newEnv(t)
	const parallel, partSize = 8, 256 << 10
	opts := []string{"block_size=64K", "part_size=256K", fmt.Sprintf("parallel=%d", parallel)}
	keys := []string{"k/a.bin", "k/b.bin", "k/c.bin", "k/d.bin"}
	datas := map[string][]byte{}
	for i, k := range keys {
		datas[k] = pattern(int64(2000+i), sc.killSize)
		e.put(k, datas[k])
	}
	// Slow enough that every round is cut short: 8 connections at 2 MiB/s.
	e.emu.SetFaults(ossemu.Faults{BytesPerSec: 2 << 20})
	maxDelay := 1000
	if *reliabilityFlag {
		maxDelay = 3000
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	var fetched int64
	row := relRow{Kind: fmt.Sprintf("kill -9 x%d during 4 concurrent %d MiB reads", sc.kills, sc.killSize>>20)}
	for round := 0; round <= sc.kills; round++ {
		have := cachedBlocks(t, e.cacheDir)
		e.emu.ResetRequests()
		last := round == sc.kills
		if last {
			e.emu.SetFaults(ossemu.Faults{})
		}
		e.mount(opts...)
		resetPeakRSS(e.cmd.Process.Pid)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := os.ReadFile(e.path(k))
				mu.Lock()
				defer mu.Unlock()
				row.Reads++
				if err != nil {
					if last {
						t.Errorf("final read of %s: %v", k, err)
					}
					row.Errors++
					return
				}
				o := compareBytes(got, datas[k])
				row.BytesVerified += o.verified
				row.WrongBytes += o.wrong
				if o.wrong > 0 {
					t.Errorf("round %d: %s read %d wrong bytes", round, k, o.wrong)
				}
			}()
		}
		if !last {
			time.Sleep(time.Duration(100+rng.IntN(maxDelay-100)) * time.Millisecond)
			row.PeakRSS = max(row.PeakRSS, procStatus(e.cmd.Process.Pid, "VmHWM"))
			e.kill9()
		}
		wg.Wait()
		if last {
			row.PeakRSS = max(row.PeakRSS, procStatus(e.cmd.Process.Pid, "VmHWM"))
		}
		// Nothing the checkpoints held at the last kill came again.
		for _, r := range e.emu.Requests() {
			if r.Op != "GetObject" || r.BodyBytes == 0 {
				continue
			}
			fetched += r.BodyBytes
			var a, b int64
			if _, err := fmt.Sscanf(r.Range, "bytes=%d-%d", &a, &b); err != nil {
				continue // the open's probe asks for block 0 only when nothing is cached
			}
			const bs = 64 << 10
			for blk := a / bs; blk <= b/bs; blk++ {
				if have[r.Key][int(blk)] && blk*bs >= a && (blk+1)*bs-1 <= b {
					t.Errorf("round %d: block %d of %s was in the checkpoint but fetched again (%s)", round, blk, r.Key, r.Range)
				}
			}
		}
	}
	total := int64(len(keys) * sc.killSize)
	if limit := total + int64(sc.kills*parallel*partSize); fetched > limit {
		t.Errorf("fetched %d bytes for %d bytes of objects over %d kills; at most %d expected", fetched, total, sc.kills, limit)
	}
	row.Note = fmt.Sprintf("fetched %.2f× the objects' size", float64(fetched)/float64(total))
	addRelRow(row)
}

func readLog(e *env) string {
	b, _ := os.ReadFile(e.logFile)
	return string(b)
}

// errorLines counts the log's ERROR lines containing what.
func (e *env) errorLines(what string) int {
	b, _ := os.ReadFile(e.logFile)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, what) {
			n++
		}
	}
	return n
}

// TestSmallAndFailingCacheDisk puts the cache on a 64 MiB tmpfs: a file
// larger than it reads correctly while the filesystem never fills; then the
// filesystem turns read-only, then the cache directory is deleted, and
// reads go on working, with one error line for each.
func TestSmallAndFailingCacheDisk(t *testing.T) {
	sc := scale()
	e := newEnv(t)
	fsDir := filepath.Join(t.TempDir(), "cachefs")
	if err := os.Mkdir(fsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", fsDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		e.unmount()
		_ = syscall.Unmount(fsDir, syscall.MNT_DETACH)
	})
	e.cacheDir = filepath.Join(fsDir, "cache")
	big := pattern(3000, sc.bigSize)
	e.put("big.bin", big)
	e.mount("block_size=64K", "part_size=1M", "min_free=8M")
	pid := e.cmd.Process.Pid
	resetPeakRSS(pid)

	// Watch the filesystem while the big file is read twice over.
	stop := make(chan struct{})
	minFree := make(chan int64, 1)
	go func() {
		low := int64(math.MaxInt64)
		for {
			var st syscall.Statfs_t
			if syscall.Statfs(fsDir, &st) == nil {
				low = min(low, int64(st.Bavail)*st.Bsize)
			}
			select {
			case <-stop:
				minFree <- low
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	row := relRow{Kind: fmt.Sprintf("%d MiB file through a 64 MiB cache filesystem", sc.bigSize>>20)}
	for i := 0; i < 2; i++ {
		o := boundedRead(e.path("big.bin"), big, 5*time.Minute)
		row.Reads++
		row.BytesVerified += o.verified
		row.WrongBytes += o.wrong
		if o.err != nil || o.wrong != 0 || o.hung {
			t.Fatalf("read %d through a small cache: %+v", i, o)
		}
		dropPages(t, e.path("big.bin"))
	}
	close(stop)
	low := <-minFree
	if low <= 0 {
		t.Errorf("the cache filesystem filled up")
	}
	row.PeakRSS = procStatus(pid, "VmHWM")
	row.Note = fmt.Sprintf("lowest free space %.1f MiB (min_free=8M)", float64(low)/(1<<20))
	addRelRow(row)

	// Read-only cache filesystem: reads stream through, one error line.
	// (A filesystem with files open for writing cannot be remounted
	// read-only, so the daemon's tmpfs is detached and a read-only one
	// takes its place: files already open keep their old home, every new
	// object meets EROFS.)
	if out, err := exec.Command("umount", "-l", fsDir).CombinedOutput(); err != nil {
		t.Fatalf("umount -l: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", fsDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(e.cacheDir, "objects"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", fsDir).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	before := e.errorLines("cache")
	for i := 0; i < 3; i++ {
		key := fmt.Sprintf("ro%d.bin", i)
		data := pattern(int64(3100+i), 3<<20)
		e.put(key, data)
		assertSame(t, "read with a read-only cache", mustRead(t, e.path(key)), data)
	}
	if !strings.Contains(tail(readLog(e), 20000), "read-only file system") {
		t.Errorf("the log does not name the read-only filesystem")
	}
	if n := e.errorLines("cache") - before; n < 1 || n > 2 {
		t.Errorf("a read-only cache filesystem logged %d error lines, want one (or one per kind of failure)", n)
	}

	// Cache directory deleted while mounted: with the read-only tmpfs gone
	// too, cache_dir names nothing.
	if err := syscall.Unmount(fsDir, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.cacheDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cache dir still there: %v", err)
	}
	before = e.errorLines("cache")
	for i := 0; i < 3; i++ {
		key := fmt.Sprintf("gone%d.bin", i)
		data := pattern(int64(3200+i), 3<<20)
		e.put(key, data)
		assertSame(t, "read with the cache dir deleted", mustRead(t, e.path(key)), data)
	}
	if n := e.errorLines("cache") - before; n > 2 {
		t.Errorf("a deleted cache dir logged %d error lines, want at most one per kind of failure", n)
	}
	e.alive(t)
	if testing.Verbose() {
		b, _ := os.ReadFile(e.logFile)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				t.Log(l)
			}
		}
	}
}

// A slow directory reader over 20,000 keys (os.scandir with a little work
// per entry: a stat each, a pause every batch) while its listing expires
// again and again (metadata_ttl=50ms): every stat is answered from the
// listing being read, so the read costs its listing pages plus a constant.
func TestSlowDirectoryReaderOfManyKeys(t *testing.T) {
	n := 2000
	if *reliabilityFlag {
		n = 20_000
	}
	e := newEnv(t)
	e.putKeys("many", n)
	e.mount("metadata_ttl=50ms", "negative_ttl=50ms")
	pid := e.cmd.Process.Pid
	resetPeakRSS(pid)
	s := e.slowDirRead(t, "many", 32, 3*time.Millisecond)
	checkSlowDirRead(t, s, n)
	addRelRow(relRow{Kind: fmt.Sprintf("slow directory reader over %d keys, metadata_ttl=50ms", n),
		Reads: int64(s.entries), PeakRSS: procStatus(pid, "VmHWM"),
		Note: fmt.Sprintf("%d listing pages, %d HEADs, %d one-key listings", s.pages, s.heads, s.oneKeyLists)})
}

// TestHostileKeys mounts a bucket of keys that cannot all be paths and
// checks each one's documented result (README, "Keys that are not paths"):
// no panic, nothing escapes cache_dir, every readable key reads right.
func TestHostileKeys(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("n", 300)
	comp := strings.Repeat("c", 240)
	deep := "h/" + strings.Join([]string{comp, comp, comp, comp}, "/") // a 1,000-byte key
	keys := map[string]string{
		"h/../escape":      "hidden",
		"h/./dot":          "hidden",
		"h//double":        "hidden",
		"h/" + long:        "hidden",
		"h/trail/":         "dir",  // a directory marker
		"h/marker/":        "dir",  // a marker with content: still the directory
		"h/both":           "dir",  // a file that is also a prefix: the directory
		"h/both/child":     "file", // ...whose children read
		deep:               "file",
		"h/new\nline":      "file",
		"h/ctl\x01\x7f":    "file",
		"h/bad\xff\xfeutf": "file",
		"h/sp ace%2F&?#":   "file",
	}
	datas := map[string][]byte{}
	i := 0
	for k := range keys {
		i++
		d := pattern(int64(4000+i), 1000+i)
		if k == "h/trail/" {
			d = nil
		}
		datas[k] = d
		e.put(k, d)
	}
	e.mount()
	ents, err := os.ReadDir(e.path("h"))
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, d := range ents {
		if shown[d.Name()] {
			t.Errorf("%q listed twice", d.Name())
		}
		shown[d.Name()] = true
	}
	for k, want := range keys {
		rel := strings.TrimSuffix(strings.TrimPrefix(k, "h/"), "/")
		top, _, _ := strings.Cut(rel, "/")
		switch want {
		case "hidden":
			if shown[rel] || (top != "" && top != "." && top != ".." && shown[top] && !strings.Contains(rel, "/")) {
				t.Errorf("key %q should be hidden; listing %v", k, names(ents))
			}
		case "dir":
			fi, err := os.Stat(e.path("h/" + rel))
			if err != nil || !fi.IsDir() || !shown[rel] {
				t.Errorf("key %q: want a directory: %v", k, err)
			}
		case "file":
			if !shown[top] {
				t.Errorf("key %q: %q not listed", k, top)
			}
			got, err := os.ReadFile(e.path("h/" + rel))
			if err != nil {
				t.Errorf("key %q: %v", k, err)
				continue
			}
			if !bytes.Equal(got, datas[k]) {
				t.Errorf("key %q: wrong content", k)
			}
		}
	}
	if _, err := os.Stat(e.path("h/..")); err != nil {
		t.Errorf("h/..: %v", err)
	}
	if _, err := os.Stat(e.path("escape")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("escape at the root: %v", err)
	}
	e.alive(t)
	// The cache holds hashes only: nothing named after a key, nothing
	// outside cache_dir.
	hashName := regexp.MustCompile(`^([0-9a-f]{2}|[0-9a-f]{32,}\.(data|ckpt)|objects|lock|control\.sock)$`)
	_ = filepath.Walk(e.cacheDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != e.cacheDir && !hashName.MatchString(fi.Name()) {
			t.Errorf("cache entry %q is not a hash name", p)
		}
		return nil
	})
	parent, _ := os.ReadDir(filepath.Dir(e.cacheDir))
	for _, d := range parent {
		if n := d.Name(); n != "cache" && n != "mnt" && n != "ossmount.log" {
			t.Errorf("something appeared beside the cache dir: %q", n)
		}
	}
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, d := range ents {
		out = append(out, d.Name())
	}
	return out
}

// goroutines reads the daemon's goroutine count from its pprof endpoint.
func goroutines(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	if err != nil {
		t.Fatalf("goroutine profile header %q", line)
	}
	return n
}

// TestSoakMixedReadsWhileReplacing runs 16 readers, sequential and random,
// over a set of objects while some are replaced, by objects of other sizes.
// Every byte must belong to the version the reading handle opened, to that
// version's end (or the read fails with ESTALE); every EIO must have its
// log line; memory, file descriptors and goroutines must not grow.
func TestSoakMixedReadsWhileReplacing(t *testing.T) {
	sc := scale()
	if *soakFor > 0 {
		sc.soakFor = *soakFor
	}
	const objSize = 1 << 20
	e := newEnv(t)
	e.emu.SetFaults(ossemu.Faults{Latency: *soakLatency})
	addr := freePort(t)
	e.mount("block_size=64K", "part_size=256K", "cache_size=24M", "metrics_addr="+addr)
	pid := e.cmd.Process.Pid

	var vmu sync.Mutex
	versions := make([][]int64, sc.soakFiles) // seeds, oldest first
	key := func(i int) string { return fmt.Sprintf("soak/o%02d.bin", i) }
	// Versions differ in size, from half to one and a half times objSize.
	sizeOf := func(seed int64) int { return objSize/2 + int(seed%5)*objSize/4 + int(seed%7) }
	for i := range versions {
		versions[i] = []int64{int64(5000 + i*1000)}
		e.put(key(i), pattern(versions[i][0], sizeOf(versions[i][0])))
	}
	matches := func(i int, seed int64, off int64, got []byte) bool {
		size := int64(sizeOf(seed))
		return off+int64(len(got)) <= size && bytes.Equal(got, pattern(seed, int(size))[off:off+int64(len(got))])
	}
	baseGoroutines := goroutines(t, addr)
	resetPeakRSS(pid)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var eios atomic.Int64 // EIOs returned to the readers: each must have its log line
	row := relRow{Kind: fmt.Sprintf("soak %s: 16 readers, %d objects, replacements of other sizes", sc.soakFor, sc.soakFiles)}
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if row.WrongBytes == 0 {
			t.Errorf(format, args...)
		}
		row.WrongBytes++
	}
	// findVersion returns the version seeds of object i that got may be.
	candidates := func(i int) []int64 {
		vmu.Lock()
		defer vmu.Unlock()
		return slices.Clone(versions[i])
	}
	for r := 0; r < 16; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.IntN(sc.soakFiles)
				f, err := os.Open(e.path(key(i)))
				if err != nil {
					if errors.Is(err, syscall.EIO) {
						eios.Add(1)
						t.Errorf("open %s: %v (want only ESTALE)", key(i), err)
					} else if !cleanReadError(err) {
						fail("open %s: %v", key(i), err)
					}
					continue
				}
				var seed int64 = -1
				var n, verified int64
				var rerr error
				check := func(off int64, got []byte) {
					if seed < 0 {
						for _, s := range candidates(i) {
							if matches(i, s, off, got) {
								seed = s
								break
							}
						}
						if seed < 0 {
							fail("%s at %d: bytes of no version", key(i), off)
							return
						}
					} else if !matches(i, seed, off, got) {
						fail("%s at %d: bytes of another version than the handle's", key(i), off)
						return
					}
					verified += int64(len(got))
				}
				if r%2 == 0 { // sequential
					got, err := io.ReadAll(f)
					rerr = err
					if len(got) > 0 {
						check(0, got)
					}
					if err == nil && seed >= 0 && len(got) != sizeOf(seed) {
						fail("%s: %d bytes, its version has %d", key(i), len(got), sizeOf(seed))
					}
					n++
				} else { // random, within the size fstat gives
					size, err := fstatSize(f)
					rerr = err
					buf := make([]byte, 128<<10)
					for k := 0; k < 16 && rerr == nil; k++ {
						ln := int64(4<<10) << rng.IntN(6)
						off := rng.Int64N(size - ln)
						m, err := f.ReadAt(buf[:ln], off)
						if err != nil {
							rerr = err
							break
						}
						check(off, buf[:m])
						n++
					}
				}
				f.Close()
				mu.Lock()
				row.Reads += n
				row.BytesVerified += verified
				if rerr != nil {
					row.Errors++
					if errors.Is(rerr, syscall.EIO) {
						eios.Add(1)
					}
					if !errors.Is(rerr, syscall.ESTALE) {
						t.Errorf("read %s: %v (want only ESTALE)", key(i), rerr)
					}
				}
				mu.Unlock()
			}
		}()
	}
	// Replace a few objects every half second.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			i := rng.IntN(max(sc.soakFiles/4, 1))
			vmu.Lock()
			seed := versions[i][len(versions[i])-1] + 1
			versions[i] = append(versions[i], seed)
			vmu.Unlock()
			e.put(key(i), pattern(seed, sizeOf(seed)))
		}
	}()
	time.Sleep(sc.soakFor / 5)
	midRSS, midFDs := procStatus(pid, "VmRSS"), openFDs(pid)
	time.Sleep(sc.soakFor - sc.soakFor/5)
	close(stop)
	wg.Wait()
	endRSS, endFDs := procStatus(pid, "VmRSS"), openFDs(pid)
	time.Sleep(2 * time.Second) // idle: connections and fetches wind down
	endGoroutines := goroutines(t, addr)
	e.alive(t)
	if endRSS > midRSS+midRSS/2+32<<20 {
		t.Errorf("RSS grew from %d MiB to %d MiB", midRSS>>20, endRSS>>20)
	}
	if endFDs > midFDs+32 {
		t.Errorf("open files grew from %d to %d", midFDs, endFDs)
	}
	// Idle keep-alive connections hold two goroutines each, at most
	// 2×(parallel+8) of them (the pool's idle bound); anything beyond is
	// a leak.
	if endGoroutines > baseGoroutines+2*(config.DefaultParallel+8)+16 {
		t.Errorf("goroutines: %d before the load, %d after it", baseGoroutines, endGoroutines)
	}
	if row.Reads == 0 || row.BytesVerified == 0 {
		t.Errorf("the soak read nothing")
	}
	if logged := int64(strings.Count(readLog(e), `msg="returning EIO"`)); eios.Load() > logged {
		t.Errorf("%d EIOs reached the readers, %d were logged: the others came from the kernel", eios.Load(), logged)
	}
	row.PeakRSS = procStatus(pid, "VmHWM")
	row.Note = fmt.Sprintf("RSS %d→%d MiB, fds %d→%d, goroutines %d→%d (idle), %d passthrough opens",
		midRSS>>20, endRSS>>20, midFDs, endFDs, baseGoroutines, endGoroutines, e.stats().PassthroughOpens)
	addRelRow(row)
}

// TestNegativeListingSizesAreLeftOut: a listing that gives objects negative
// sizes has those entries left out (and logged); nothing crashes, and the
// files are back once the listings are sane again.
func TestNegativeListingSizesAreLeftOut(t *testing.T) {
	e := newEnv(t)
	data := pattern(6000, 5000)
	e.put("neg/a.bin", data)
	e.put("neg/sub/b.bin", data)
	e.mount()
	e.emu.SetFaults(ossemu.Faults{NegativeListingSize: true})
	ents, err := os.ReadDir(e.path("neg"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ents); len(got) != 1 || got[0] != "sub" {
		t.Errorf("listing with negative sizes: %q, want only the directory", got)
	}
	e.emu.SetFaults(ossemu.Faults{})
	e.alive(t)
	time.Sleep(1100 * time.Millisecond)
	assertSame(t, "after sane listings", mustRead(t, e.path("neg/a.bin")), data)
}

// corruptFile damages a cache file in one of three ways.
func corruptFile(t *testing.T, p, how string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	switch how {
	case "truncated":
		err = f.Truncate(min(off, fi.Size()/2))
	case "zeroed":
		_, err = f.WriteAt(make([]byte, min(64<<10, fi.Size()-off)), off)
	case "bit-flipped":
		b := make([]byte, 1)
		if _, err = f.ReadAt(b, off); err == nil {
			b[0] ^= 0x10
			_, err = f.WriteAt(b, off)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestDamagedCacheFilesAreNeverServed truncates, zeroes and bit-flips data
// files and checkpoints while unmounted: every damage is detected, the
// bytes are refetched, and the reads are right.
func TestDamagedCacheFilesAreNeverServed(t *testing.T) {
	e := newEnv(t)
	const size = 1 << 20
	row := relRow{Kind: "cache files truncated, zeroed, bit-flipped while unmounted"}
	i := 0
	for _, file := range []string{".data", ".ckpt"} {
		for _, how := range []string{"truncated", "zeroed", "bit-flipped"} {
			i++
			key := fmt.Sprintf("dmg/%d.bin", i)
			data := pattern(int64(7000+i), size)
			e.put(key, data)
			e.mount("block_size=64K", "part_size=256K")
			assertSame(t, "first read", mustRead(t, e.path(key)), data)
			id := cacheDu(t, e.mnt)[key].ID
			e.unmount()
			// Past the checkpoint's header, so a record (not the whole
			// file's identity) is hit; in the data file, block 5.
			off := int64(5*64<<10 + 100)
			if file == ".ckpt" {
				fi, err := os.Stat(filepath.Join(e.cacheDir, "objects", id[:2], id+".ckpt"))
				if err != nil {
					t.Fatal(err)
				}
				off = fi.Size() - 20
			}
			corruptFile(t, filepath.Join(e.cacheDir, "objects", id[:2], id+file), how, off)
			e.emu.ResetRequests()
			e.mount("block_size=64K", "part_size=256K")
			got := mustRead(t, e.path(key))
			o := compareBytes(got, data)
			row.Reads++
			row.BytesVerified += o.verified
			row.WrongBytes += o.wrong
			if o.wrong > 0 {
				t.Errorf("%s %s: %d wrong bytes served", file, how, o.wrong)
			}
			if bodyBytes(e.gets(key)) == 0 {
				t.Errorf("%s %s: nothing refetched; the damage went unnoticed", file, how)
			}
			row.PeakRSS = max(row.PeakRSS, procStatus(e.cmd.Process.Pid, "VmHWM"))
			e.unmount()
		}
	}
	row.Note = "6 damages, each detected and refetched"
	addRelRow(row)
}
