package test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

// The reliability suite (issue 5). Every test here runs in `make test` at a
// small scale; `make reliability` runs them with -reliability, at the scale
// the issue names, and prints the table of what they verified.

var (
	reliabilityFlag = flag.Bool("reliability", false, "run the reliability suite at full scale")
	reliabilityOut  = flag.String("reliability-out", "", "write the reliability table (markdown) to this file")
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
		{name: "200 where 206 was asked", tag: "ignore-range", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.IgnoreRange = true }))
		}},
		{name: "absurd object size", tag: "absurd-size", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.AbsurdSize = true }))
		}},
		{name: "HEAD 500 without x-oss-err", tag: "head-error-no-detail", set: func(e *env, p string) {
			e.emu.SetFaults(faults(p, func(f *faultsT) { f.HeadErrorNoDetail = true }))
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
