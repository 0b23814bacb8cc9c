package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/test/ossemu"
)

// The operator's commands (issue 6): stats, metrics, warm, cache du,
// verify and clear, against a live mount and an idle cache dir.

// ossmountCmd runs the binary and returns stdout, stderr and the exit code.
func ossmountCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(*ossmountBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ossmount %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// statsSnapshot is the part of `ossmount stats --json` the tests look at.
type statsSnapshot struct {
	Requests       map[string]int64 `json:"requests"`
	Conditional    int64            `json:"conditional"`
	NotModified    int64            `json:"not_modified"`
	Opens          int64            `json:"opens"`
	PartGETs       int64            `json:"part_gets"`
	BytesFetched   int64            `json:"bytes_fetched"`
	CacheHitBytes  int64            `json:"cache_hit_bytes"`
	CacheMissBytes int64            `json:"cache_miss_bytes"`
	CacheAhead     int64            `json:"cache_readahead_bytes"`
	CacheHitRatio  float64          `json:"cache_hit_ratio"`
	Negative       int64            `json:"negative_lookups"`
	Errors         map[string]int64 `json:"errors"`
	CacheUsedBytes int64            `json:"cache_used_bytes"`
	CacheObjects   int              `json:"cache_objects"`
	CRCFailures    int64            `json:"crc_failures"`
	InFlight       int64            `json:"in_flight_gets"`

	PassthroughOpens  int64 `json:"passthrough_opens"`
	PassthroughPinned int   `json:"passthrough_pinned"`
}

func (e *env) stats() statsSnapshot {
	e.t.Helper()
	out, errs, code := ossmountCmd(e.t, "stats", "--json", e.mnt)
	if code != 0 {
		e.t.Fatalf("ossmount stats: exit %d: %s", code, errs)
	}
	var s statsSnapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("stats --json: %v\n%s", err, out)
	}
	return s
}

// emuCount counts logged requests by operation.
func (e *env) emuCount(op string) (n int64, body int64) {
	for _, r := range e.emu.Requests() {
		if r.Op == op {
			n++
			body += r.BodyBytes
		}
	}
	return n, body
}

