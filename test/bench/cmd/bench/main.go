// Command bench is `make bench`: ossmount against its peers (ossfs 2.0,
// s3fs, rclone mount) and yardsticks (the OSS SDK Downloader, a local file)
// on one link shaped like a real object store, in one run, printed as one
// table and written to test/bench/results.md with a chart next to it.
//
// The link: the OSS emulator (test/ossemu) runs in this process, adding
// -latency before every response's headers and capping every response body
// at -bandwidth bytes/s, which is what one TCP connection to OSS gives.
// Every client talks to it over 127.0.0.1: ossmount, s3fs and rclone
// anonymously and path-style (the emulator refuses S3 signatures, and they
// can go anonymous); ossfs 2.0, which always addresses the bucket as a host
// name and always signs, through the emulator as its HTTP proxy, with an
// access key the emulator knows.
//
// The run is -rounds rounds; each measures every system once, in an order
// that rotates from round to round, and every figure reported is the median
// over the rounds, so a slow moment of a shared machine moves no ratio much.
// Within a round a system is measured in sessions: a session is a fresh
// mount; "cold" means a fresh cache dir and the page cache dropped;
// "remount" keeps the cache dir of the previous session. Daemon CPU time and
// peak RSS come from /proc of the process serving the mountpoint.
//
// Nothing here asserts: the table reports, and results.md checks the
// project's targets for a reader.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/test/ossemu"
)

const (
	bucket = "bench"
	mib    = 1 << 20
	gib    = 1 << 30
)

var (
	flagOssmount  = flag.String("ossmount", "bin/ossmount", "ossmount binary")
	flagSDKGet    = flag.String("sdkget", "bin/sdkget", "yardstick binary (test/bench/cmd/sdkget)")
	flagOut       = flag.String("out", "test/bench", "directory for results.md and results.png")
	flagWork      = flag.String("work", "/var/tmp/ossmount-bench", "scratch directory (mountpoints, caches, local copies)")
	flagSize      = flag.String("size", "1G", "size of the big object")
	flagLatency   = flag.Duration("latency", 10*time.Millisecond, "added before each response")
	flagBandwidth = flag.String("bandwidth", "32MB", "per-connection body bandwidth")
	flagFioTime   = flag.Int("fio-seconds", 5, "runtime of each fio job")
	flagSmall     = flag.Int("small-files", 1000, "number of 128 KiB files")
	flagListKeys  = flag.Int("list-keys", 10000, "keys in the listed prefix")
	flagSystems   = flag.String("systems", "ossmount,ossfs2,s3fs,rclone", "systems to run")
	flagOssfs2    = flag.String("ossfs2", "/tmp/peers/ossfs2-src/build/ossfs2", "ossfs 2.0 binary (built by build-ossfs2.sh); left out of the run when absent")
	flagRounds    = flag.Int("rounds", 3, "rounds; each measures every system once, and figures are the medians")
)

// The access key ossfs 2.0 signs with (it has no anonymous mode).
const benchAK, benchSK = "LTAIbenchAK", "bench-secret"

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		die("bench mounts filesystems and drops the page cache: run it as root")
	}
	b, err := newBench()
	if err != nil {
		die(err.Error())
	}
	defer b.close()
	if err := b.run(); err != nil {
		b.close()
		die(err.Error())
	}
}

