// Command writebench measures a sequential write of one big file (1 GiB by
// default) on a shaped link: through an ossmount -o rw mount, through the
// OSS Go SDK's Uploader with the same part size and parallelism (the
// yardstick), through an s3fs mount and with rclone's uploader (rclone
// copyto). The link is the in-process OSS emulator with latency and a
// per-connection bandwidth cap on both directions (request bodies and
// answers). Every run writes the same local source file (in the page
// cache) and checks the stored object's size and CRC64. For ossmount it also
// reports the daemon's CPU seconds per GiB written and its peak RSS.
//
// It is a stand-alone program (no code shared with test/bench/cmd/bench);
// run it as root: it mounts filesystems.
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/crc64"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/test/ossemu"
)

const bucket = "wbench"

var (
	flagOssmount  = flag.String("ossmount", "bin/ossmount", "ossmount binary")
	flagWork      = flag.String("work", "/var/tmp/ossmount-writebench", "scratch directory (source file, mountpoints, caches)")
	flagSize      = flag.String("size", "1G", "bytes written")
	flagPartSize  = flag.String("part-size", config.FormatSize(config.DefaultUploadPartSize), "upload part size (ossmount and the SDK Uploader; with -same, s3fs and rclone too)")
	flagParallel  = flag.Int("parallel", config.DefaultUploadParallel, "parts uploaded at once (ossmount and the SDK Uploader; with -same, s3fs and rclone too)")
	flagSame      = flag.Bool("same", false, "give s3fs and rclone the same part size and parallelism (default: their own defaults, as a user gets them)")
	flagLatency   = flag.Duration("latency", 10*time.Millisecond, "added before each answer")
	flagBandwidth = flag.String("bandwidth", "32MB", "per-connection bandwidth, both ways")
	flagRuns      = flag.Int("runs", 3, "runs per system (the median is reported)")
	flagSystems   = flag.String("systems", "ossmount,sdk,s3fs,rclone", "systems to run")
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "writebench: "+format+"\n", args...)
	os.Exit(1)
}

type result struct {
	secs   []float64
	cpu    []float64 // daemon CPU seconds (ossmount only)
	rss    int64     // peak daemon RSS (ossmount only)
	failed string
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		die("run as root: it mounts filesystems")
	}
	size, err := ossemu.ParseSize(*flagSize)
	check(err)
	part, err := ossemu.ParseSize(*flagPartSize)
	check(err)
	bw, err := ossemu.ParseSize(*flagBandwidth)
	check(err)
	check(os.MkdirAll(*flagWork, 0o700))

	emu := ossemu.New(ossemu.Options{})
	base, err := emu.Start("127.0.0.1:0")
	check(err)
	defer emu.Close()
	emu.CreateBucketWithACL(bucket, ossemu.ACLPublicReadWrite)
	emu.SetDiscardUploadData(true)
	emu.SetFaults(ossemu.Faults{Latency: *flagLatency, BytesPerSec: bw})
	emu.SetUploadFaults(ossemu.UploadFaults{RequestBytesPerSec: bw})

	src := filepath.Join(*flagWork, "source.bin")
	want := makeSource(src, size)
	peers := "s3fs and rclone at their defaults"
	if *flagSame {
		peers = "s3fs and rclone with the same"
	}
	fmt.Printf("emulator %s: latency %v, %s/s per connection both ways; %s written; ossmount and the SDK Uploader in %s parts, %d in flight, %s; %d runs\n",
		base, *flagLatency, *flagBandwidth, *flagSize, *flagPartSize, *flagParallel, peers, *flagRuns)

	results := map[string]*result{}
	systems := strings.Split(*flagSystems, ",")
	for _, sys := range systems {
		results[sys] = &result{}
	}
	// Runs alternate between the systems, so that a change in the
	// machine's load falls on all of them alike.
	for i := 0; i < *flagRuns; i++ {
		for _, sys := range systems {
			r := results[sys]
			if r.failed != "" {
				continue
			}
			key := fmt.Sprintf("%s-%d.bin", sys, i)
			var secs, cpu float64
			var rss int64
			var err error
			switch sys {
			case "ossmount":
				secs, cpu, rss, err = runOssmount(base, src, key, part)
			case "sdk":
				secs, err = runSDK(base, src, key, part)
			case "s3fs":
				secs, err = runS3fs(base, src, key, part)
			case "rclone":
				secs, err = runRclone(base, src, key, part)
			default:
				die("unknown system %q", sys)
			}
			if err == nil {
				err = verify(emu, key, size, want)
			}
			if err != nil {
				r.failed = strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
				fmt.Printf("  %-8s run %d failed: %s\n", sys, i+1, r.failed)
				continue
			}
			r.secs = append(r.secs, secs)
			if cpu > 0 {
				r.cpu = append(r.cpu, cpu)
			}
			r.rss = max(r.rss, rss)
			fmt.Printf("  %-8s run %d: %.2f s (%.0f MB/s)\n", sys, i+1, secs, float64(size)/secs/1e6)
		}
	}
	fmt.Printf("\n| system | median s | MB/s | vs SDK Uploader | ossmount vs it | daemon CPU s/GiB | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|\n")
	sdk, om := median(results["sdk"].secsOrNil()), median(results["ossmount"].secsOrNil())
	for _, sys := range systems {
		r := results[sys]
		if r.failed != "" {
			fmt.Printf("| %s | failed (see above) | | | | | |\n", sys)
			continue
		}
		m := median(r.secs)
		row := fmt.Sprintf("| %s | %.2f | %.0f | %s | %s |", sys, m, float64(size)/m/1e6, ratio(sdk, m), ratio(m, om))
		if len(r.cpu) > 0 {
			row += fmt.Sprintf(" %.2f | %d MiB |", median(r.cpu)/(float64(size)/(1<<30)), r.rss>>20)
		} else {
			row += " | |"
		}
		fmt.Println(row)
	}
}