// dropPages evicts p's pages from the kernel's page cache, so the next read
// reaches the daemon.
func dropPages(t *testing.T, p string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metric reads one unlabelled (or labelled, e.g. `{kind="GET"}`) sample.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not in /metrics:\n%s", name, body)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStatsAndMetricsFollowReads(t *testing.T) {
	e := newEnv(t)
	const size = 300 * kib
	data := pattern(61, size)
	e.put("a.bin", data)
	addr := freePort(t)
	// passthrough=off: the warm reads counted here must reach the daemon
	// (passthrough_test.go has the other way).
	e.mount(append([]string{"metrics_addr=" + addr, "passthrough=off"}, smallBlocks...)...)
	p := e.path("a.bin")
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}

	// The emulator's log and the daemon's counters must tell the same story.
	e.emu.ResetRequests()
	s0 := e.stats()

	// 1. Cold read: every byte fetched once, all of it a miss.
	assertSame(t, "cold read", mustRead(t, p), data)
	s1 := e.stats()
	gets, body := e.emuCount("GetObject")
	if d := s1.Requests["GET"] - s0.Requests["GET"]; d != gets {
		t.Errorf("cold read: stats count %d GETs, the emulator served %d", d, gets)
	}
	if d := s1.BytesFetched - s0.BytesFetched; d != body || d != size {
		t.Errorf("cold read: bytes_fetched moved by %d; emulator sent %d body bytes; object is %d", d, body, size)
	}
	if d := (s1.CacheHitBytes + s1.CacheMissBytes + s1.CacheAhead) - (s0.CacheHitBytes + s0.CacheMissBytes + s0.CacheAhead); d < size {
		t.Errorf("cold read: hit+miss+read-ahead bytes moved by %d, want at least %d", d, size)
	}
	if s1.CacheHitBytes != s0.CacheHitBytes {
		t.Errorf("cold read counted %d hit bytes", s1.CacheHitBytes-s0.CacheHitBytes)
	}
	if s1.CacheMissBytes == s0.CacheMissBytes {
		t.Errorf("cold read counted no miss bytes")
	}
	if s1.CacheUsedBytes < size || s1.CacheObjects < 1 {
		t.Errorf("cold read: cache holds %d bytes of %d objects", s1.CacheUsedBytes, s1.CacheObjects)
	}

	// 2. Reopen, unchanged: one conditional GET answered 304, no body bytes,
	// everything read from the cache. (dropPages opens the file too, so it
	// comes before the baseline.)
	dropPages(t, p)
	s1 = e.stats()
	e.emu.ResetRequests()
	assertSame(t, "reopen", mustRead(t, p), data)
	s2 := e.stats()
	gets, body = e.emuCount("GetObject")
	if d := s2.Conditional - s1.Conditional; d != 1 {
		t.Errorf("reopen: %d conditional requests, want 1", d)
	}
	if d := s2.NotModified - s1.NotModified; d != 1 {
		t.Errorf("reopen: %d 304s, want 1", d)
	}
	if d := s2.Requests["GET"] - s1.Requests["GET"]; d != gets || d != 1 {
		t.Errorf("reopen: stats count %d GETs, the emulator served %d, want 1", d, gets)
	}
	if d := s2.BytesFetched - s1.BytesFetched; d != 0 || body != 0 {
		t.Errorf("reopen: %d bytes fetched (emulator %d), want 0", d, body)
	}
	if d := s2.CacheHitBytes - s1.CacheHitBytes; d < size {
		t.Errorf("reopen: %d hit bytes, want at least %d", d, size)
	}
	if s2.CacheMissBytes != s1.CacheMissBytes {
		t.Errorf("reopen: miss bytes moved by %d", s2.CacheMissBytes-s1.CacheMissBytes)
	}

	// 3. Changed object: the conditional GET gets the new version (200),
	// the kernel reopens on the new version's inode (a second conditional
	// GET, answered 304), and the new bytes are fetched once.
	dropPages(t, p)
	s2 = e.stats()
	data2 := pattern(62, size)
	e.put("a.bin", data2)
	e.emu.ResetRequests()
	assertSame(t, "changed", mustRead(t, p), data2)
	s3 := e.stats()
	gets, body = e.emuCount("GetObject")
	if d := s3.Conditional - s2.Conditional; d != 2 {
		t.Errorf("change: %d conditional requests, want 2", d)
	}
	if d := s3.NotModified - s2.NotModified; d != 1 {
		t.Errorf("change: %d 304s, want 1 (the reopen on the new inode)", d)
	}
	if d := s3.Requests["GET"] - s2.Requests["GET"]; d != gets {
		t.Errorf("change: stats count %d GETs, the emulator served %d", d, gets)
	}
	if d := s3.BytesFetched - s2.BytesFetched; d != body || d != size {
		t.Errorf("change: bytes_fetched moved by %d, emulator sent %d, object is %d", d, body, size)
	}
	if s3.InFlight != 0 {
		t.Errorf("in_flight_gets %d after the reads ended", s3.InFlight)
	}

	// The metrics endpoint serves the same figures.
	for name, want := range map[string]int64{
		"ossmount_not_modified_total":         s3.NotModified,
		"ossmount_conditional_requests_total": s3.Conditional,
		"ossmount_fetched_bytes_total":        s3.BytesFetched,
		`ossmount_requests_total{kind="GET"}`: s3.Requests["GET"],
		"ossmount_cache_hit_bytes_total":      s3.CacheHitBytes,
	} {
		if got := metric(t, addr, name); int64(got) != want {
			t.Errorf("metric %s = %v, stats say %d", name, got, want)
		}
	}

	// The human form names the same numbers.
	out, errs, code := ossmountCmd(t, "stats", e.mnt)
	if code != 0 {
		t.Fatalf("stats: exit %d: %s", code, errs)
	}
	for _, want := range []string{
		fmt.Sprintf("%d sent, %d answered 304", s3.Conditional, s3.NotModified),
		"bkt on " + e.mnt,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("ossmount stats:\n%s", out)
}

func TestMetricsPortTakenFailsTheMount(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(*ossmountBin, testBucket, e.mnt, "-o", "region=cn-hangzhou,endpoint="+e.url+",cache_dir="+e.cacheDir+",metrics_addr="+ln.Addr().String())
	cmd.Env = append(os.Environ(), "OSS_ACCESS_KEY_ID="+testAK, "OSS_ACCESS_KEY_SECRET="+testSK)
	out, err := cmd.CombinedOutput()
	if err == nil {
		e.cmd = nil
		_ = syscall.Unmount(e.mnt, 0)
		t.Fatalf("mount succeeded with the metrics port taken")
	}
	if !strings.Contains(string(out), "metrics_addr") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("want one line naming metrics_addr, got %q", out)
	}
	if isMounted(e.mnt) {
		t.Errorf("left a mount behind")
	}
}