func die(msg string) {
	fmt.Fprintln(os.Stderr, "bench:", msg)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

type bench struct {
	emu     *ossemu.Server
	url     string
	bigSize int64
	bw      int64
	work    string
	res     *results
	started time.Time
	// lastFioIOs is the number of reads of the last fio job.
	lastFioIOs int64
}

func newBench() (*bench, error) {
	size, err := ossemu.ParseSize(*flagSize)
	if err != nil {
		return nil, fmt.Errorf("-size: %v", err)
	}
	bw, err := ossemu.ParseSize(*flagBandwidth)
	if err != nil {
		return nil, fmt.Errorf("-bandwidth: %v", err)
	}
	for _, p := range []string{*flagOssmount, *flagSDKGet} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: %v (run make build first)", p, err)
		}
	}
	// Mounts a killed earlier run left behind (dead FUSE mounts answer
	// ENOTCONN, and RemoveAll would fail on them) go first.
	if olds, _ := filepath.Glob(filepath.Join(*flagWork, "mnt-*")); len(olds) > 0 {
		for _, m := range olds {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	if err := os.RemoveAll(*flagWork); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(*flagWork, 0o700); err != nil {
		return nil, err
	}
	emu := ossemu.New(ossemu.Options{MaxRequestLog: 2_000_000, Credentials: map[string]string{benchAK: benchSK}})
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	emu.CreateBucket(bucket, true)
	logf("emulator at %s, latency %v, %s/s per connection", url, *flagLatency, *flagBandwidth)
	emu.PutReaderAt(bucket, "big.bin", &ossemu.PatternReaderAt{Seed: 1, Size: size}, size)
	emu.PutReaderAt(bucket, "ttfb.bin", &ossemu.PatternReaderAt{Seed: 2, Size: 64 * mib}, 64*mib)
	for i := 0; i < *flagSmall; i++ {
		emu.PutReaderAt(bucket, fmt.Sprintf("small/f%04d.bin", i), &ossemu.PatternReaderAt{Seed: int64(100 + i), Size: 128 << 10}, 128<<10)
	}
	for i := 0; i < *flagListKeys; i++ {
		emu.Put(bucket, fmt.Sprintf("list/k%05d.txt", i), []byte("x"))
	}
	emu.SetFaults(ossemu.Faults{Latency: *flagLatency, BytesPerSec: bw})
	return &bench{emu: emu, url: url, bigSize: size, bw: bw, work: *flagWork, res: newResults(), started: time.Now()}, nil
}

func (b *bench) close() {
	for _, s := range allSystems(b) {
		s.unmount()
	}
	b.emu.Close()
	_ = os.RemoveAll(b.work)
}

func (b *bench) run() error {
	if *flagRounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *flagRounds)
	}
	var systems []*system
	for _, name := range strings.Split(*flagSystems, ",") {
		var sys *system
		for _, s := range allSystems(b) {
			if s.name == name {
				sys = s
			}
		}
		if sys == nil {
			return fmt.Errorf("unknown system %q", name)
		}
		if why := sys.missing(); why != "" {
			logf("%s is left out: %s", sys.name, why)
			b.res.skip(sys.name, why)
			continue
		}
		systems = append(systems, sys)
	}
	for round := 0; round < *flagRounds; round++ {
		b.res.startRound(round)
		logf("round %d of %d", round+1, *flagRounds)
		if err := b.yardsticks(); err != nil {
			return err
		}
		for i := range systems {
			sys := systems[(i+round)%len(systems)]
			if err := b.measure(sys); err != nil {
				return fmt.Errorf("%s: %w", sys.name, err)
			}
		}
	}
	b.res.elapsed = time.Since(b.started)
	return b.report()
}

// yardsticks: the SDK Downloader, and local-file reads of the same bytes.
func (b *bench) yardsticks() error {
	out := filepath.Join(b.work, "sdk.bin")
	dropCaches()
	// The same parts in flight and part size as ossmount's defaults, so
	// the yardstick differs from the mount only in having no filesystem.
	logf("yardstick: SDK Downloader, %d x %d MiB parts", config.DefaultParallel, config.DefaultPartSize>>20)
	o, err := exec.Command(*flagSDKGet, "-endpoint", b.url, "-bucket", bucket, "-key", "big.bin", "-out", out,
		"-parallel", strconv.Itoa(config.DefaultParallel), "-part-size", strconv.FormatInt(config.DefaultPartSize, 10)).Output()
	if err != nil {
		return fmt.Errorf("sdkget: %v", exitMsg(err))
	}
	var n int64
	var secs float64
	if _, err := fmt.Sscan(string(o), &n, &secs); err != nil || n != b.bigSize {
		return fmt.Errorf("sdkget printed %q", o)
	}
	b.res.set(wColdSeq, "SDK Downloader", mbps(n, secs))
	// The downloaded file is the local copy: same bytes, on local disk.
	dropCaches()
	_, d, err := readAll(out)
	if err != nil {
		return err
	}
	b.res.set(wRemount, "local file, cold", mbps(b.bigSize, d.Seconds()))
	_, d, err = readAll(out)
	if err != nil {
		return err
	}
	b.res.set(wSecondOpen, "local file, page cache", mbps(b.bigSize, d.Seconds()))
	// TTFB yardstick: two round trips plus one 1 MiB block at link rate.
	b.res.set(wTTFB, "2 round trips + 1 MiB", 2*flagLatency.Seconds()*1000+float64(mib)/float64(b.bw)*1000)
	// ls -l yardstick: the listing requests alone, done by the SDK-speaking store
	// in sequence, as any lister must (each page needs the previous token).
	t0 := time.Now()
	pages, err := listPages(b.url, "list/")
	if err != nil {
		return err
	}
	b.res.set(wList, "listing requests alone", time.Since(t0).Seconds())
	logf("yardsticks done (%d listing pages)", pages)
	return os.Remove(out)
}

