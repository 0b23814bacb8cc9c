// Command ossemu serves the OSS emulator (package test/ossemu) on a TCP
// address, for the demo and for benchmarks of ossmount, s3fs or rclone
// against a local "OSS".
//
//	ossemu -addr 127.0.0.1:9000 -bucket demo -public -sample
//	ossemu -bucket bench -ak AK -sk SK -data ./files -latency 10ms -bandwidth 32MB -control
//
// It prints "listening on http://HOST:PORT" on stdout once ready and stops
// on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ossemu:", err)
		os.Exit(1)
	}
}

// sizeFlag is a byte count parsed by ossemu.ParseSize ("32MB", "32MiB").
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeFlag) Set(v string) error {
	n, err := ossemu.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("ossemu", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", "127.0.0.1:9000", "listen address (port 0 picks one)")
	buckets := fl.String("bucket", "demo", "bucket name(s), comma-separated; -sample and -data fill the first")
	public := fl.Bool("public", false, "public-read buckets: anonymous GET, HEAD and listing")
	publicWrite := fl.Bool("public-write", false, "public-read-write buckets: anonymous PUT and DELETE too")
	ak := fl.String("ak", "", "AccessKeyID accepted for signed requests")
	sk := fl.String("sk", "", "AccessKeySecret of -ak")
	region := fl.String("region", "cn-hangzhou", "region of V4 signatures")
	sample := fl.Bool("sample", false, "create sample objects (incl. a 256 MiB pattern file, not held in memory)")
	bigSize := sizeFlag(256 << 20)
	fl.Var(&bigSize, "sample-big-size", "size of data/big-256M.bin with -sample")
	dataDir := fl.String("data", "", "serve every regular file under DIR as an object (key = relative path)")
	latency := fl.Duration("latency", 0, "latency added before each response (e.g. 10ms)")
	var bandwidth sizeFlag
	fl.Var(&bandwidth, "bandwidth", "per-response body bandwidth cap in bytes/s (e.g. 32MB = 32e6, 32MiB)")
	pidfile := fl.String("pidfile", "", "write the process id to this file")
	control := fl.Bool("control", false, "serve the control API: PUT/GET /_emu/faults, GET/DELETE /_emu/requests")
	restoreDelay := fl.Duration("restore-delay", 0, "how long a RestoreObject stays ongoing")
	verbose := fl.Bool("v", false, "log every request to stderr")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if (*ak == "") != (*sk == "") {
		return errors.New("-ak and -sk go together")
	}
	names := strings.Split(*buckets, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
		if names[i] == "" {
			return fmt.Errorf("bad -bucket %q", *buckets)
		}
	}

	logger := log.New(stderr, "ossemu: ", log.LstdFlags|log.Lmicroseconds)
	opts := ossemu.Options{Region: *region, Credentials: map[string]string{}, Logf: logger.Printf, LogRequests: *verbose,
		EnableControl: *control, RestoreDelay: *restoreDelay}
	if *ak != "" {
		opts.Credentials[*ak] = *sk
	}
	emu := ossemu.New(opts)
	acl := ossemu.ACLPrivate
	switch {
	case *publicWrite:
		acl = ossemu.ACLPublicReadWrite
	case *public:
		acl = ossemu.ACLPublicRead
	}
	for _, b := range names {
		emu.CreateBucketWithACL(b, acl)
	}
	if *sample {
		n := addSamples(emu, names[0], int64(bigSize))
		logger.Printf("bucket %s: %d sample objects", names[0], n)
	}
	if *dataDir != "" {
		n, closeFiles, err := loadDir(emu, names[0], *dataDir)
		defer closeFiles()
		if err != nil {
			return err
		}
		logger.Printf("bucket %s: %d objects from %s", names[0], n, *dataDir)
	}
	if *latency > 0 || bandwidth > 0 {
		emu.SetFaults(ossemu.Faults{Latency: *latency, BytesPerSec: int64(bandwidth)})
	}
	url, err := emu.Start(*addr)
	if err != nil {
		return err
	}
	defer emu.Close()
	if *pidfile != "" {
		if err := os.WriteFile(*pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(*pidfile)
	}
	logger.Printf("buckets %s (%s), region %s, latency %v, bandwidth %d B/s, control %v",
		strings.Join(names, ","), acl, *region, *latency, int64(bandwidth), *control)
	fmt.Fprintf(stdout, "listening on %s\n", url)
	<-ctx.Done()
	logger.Printf("shutting down")
	return nil
}

// addSamples fills bucket with a small tree of sample objects.
func addSamples(emu *ossemu.Server, bucket string, bigSize int64) int {
	lm := time.Now().Add(-24 * time.Hour)
	text := map[string]string{
		"README.txt": "This bucket is served by ossemu, the OSS emulator of ossmount.\n" +
			"docs/ has nested text files, data/ has pattern data (data/big-256M.bin is 256 MiB),\n" +
			"archive/cold.bin is an Archive object that is not restored (reads fail, stat works).\n",
		"one-byte":                  "x",
		"empty":                     "",
		"docs/guide.md":             "# Guide\n\nMount with `ossmount demo /mnt -o endpoint=http://127.0.0.1:9000,anonymous`.\n",
		"docs/nested/deep/file.txt": "a file three directories down\n",
	}
	n := 0
	for k, v := range text {
		emu.Put(bucket, k, []byte(v), ossemu.WithLastModified(lm))
		n++
	}
	for i, size := range []int64{1 << 10, 64<<10 + 3, 1<<20 + 17, 5 << 20} {
		key := fmt.Sprintf("data/small-%d.bin", i+1)
		emu.PutReaderAt(bucket, key, ossemu.PatternReaderAt{Seed: int64(i + 1), Size: size}, size, ossemu.WithLastModified(lm))
		n++
	}
	emu.PutReaderAt(bucket, "data/big-256M.bin", ossemu.PatternReaderAt{Seed: 256, Size: bigSize}, bigSize, ossemu.WithLastModified(lm))
	emu.Put(bucket, "archive/cold.bin", ossemu.GenerateData(7, 4096), ossemu.WithStorageClass("Archive"), ossemu.WithLastModified(lm))
	return n + 2
}

// loadDir serves the regular files under dir from their open files.
func loadDir(emu *ossemu.Server, bucket, dir string) (int, func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		files = append(files, f)
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if _, err := emu.PutReaderAtErr(bucket, filepath.ToSlash(rel), f, st.Size(), ossemu.WithLastModified(st.ModTime())); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, closeAll, err
}