func TestWarmFillsTheCache(t *testing.T) {
	e := newEnv(t)
	one := pattern(71, 500*kib)
	two := pattern(72, 300*kib+17)
	e.put("d/one.bin", one)
	e.put("d/sub/two.bin", two)
	e.put("other.bin", pattern(73, 100*kib))
	e.mount(smallBlocks...)

	out, errs, code := ossmountCmd(t, "warm", e.path("d"))
	if code != 0 {
		t.Fatalf("warm: exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(errs, "warming 2 files") || !strings.Contains(errs, "warmed ") {
		t.Errorf("warm output:\n%s", errs)
	}
	for p, want := range map[string]int{"d/one.bin": len(one), "d/sub/two.bin": len(two), "other.bin": 0} {
		if got := getxattr(t, e.path(p), "user.ossmount.cached_bytes"); got != strconv.Itoa(want) {
			t.Errorf("%s: cached_bytes %s after warm, want %d", p, got, want)
		}
	}
	// A following read moves no body bytes: one 304 per open.
	e.emu.ResetRequests()
	assertSame(t, "one.bin", mustRead(t, e.path("d/one.bin")), one)
	assertSame(t, "two.bin", mustRead(t, e.path("d/sub/two.bin")), two)
	if gets := append(e.gets("d/one.bin"), e.gets("d/sub/two.bin")...); bodyBytes(gets) != 0 || len(gets) != 2 {
		t.Errorf("reads after warm: %d GETs with %d body bytes, want 2 with 0", len(gets), bodyBytes(gets))
	}

	// Files, several paths, and paths not inside a mount.
	if _, errs, code := ossmountCmd(t, "warm", e.path("other.bin"), e.path("d/one.bin")); code != 0 {
		t.Errorf("warm of two files: exit %d: %s", code, errs)
	}
	if got := getxattr(t, e.path("other.bin"), "user.ossmount.cached_bytes"); got != strconv.Itoa(100*kib) {
		t.Errorf("other.bin cached_bytes %s", got)
	}
	if _, _, code := ossmountCmd(t, "warm", e.path("nope")); code == 0 {
		t.Errorf("warm of a missing path succeeded")
	}
}

func TestWarmInterruptKeepsWhatWasFetched(t *testing.T) {
	e := newEnv(t)
	const size = 8 << 20
	data := pattern(81, size)
	e.put("big.bin", data)
	e.mount("block_size=64K", "part_size=256K", "parallel=2")
	// 2 parts at a time at 256 KiB/s each: the warm takes ~16 s.
	e.emu.SetFaults(ossemu.Faults{BytesPerSec: 256 << 10})
	e.emu.ResetRequests()

	cmd := exec.Command(*ossmountBin, "warm", e.path("big.bin"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "warming ") {
			break
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stderr)
	err = cmd.Wait()
	all := strings.Join(lines, "\n") + "\n" + string(rest)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted warm: %v, want exit 130\n%s", err, all)
	}
	if !strings.Contains(all, "stay cached") {
		t.Errorf("interrupted warm says:\n%s", all)
	}
	// The daemon stops starting parts; what is in flight lands in the cache.
	time.Sleep(2500 * time.Millisecond)
	cached, _ := strconv.Atoi(getxattr(t, e.path("big.bin"), "user.ossmount.cached_bytes"))
	if cached == 0 || cached >= size {
		t.Fatalf("after the interrupt %d of %d bytes are cached; want some, not all", cached, size)
	}
	settled := bodyBytes(e.gets("big.bin"))
	time.Sleep(time.Second)
	if later := bodyBytes(e.gets("big.bin")); later != settled {
		t.Errorf("fetching went on after the interrupt: %d then %d body bytes", settled, later)
	}

	// Warming again fetches only the rest: nothing is fetched twice.
	e.emu.SetFaults(ossemu.Faults{})
	if _, errs, code := ossmountCmd(t, "warm", e.path("big.bin")); code != 0 {
		t.Fatalf("second warm: exit %d: %s", code, errs)
	}
	if total := bodyBytes(e.gets("big.bin")); total != size {
		t.Errorf("the two warms fetched %d body bytes of a %d-byte object", total, size)
	}
	assertSame(t, "big.bin", mustRead(t, e.path("big.bin")), data)
}

type duEntry struct {
	Key         string `json:"key"`
	ID          string `json:"version_id"`
	Size        int64  `json:"size"`
	CachedBytes int64  `json:"cached_bytes"`
}

func cacheDu(t *testing.T, where ...string) map[string]duEntry {
	t.Helper()
	out, errs, code := ossmountCmd(t, append([]string{"cache", "du", "--json"}, where...)...)
	if code != 0 {
		t.Fatalf("cache du: exit %d: %s", code, errs)
	}
	var list []duEntry
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("cache du --json: %v\n%s", err, out)
	}
	m := map[string]duEntry{}
	for _, u := range list {
		m[u.Key] = u
	}
	return m
}