// listPages walks a delimited ListObjectsV2 listing of prefix with plain
// HTTP and returns the number of pages.
func listPages(base, prefix string) (int, error) {
	token, pages := "", 0
	for {
		u := fmt.Sprintf("%s/%s?list-type=2&delimiter=%%2F&max-keys=1000&prefix=%s", base, bucket, prefix)
		if token != "" {
			u += "&continuation-token=" + token
		}
		resp, err := http.Get(u)
		if err != nil {
			return pages, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return pages, fmt.Errorf("listing: %v %s", err, resp.Status)
		}
		pages++
		next := between(string(body), "<NextContinuationToken>", "</NextContinuationToken>")
		if !strings.Contains(string(body), "<IsTruncated>true</IsTruncated>") || next == "" {
			return pages, nil
		}
		token = urlQueryEscape(next)
	}
}

func between(s, a, z string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, z)
	if j < 0 {
		return ""
	}
	return s[:j]
}

func urlQueryEscape(s string) string {
	var sb strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

// measure runs every workload on one system.
func (b *bench) measure(s *system) error {
	logf("%s: session 1 (fresh cache): time to first byte, cold sequential, second open, warm random, small files, ls -l", s.name)
	if err := s.mount(true); err != nil {
		return err
	}
	// (4) time to first byte of a cold file.
	dropCaches()
	t0 := time.Now()
	f, err := os.Open(filepath.Join(s.mnt, "ttfb.bin"))
	if err != nil {
		return err
	}
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(f, buf); err != nil {
		f.Close()
		return err
	}
	b.res.set(wTTFB, s.name, time.Since(t0).Seconds()*1000)
	f.Close()

	// (1) cold sequential read, with the daemon's CPU time.
	dropCaches()
	cpu0 := s.cpuSeconds()
	sum, d, err := readAll(filepath.Join(s.mnt, "big.bin"))
	if err != nil {
		return err
	}
	if want := patternSum(1, b.bigSize); sum != want {
		return fmt.Errorf("big.bin read wrong bytes")
	}
	b.res.set(wColdSeq, s.name, mbps(b.bigSize, d.Seconds()))
	b.res.set(wCPU, s.name, (s.cpuSeconds()-cpu0)/(float64(b.bigSize)/gib))
	logf("%s: cold sequential %.0f MB/s", s.name, mbps(b.bigSize, d.Seconds()))

	// (3) second open of the unchanged file: what moves, and how fast.
	b.emu.ResetRequests()
	_, d, err = readAll(filepath.Join(s.mnt, "big.bin"))
	if err != nil {
		return err
	}
	reqs, body := b.traffic("big.bin")
	b.res.set(wSecondOpen, s.name, mbps(b.bigSize, d.Seconds()))
	b.res.set(wSecondOpenReqs, s.name, float64(reqs))
	b.res.set(wSecondOpenBytes, s.name, float64(body))

	// (5) warm random reads: the whole object is in the system's cache now.
	for _, j := range fioJobs {
		iops, err := b.fio(s, j)
		if err != nil {
			return err
		}
		b.res.set(j.workload(false), s.name, iops)
	}

	// (6) 1,000 files of 128 KiB by 8 threads, cold.
	dropCaches()
	t0 = time.Now()
	if err := readSmallFiles(filepath.Join(s.mnt, "small"), *flagSmall, 8); err != nil {
		return err
	}
	b.res.set(wSmall, s.name, float64(*flagSmall)/time.Since(t0).Seconds())

	// (7) ls -l of a prefix with 10,000 keys, cold metadata.
	b.emu.ResetRequests()
	t0 = time.Now()
	out, err := exec.Command("ls", "-l", filepath.Join(s.mnt, "list")).Output()
	if err != nil {
		return fmt.Errorf("ls -l: %v", exitMsg(err))
	}
	if n := bytes.Count(out, []byte("\n")) - 1; n != *flagListKeys {
		return fmt.Errorf("ls -l listed %d entries, want %d", n, *flagListKeys)
	}
	b.res.set(wList, s.name, time.Since(t0).Seconds())
	heads := 0
	for _, r := range b.emu.Requests() {
		if r.Method == "HEAD" {
			heads++
		}
	}
	b.res.set(wListHeads, s.name, float64(heads))
	b.res.max(wRSS, s.name, s.peakRSSMiB())
	s.unmount()

	// (2) after unmount and remount: served from the disk cache.
	logf("%s: session 2 (remount, cache kept)", s.name)
	if err := s.mount(false); err != nil {
		return err
	}
	dropCaches()
	_, d, err = readAll(filepath.Join(s.mnt, "big.bin"))
	if err != nil {
		return err
	}
	b.res.set(wRemount, s.name, mbps(b.bigSize, d.Seconds()))
	b.res.max(wRSS, s.name, s.peakRSSMiB())
	s.unmount()

	// (5) cold random reads: a fresh cache per job, so no job warms the next.
	for _, j := range fioJobs {
		logf("%s: cold fio %s", s.name, j.name())
		if err := s.mount(true); err != nil {
			return err
		}
		dropCaches()
		b.emu.ResetRequests()
		iops, err := b.fio(s, j)
		if err != nil {
			return err
		}
		b.res.set(j.workload(true), s.name, iops)
		if j.bs == 4096 && j.direct {
			gets, body := b.traffic("big.bin")
			b.res.set(wCold4kBytesPerRead, s.name, float64(body)/float64(b.lastFioIOs))
			b.res.set(wCold4kGetsPerRead, s.name, float64(gets)/float64(b.lastFioIOs))
		}
		b.res.max(wRSS, s.name, s.peakRSSMiB())
		s.unmount()
	}
	return nil
}

// traffic counts the GETs of key since the last reset, and their body bytes.
func (b *bench) traffic(key string) (int, int64) {
	n, body := 0, int64(0)
	for _, r := range b.emu.Requests() {
		if r.Key == key && (r.Method == "GET" || r.Method == "HEAD") {
			n++
			body += r.BodyBytes
		}
	}
	return n, body
}

type fioJob struct {
	bs     int
	direct bool
}

var fioJobs = []fioJob{{4096, true}, {4096, false}, {128 << 10, true}, {128 << 10, false}}

func (j fioJob) name() string {
	d := "buffered"
	if j.direct {
		d = "direct=1"
	}
	return fmt.Sprintf("%dK %s", j.bs>>10, d)
}

func (j fioJob) workload(cold bool) string {
	t := "warm"
	if cold {
		t = "cold"
	}
	return fmt.Sprintf("5. random %s %s (IOPS, 4 jobs)", j.name(), t)
}

// fio runs one random-read job over big.bin and returns its IOPS.
func (b *bench) fio(s *system, j fioJob) (float64, error) {
	direct := "0"
	if j.direct {
		direct = "1"
	}
	cmd := exec.Command("fio", "--name=r", "--filename="+filepath.Join(s.mnt, "big.bin"), "--readonly", "--rw=randread",
		"--bs="+strconv.Itoa(j.bs), "--direct="+direct, "--ioengine=psync", "--numjobs=4", "--group_reporting",
		"--time_based", "--runtime="+strconv.Itoa(*flagFioTime), "--size="+strconv.FormatInt(b.bigSize, 10),
		"--randrepeat=0", "--invalidate=0", "--output-format=json")
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("fio %s: %v", j.name(), exitMsg(err))
	}
	var r struct {
		Jobs []struct {
			Read struct {
				IOPS     float64 `json:"iops"`
				TotalIOs int64   `json:"total_ios"`
			} `json:"read"`
		} `json:"jobs"`
	}
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:] // fio may print notes before the JSON
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Jobs) == 0 {
		return 0, fmt.Errorf("fio output: %v", err)
	}
	b.lastFioIOs = r.Jobs[0].Read.TotalIOs
	return r.Jobs[0].Read.IOPS, nil
}

