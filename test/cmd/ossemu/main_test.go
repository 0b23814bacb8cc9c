package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

func TestRunServesSamplesAndData(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "f.txt"), []byte("from disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(t.TempDir(), "pid")
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-bucket", "demo,other", "-public", "-sample", "-sample-big-size", "3MiB",
			"-data", dir, "-latency", "1ms", "-bandwidth", "1GB", "-control", "-pidfile", pidfile}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	go io.Copy(io.Discard, pr)
	if _, err := os.Stat(pidfile); err != nil {
		t.Fatal(err)
	}
	get := func(path string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("GET", url+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/demo/README.txt"); code != 200 || !strings.Contains(body, "ossemu") {
		t.Fatalf("README: %d %q", code, body)
	}
	if code, body := get("/demo/sub/f.txt"); code != 200 || body != "from disk" {
		t.Fatalf("data file: %d %q", code, body)
	}
	code, body := get("/demo/data/big-256M.bin", "Range", "bytes=1048576-1048585")
	want := make([]byte, 10)
	ossemu.PatternReaderAt{Seed: 256, Size: 3 << 20}.ReadAt(want, 1<<20)
	if code != 206 || body != string(want) {
		t.Fatalf("big: %d", code)
	}
	if code, body := get("/demo/archive/cold.bin"); code != 403 || !strings.Contains(body, "InvalidObjectState") {
		t.Fatalf("archive: %d %s", code, body)
	}
	if code, body := get("/demo?list-type=2&delimiter=/"); code != 200 || !strings.Contains(body, "<Prefix>docs/</Prefix>") || !strings.Contains(body, "<Key>empty</Key>") {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ := get("/other?list-type=2"); code != 200 {
		t.Fatalf("second bucket: %d", code)
	}
	code, body = get("/_emu/faults")
	var f ossemu.Faults
	if err := json.Unmarshal([]byte(body), &f); code != 200 || err != nil || f.Latency != time.Millisecond || f.BytesPerSec != 1e9 {
		t.Fatalf("faults: %d %v %s", code, err, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Fatalf("pidfile left behind: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-bandwidth", "12XB"}, {"-ak", "x"}, {"extra"}, {"-bucket", ","}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