// flipByte corrupts one byte of a cached object's data file.
func flipByte(t *testing.T, cacheDir, id string, off int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(cacheDir, "objects", id[:2], id+".data"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCacheDuVerifyClear(t *testing.T) {
	e := newEnv(t)
	a := pattern(91, 200*kib)
	b := pattern(92, 130*kib)
	e.put("a.bin", a)
	e.put("dir/b.bin", b)
	e.mount(smallBlocks...)
	mustRead(t, e.path("a.bin"))
	mustRead(t, e.path("dir/b.bin"))

	// du through the daemon, by cache dir and by mountpoint.
	for _, where := range [][]string{{"--cache-dir", e.cacheDir}, {e.mnt}} {
		du := cacheDu(t, where...)
		if du["a.bin"].CachedBytes != int64(len(a)) || du["dir/b.bin"].CachedBytes != int64(len(b)) || du["a.bin"].Size != int64(len(a)) {
			t.Errorf("cache du %v: %+v", where, du)
		}
	}
	out, _, _ := ossmountCmd(t, "cache", "du", "--cache-dir", e.cacheDir)
	if !strings.Contains(out, "dir/b.bin") || !strings.Contains(out, "total: 330.0 KiB cached") {
		t.Errorf("cache du:\n%s", out)
	}
	t.Logf("ossmount cache du:\n%s", out)

	// verify while mounted finds a block corrupted behind the daemon's back.
	id := cacheDu(t, e.mnt)["a.bin"].ID
	flipByte(t, e.cacheDir, id, 64*kib+5) // block 1
	out, errs, code := ossmountCmd(t, "cache", "verify", e.mnt)
	if code != 1 || !strings.Contains(out, "bad block: a.bin block 1") || !strings.Contains(out, ": 1 bad") {
		t.Fatalf("verify via the daemon: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("ossmount cache verify:\n%s", out)
	if _, _, code := ossmountCmd(t, "cache", "verify", e.mnt); code != 0 {
		t.Errorf("second verify still finds bad blocks")
	}
	dropPages(t, e.path("a.bin"))
	e.emu.ResetRequests()
	assertSame(t, "a.bin after verify", mustRead(t, e.path("a.bin")), a)
	if n := bodyBytes(e.gets("a.bin")); n != 64*kib {
		t.Errorf("after verify dropped one block, the read fetched %d bytes, want %d", n, 64*kib)
	}

	// clear --key while mounted; the file still reads.
	out, errs, code = ossmountCmd(t, "cache", "clear", "--key", "dir/b.bin", e.mnt)
	if code != 0 || !strings.Contains(out, "cleared dir/b.bin: 1 object version,") {
		t.Errorf("clear: exit %d: %s%s", code, out, errs)
	}
	if du := cacheDu(t, e.mnt); len(du) != 1 || du["a.bin"].CachedBytes != int64(len(a)) {
		t.Errorf("after clear: %+v", du)
	}
	dropPages(t, e.path("dir/b.bin"))
	assertSame(t, "b.bin after clear", mustRead(t, e.path("dir/b.bin")), b)

	// Unmounted: the command opens the cache dir itself.
	e.unmount()
	if du := cacheDu(t, "--cache-dir", e.cacheDir); du["a.bin"].CachedBytes != int64(len(a)) {
		t.Errorf("offline du: %+v", du)
	}
	flipByte(t, e.cacheDir, id, 2*64*kib) // block 2
	out, errs, code = ossmountCmd(t, "cache", "verify", "--cache-dir", e.cacheDir)
	if code != 1 || !strings.Contains(out, "bad block: a.bin block 2") {
		t.Errorf("offline verify: exit %d\n%s%s", code, out, errs)
	}
	if du := cacheDu(t, "--cache-dir", e.cacheDir); du["a.bin"].CachedBytes != int64(len(a))-64*kib {
		t.Errorf("offline verify did not drop the bad block: %+v", du)
	}
	out, errs, code = ossmountCmd(t, "cache", "clear", "--cache-dir", e.cacheDir)
	if code != 0 || !strings.Contains(out, "cleared everything") {
		t.Errorf("offline clear: exit %d: %s%s", code, out, errs)
	}
	if du := cacheDu(t, "--cache-dir", e.cacheDir); len(du) != 0 {
		t.Errorf("after clear everything: %+v", du)
	}

	// Bad input: one line, non-zero.
	for _, args := range [][]string{
		{"cache", "du", "--cache-dir", filepath.Join(e.cacheDir, "missing")},
		{"cache", "verify", "--key", "x", "--cache-dir", e.cacheDir},
		{"cache", "du", "--bogus"},
		{"stats", "--json", e.mnt, "extra"},
	} {
		_, errs, code := ossmountCmd(t, args...)
		if code == 0 || !strings.HasPrefix(errs, "ossmount: ") {
			t.Errorf("ossmount %v: exit %d, stderr %q", args, code, errs)
		}
	}
}

func TestRestoreXattrAndArchivedLogLine(t *testing.T) {
	e := newEnv(t)
	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	e.put("frozen.bin", []byte("frozen"), ossemu.WithStorageClass("Archive"))
	e.put("thawing.bin", []byte("thawing"), ossemu.WithStorageClass("ColdArchive"), ossemu.WithRestore(ossemu.RestoreOngoing()))
	e.put("thawed.bin", []byte("thawed"), ossemu.WithStorageClass("Archive"), ossemu.WithRestore(ossemu.RestoredUntil(until)))
	e.put("plain.bin", []byte("plain"))
	e.mount()
	for p, want := range map[string]string{
		"frozen.bin":  "not restored",
		"thawing.bin": "restoring",
		"thawed.bin":  "restored until " + until.Format(time.RFC3339),
	} {
		if got := getxattr(t, e.path(p), "user.oss.restore"); got != want {
			t.Errorf("%s: user.oss.restore %q, want %q", p, got, want)
		}
	}
	if _, err := unix.Getxattr(e.path("plain.bin"), "user.oss.restore", make([]byte, 64)); err != unix.ENODATA {
		t.Errorf("plain.bin user.oss.restore: %v, want ENODATA", err)
	}
	for _, p := range []string{"frozen.bin", "thawing.bin"} {
		if _, err := os.ReadFile(e.path(p)); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %v, want EACCES", p, err)
		}
	}
	if got := string(mustRead(t, e.path("thawed.bin"))); got != "thawed" {
		t.Errorf("restored object reads %q", got)
	}
	log, _ := os.ReadFile(e.logFile)
	if n := strings.Count(string(log), "restore it"); n < 1 {
		t.Errorf("no log line says to restore the archived object:\n%s", tail(string(log), 2000))
	}
}

// bdiReadahead reads the kernel readahead (KiB) of the filesystem at mp.
func bdiReadahead(t *testing.T, mp string) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(mp, &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestKernelReadahead(t *testing.T) {
	e := newEnv(t)
	e.put("x", []byte("x"))
	e.mount()
	if got := bdiReadahead(t, e.mnt); got != "4096" {
		t.Errorf("default kernel_readahead: read_ahead_kb %s, want 4096", got)
	}
	e.unmount()
	e.mount("kernel_readahead=1M")
	if got := bdiReadahead(t, e.mnt); got != "1024" {
		t.Errorf("kernel_readahead=1M: read_ahead_kb %s, want 1024", got)
	}
	e.unmount()
	e.mount("kernel_readahead=0")
	if got := bdiReadahead(t, e.mnt); got != "128" {
		t.Errorf("kernel_readahead=0: read_ahead_kb %s, want the kernel's 128", got)
	}
}