func readSmallFiles(dir string, n, threads int) error {
	idx := make(chan int)
	errs := make(chan error, threads)
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				sum, _, err := readAll(filepath.Join(dir, fmt.Sprintf("f%04d.bin", i)))
				if err == nil && sum != patternSum(int64(100+i), 128<<10) {
					err = fmt.Errorf("small file %d: wrong bytes", i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	order := rand.Perm(n)
	for _, i := range order {
		select {
		case idx <- i:
		case err := <-errs:
			close(idx)
			wg.Wait()
			return err
		}
	}
	close(idx)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// readAll reads a file with 1 MiB reads and returns a checksum of it.
func readAll(p string) (uint64, time.Duration, error) {
	t0 := time.Now()
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, mib)
	var sum uint64
	for {
		n, err := f.Read(buf)
		sum = fold(sum, buf[:n])
		if err == io.EOF {
			return sum, time.Since(t0), nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
}

// fold extends a checksum independent of how the bytes were chunked:
// CRC-32C, which the CPU computes at many GB/s, so verifying every byte
// takes no CPU the daemon under test would need on this 2-core machine.
func fold(h uint64, b []byte) uint64 {
	return uint64(crc32.Update(uint32(h), castagnoli, b))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var sumCache sync.Map

func patternSum(seed, size int64) uint64 {
	k := [2]int64{seed, size}
	if v, ok := sumCache.Load(k); ok {
		return v.(uint64)
	}
	r := io.NewSectionReader(&ossemu.PatternReaderAt{Seed: seed, Size: size}, 0, size)
	buf := make([]byte, mib)
	var h uint64
	for {
		n, err := r.Read(buf)
		h = fold(h, buf[:n])
		if err != nil {
			break
		}
	}
	sumCache.Store(k, h)
	return h
}

func mbps(n int64, secs float64) float64 { return float64(n) / 1e6 / secs }

func dropCaches() {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		die("dropping the page cache: " + err.Error())
	}
}

func exitMsg(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err.Error()
}

// system is one filesystem under test.
type system struct {
	name     string
	mnt      string
	cache    string
	mountCmd func(s *system) *exec.Cmd
	// missing says why the system cannot run here ("" when it can).
	missing func() string
}

func allSystems(b *bench) []*system {
	mk := func(name string, cmd func(s *system) *exec.Cmd) *system {
		return &system{name: name, mnt: filepath.Join(b.work, "mnt-"+name), cache: filepath.Join(b.work, "cache-"+name), mountCmd: cmd,
			missing: func() string { return onPath(name) }}
	}
	ossfs2 := mk("ossfs2", func(s *system) *exec.Cmd {
		// Defaults but for what the setup needs: read-only like the others,
		// the emulator as the proxy that receives its virtual-hosted URLs,
		// an access key, logs in the scratch dir. No --oss_region: it signs
		// with OSS V1, its default.
		return exec.Command(*flagOssfs2, "mount", s.mnt, "--oss_endpoint="+b.url, "--oss_bucket="+bucket,
			"--oss_access_key_id="+benchAK, "--oss_access_key_secret="+benchSK, "--http_proxy="+b.url,
			"--ro", "--log_dir="+filepath.Join(b.work, "ossfs2-logs"))
	})
	ossfs2.missing = func() string {
		if st, err := os.Stat(*flagOssfs2); err != nil || st.Mode()&0o111 == 0 {
			return fmt.Sprintf("no ossfs2 binary at %s (make bench builds one with build-ossfs2.sh when that script and a git copy of aliyun/ossfs are present; or pass -ossfs2 PATH)", *flagOssfs2)
		}
		return ""
	}
	return []*system{
		mk("ossmount", func(s *system) *exec.Cmd {
			return exec.Command(*flagOssmount, bucket, s.mnt, "-o",
				"endpoint="+b.url+",region=cn-hangzhou,anonymous,cache_dir="+s.cache+",log_file="+filepath.Join(b.work, "ossmount.log"))
		}),
		// s3fs with its disk cache (use_cache), so warm and remount cases
		// compare caches; anonymous (public_bucket), path-style.
		mk("s3fs", func(s *system) *exec.Cmd {
			return exec.Command("s3fs", bucket, s.mnt, "-o",
				"url="+b.url+",use_path_request_style,public_bucket=1,ro,use_cache="+s.cache)
		}),
		mk("rclone", func(s *system) *exec.Cmd {
			cmd := exec.Command("rclone", "mount", ":s3:"+bucket, s.mnt, "--s3-provider", "Other", "--s3-endpoint", b.url,
				"--s3-force-path-style", "--vfs-cache-mode", "full", "--cache-dir", s.cache, "--read-only", "--daemon")
			cmd.Env = withoutEnv(os.Environ(), "AWS_CA_BUNDLE")
			return cmd
		}),
		ossfs2,
	}
}

// onPath says why a peer installed from Debian cannot run ("" when it can).
func onPath(name string) string {
	if name == "ossmount" {
		return ""
	}
	if _, err := exec.LookPath(name); err != nil {
		return name + " is not installed"
	}
	return ""
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

// mount mounts the system (fresh: with an empty cache dir) and waits until
// the mountpoint answers.
func (s *system) mount(fresh bool) error {
	s.unmount()
	if fresh {
		if err := os.RemoveAll(s.cache); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.mnt, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(s.cache, 0o700); err != nil {
		return err
	}
	if out, err := s.mountCmd(s).CombinedOutput(); err != nil {
		return fmt.Errorf("mount: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var st syscall.Statfs_t
		if isMounted(s.mnt) && syscall.Statfs(s.mnt, &st) == nil && s.pid() > 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("mount did not appear at %s", s.mnt)
}

func (s *system) unmount() {
	pid := s.pid()
	if isMounted(s.mnt) {
		if err := exec.Command("umount", s.mnt).Run(); err != nil {
			_ = exec.Command("umount", "-l", s.mnt).Run()
		}
	}
	for deadline := time.Now().Add(30 * time.Second); pid > 0 && time.Now().Before(deadline); {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); bytes.Contains(st, []byte(") Z ")) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pid is the process serving the mountpoint: one started by this bench
// whose command line names it.
func (s *system) pid() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), s.name) {
			continue
		}
		for _, a := range args {
			if a == s.mnt {
				return pid
			}
		}
	}
	return 0
}

func (s *system) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid()))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func (s *system) peakRSSMiB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func isMounted(mp string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == mp {
			return true
		}
	}
	return false
}

// machine describes where the run happened, for results.md.
func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Fields(strings.Split(string(b), "\n")[0])[1] + " kB"
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	ver := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(strings.Split(string(out), "\n")[0])
	}
	ossfs2 := "ossfs 2.0 not run"
	if v := ver(*flagOssfs2, "--version"); v != "?" {
		ossfs2 = "ossfs2 " + strings.TrimSpace(strings.TrimPrefix(v, "Version ID:"))
	}
	return fmt.Sprintf("%s, %d CPUs, %s RAM, %s, load average %s at the end; %s; %s; %s; %s; %s",
		cpu, runtime.NumCPU(), mem, runtime.Version(), load, ver(*flagOssmount, "--version"),
		ossfs2, ver("s3fs", "--version"), ver("rclone", "version"), ver("fio", "--version"))
}