func (r *result) secsOrNil() []float64 {
	if r == nil || r.failed != "" {
		return nil
	}
	return r.secs
}

// ratio is how many times faster b is than a (a/b), "" when unknown.
func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func check(err error) {
	if err != nil {
		die("%v", err)
	}
}

// makeSource writes size pseudo-random bytes to path and returns their CRC64.
func makeSource(path string, size int64) uint64 {
	f, err := os.Create(path)
	check(err)
	defer f.Close()
	crc := crc64.New(crc64.MakeTable(crc64.ECMA))
	_, err = io.Copy(io.MultiWriter(f, crc), io.NewSectionReader(&ossemu.PatternReaderAt{Seed: 42, Size: size}, 0, size))
	check(err)
	return crc.Sum64()
}

func verify(emu *ossemu.Server, key string, size int64, crc uint64) error {
	info, ok := emu.Object(bucket, key)
	switch {
	case !ok:
		return fmt.Errorf("%s not stored", key)
	case info.Size != size || info.CRC64 != crc:
		return fmt.Errorf("%s stored with size %d CRC64 %d, want %d, %d", key, info.Size, info.CRC64, size, crc)
	}
	return nil
}

// copyInto copies src to dst (a file in a mount) with 1 MiB writes and
// returns when the close returned.
func copyInto(src, dst string) error {
	cmd := exec.Command("dd", "if="+src, "of="+dst, "bs=1M", "status=none")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dd: %v %s", err, out)
	}
	return nil
}

func waitMounted(mnt string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var st, parent syscall.Stat_t
		if syscall.Stat(mnt, &st) == nil && syscall.Stat(filepath.Dir(mnt), &parent) == nil && st.Dev != parent.Dev {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("mount command exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not mounted", mnt)
}

func unmount(mnt string) {
	for i := 0; i < 50; i++ {
		if syscall.Unmount(mnt, 0) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
}

// cpuSeconds is a process's user+system CPU time.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func peakRSS(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

func runOssmount(base, src, key string, part int64) (secs, cpu float64, rss int64, err error) {
	mnt := filepath.Join(*flagWork, "mnt-ossmount")
	cache := filepath.Join(*flagWork, "cache-ossmount")
	os.RemoveAll(cache)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return 0, 0, 0, err
	}
	cmd := exec.Command(*flagOssmount, bucket, mnt, "-f", "-o", fmt.Sprintf(
		"rw,endpoint=%s,region=cn-hangzhou,anonymous,cache_dir=%s,cache_size=256M,upload_part_size=%d,upload_parallel=%d,log_file=%s",
		base, cache, part, *flagParallel, filepath.Join(*flagWork, "ossmount.log")))
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() { unmount(mnt); <-exited }()
	if err := waitMounted(mnt, exited); err != nil {
		return 0, 0, 0, err
	}
	pid := cmd.Process.Pid
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	cpu0 := cpuSeconds(pid)
	t0 := time.Now()
	if err := copyInto(src, filepath.Join(mnt, key)); err != nil {
		return 0, 0, 0, err
	}
	return time.Since(t0).Seconds(), cpuSeconds(pid) - cpu0, peakRSS(pid), nil
}

func runSDK(base, src, key string, part int64) (float64, error) {
	cfg := oss.LoadDefaultConfig().WithEndpoint(base).WithRegion("cn-hangzhou").WithUsePathStyle(true).
		WithCredentialsProvider(credentials.NewAnonymousCredentialsProvider())
	client := oss.NewClient(cfg)
	up := client.NewUploader(func(o *oss.UploaderOptions) {
		o.PartSize = part
		o.ParallelNum = *flagParallel
	})
	f, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	t0 := time.Now()
	// A stream, as an application writing the file would hand it.
	_, err = up.UploadFrom(context.Background(), &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)}, struct{ io.Reader }{f})
	return time.Since(t0).Seconds(), err
}

func runS3fs(base, src, key string, part int64) (float64, error) {
	mnt := filepath.Join(*flagWork, "mnt-s3fs")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return 0, err
	}
	opts := fmt.Sprintf("url=%s,use_path_request_style,public_bucket=1", base)
	if *flagSame {
		opts += fmt.Sprintf(",multipart_size=%d,parallel_count=%d", max(part>>20, 5), *flagParallel)
	}
	cmd := exec.Command("s3fs", bucket, mnt, "-f", "-o", opts)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() { unmount(mnt); <-exited }()
	if err := waitMounted(mnt, exited); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := copyInto(src, filepath.Join(mnt, key)); err != nil {
		return 0, err
	}
	return time.Since(t0).Seconds(), nil
}

func runRclone(base, src, key string, part int64) (float64, error) {
	u, _ := url.Parse(base)
	args := []string{"copyto", src, ":s3:" + bucket + "/" + key, "--s3-provider", "Other", "--s3-endpoint", u.String(),
		"--s3-force-path-style", "--s3-no-check-bucket"}
	if *flagSame {
		args = append(args, "--s3-chunk-size", fmt.Sprintf("%dKi", part>>10), "--s3-upload-concurrency", strconv.Itoa(*flagParallel),
			"--s3-upload-cutoff", fmt.Sprintf("%dKi", part>>10))
	}
	cmd := exec.Command("rclone", args...)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AWS_CA_BUNDLE=") { // Debian's rclone refuses to start with it
			env = append(env, e)
		}
	}
	cmd.Env = env
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("rclone: %v %s", err, out)
	}
	return time.Since(t0).Seconds(), nil
}
