package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/test/ossemu"
)

// Versions (issue 14): an open file stays bound to the version it opened,
// attributes included; revalidation never serves a version whose ETag
// differs from the one the mount has seen; empty objects open in one plain
// request.

// versionTTL is the metadata_ttl of these tests: short, so that waiting
// past it is cheap.
const versionTTL = 300 * time.Millisecond

// pastTTL waits until the kernel's and the mount's cached attributes of
// everything looked up so far have expired.
func pastTTL() { time.Sleep(3 * versionTTL) }

// fstatSize is the size fstat reports for f.
func fstatSize(f *os.File) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// An fd opened before a replace keeps its version: fstat reports that
// version's size (or ESTALE once the mount knows it is gone), never the
// new object's; reading on returns that version's bytes, all of them, or
// ends in ESTALE, never a different length. New opens and path lookups
// see the new version.
func TestOpenFileKeepsItsVersionAfterReplace(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new int
	}{
		{"smaller", 4*mib + 123, 3*mib - 7},
		{"bigger", 4*mib + 123, 6*mib + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			oldData, newData := pattern(41, tc.old), pattern(42, tc.new)
			e.put("v.bin", oldData)
			e.mount(append(smallBlocks, fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))...)
			f, err := os.Open(e.path("v.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			head := make([]byte, 256*kib)
			if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, oldData[:len(head)]) {
				t.Fatalf("first read: %v", err)
			}
			var oldSt syscall.Stat_t
			if err := syscall.Fstat(int(f.Fd()), &oldSt); err != nil || oldSt.Size != int64(tc.old) {
				t.Fatalf("fstat before the replace: size %d, %v", oldSt.Size, err)
			}

			e.put("v.bin", newData)
			pastTTL()
			checkOldFstat := func(when string) {
				t.Helper()
				size, err := fstatSize(f)
				if err != nil && !errors.Is(err, syscall.ESTALE) {
					t.Errorf("fstat of the old fd %s: %v, want its size or ESTALE", when, err)
				}
				if err == nil && size != int64(tc.old) {
					t.Errorf("fstat of the old fd %s: size %d, want the old version's %d (the new one has %d)", when, size, tc.old, tc.new)
				}
			}
			checkOldFstat("after the replace")

			// The path shows the new version, to stat and to new opens.
			st, err := os.Stat(e.path("v.bin"))
			if err != nil || st.Size() != int64(tc.new) {
				t.Fatalf("stat of the path after the replace: %v, %v; want size %d", st, err, tc.new)
			}
			if st.Sys().(*syscall.Stat_t).Ino != oldSt.Ino {
				t.Errorf("inode number changed from %d to %d: a path's number is stable", oldSt.Ino, st.Sys().(*syscall.Stat_t).Ino)
			}
			g, err := os.Open(e.path("v.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if size, err := fstatSize(g); err != nil || size != int64(tc.new) {
				t.Errorf("fstat of a new fd: %d, %v; want %d", size, err, tc.new)
			}
			got, err := io.ReadAll(g)
			if err != nil {
				t.Fatal(err)
			}
			assertSame(t, "new open", got, newData)

			// The old fd reads on: the old bytes to the old end, or ESTALE.
			rest, err := io.ReadAll(f)
			switch {
			case err != nil && !errors.Is(err, syscall.ESTALE):
				t.Errorf("reading the old fd on: %v, want ESTALE or the old bytes", err)
			case !bytes.Equal(rest, oldData[len(head):len(head)+len(rest)]):
				t.Errorf("reading the old fd on: %d bytes that are not the old version's", len(rest))
			case err == nil && len(head)+len(rest) != tc.old:
				t.Errorf("reading the old fd on ended cleanly after %d bytes, the old version has %d", len(head)+len(rest), tc.old)
			}
			checkOldFstat("after reading on")
		})
	}
}

// mmap of a file that is replaced by a smaller object: the mapped pages of
// the old version stay readable; no SIGBUS from the kernel clamping the
// file to the new size.
func TestMmapOfReplacedFileKeepsItsSize(t *testing.T) {
	e := newEnv(t)
	oldData := pattern(43, 2*mib)
	e.put("m.bin", oldData)
	e.mount(append(smallBlocks, fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))...)
	f, err := os.Open(e.path("m.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := io.ReadAll(f); err != nil || !bytes.Equal(got, oldData) {
		t.Fatalf("read: %v", err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, len(oldData), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	e.put("m.bin", pattern(44, 1*mib))
	pastTTL()
	_, _ = fstatSize(f)             // the kernel asks for the attributes again
	_, _ = os.Stat(e.path("m.bin")) // and looks the path up again
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("reading the mapping past the new object's size faulted: %v", r)
			}
		}()
		tailPage := m[len(m)-4096:]
		if !bytes.Equal(tailPage, oldData[len(oldData)-4096:]) {
			t.Errorf("the mapping's last page is not the old version's")
		}
	}()
}

// tail -f of an object replaced by a longer one shows the new lines or
// ends with an error; it does not poll the old version forever.
func TestTailOfReplacedObjectEnds(t *testing.T) {
	if _, err := exec.LookPath("tail"); err != nil {
		t.Skip("no tail")
	}
	for _, mode := range []string{"-f", "-F"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			var lines []string
			for i := 1; i <= 20; i++ {
				lines = append(lines, fmt.Sprintf("line %d", i))
			}
			oldText := strings.Join(lines, "\n") + "\n"
			e.put("log.txt", []byte(oldText))
			e.mount(fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))
			cmd := exec.Command("tail", mode, "-s", "0.1", "-n", "2", e.path("log.txt"))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					out <- sc.Text()
				}
				close(out)
			}()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() { _ = cmd.Process.Kill() }()
			for _, want := range []string{"line 19", "line 20"} {
				select {
				case got := <-out:
					if got != want {
						t.Fatalf("tail printed %q, want %q", got, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("tail printed nothing: %s", stderr.String())
				}
			}
			e.put("log.txt", []byte(oldText+"line 21 (new)\n"))
			deadline := time.After(20 * time.Second)
			for {
				select {
				case line, ok := <-out:
					if !ok {
						out = nil // stdout closed: wait for the exit
						continue
					}
					if strings.Contains(line, "(new)") {
						t.Logf("tail %s showed the new line (stderr: %s)", mode, strings.TrimSpace(stderr.String()))
						return
					}
				case err := <-exited:
					// GNU tail reports a file it lost on stderr and
					// exits with the status of its first reads.
					if !strings.Contains(stderr.String(), "Stale file handle") {
						t.Fatalf("tail %s exited (%v) without showing the new line or saying why: %q", mode, err, stderr.String())
					}
					t.Logf("tail %s ended (%v): %s", mode, err, strings.TrimSpace(stderr.String()))
					return
				case <-deadline:
					t.Fatalf("tail %s neither showed the new line nor ended after the object was replaced (stderr: %s)", mode, stderr.String())
				}
			}
		})
	}
}

// revalidate=mtime: an object replaced within the same second as the
// cached version (If-Modified-Since cannot tell them apart) is still
// caught, in the mount that cached it and after a remount.
func TestMtimeRevalidationCatchesSameSecondReplace(t *testing.T) {
	e := newEnv(t)
	second := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	a, b, c := pattern(51, 300*kib), pattern(52, 300*kib), pattern(53, 200*kib)
	e.put("s.bin", a, ossemu.WithLastModified(second))
	e.mount("revalidate=mtime", fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))
	assertSame(t, "A", mustRead(t, e.path("s.bin")), a)
	e.put("s.bin", b, ossemu.WithLastModified(second))
	pastTTL()
	assertSame(t, "B, put in A's second", mustRead(t, e.path("s.bin")), b)
	assertSame(t, "B again", mustRead(t, e.path("s.bin")), b)
	e.unmount()

	e.put("s.bin", c, ossemu.WithLastModified(second))
	e.mount("revalidate=mtime", fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))
	assertSame(t, "C after a remount, put in B's second", mustRead(t, e.path("s.bin")), c)
}

// The mtime check also holds when the lookup's HEAD is what knows: a 304
// that carries no ETag must not serve a version whose ETag the mount has
// seen differ.
func TestMtimeRevalidationTrustsTheSeenETag(t *testing.T) {
	e := newEnv(t)
	second := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	a, b := pattern(54, 100*kib), pattern(55, 100*kib)
	e.put("h.bin", a, ossemu.WithLastModified(second))
	e.mount("revalidate=mtime", fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))
	assertSame(t, "A", mustRead(t, e.path("h.bin")), a)
	e.emu.SetFaults(ossemu.Faults{NotModifiedWithoutETag: true})
	e.put("h.bin", b, ossemu.WithLastModified(second))
	pastTTL()
	assertSame(t, "B, put in A's second", mustRead(t, e.path("h.bin")), b)
}

// Empty objects open in one plain request whatever the server answers to
// a range it cannot satisfy: OSS's 200 with the (empty) object, 416 under
// x-oss-range-behavior: standard, MinIO's 416 InvalidRange. A reopen is
// one conditional request; nothing counts as an error or a retry.
func TestEmptyObjectOpensInOneRequest(t *testing.T) {
	for _, mode := range []string{"", "standard", "minio"} {
		name := mode
		if name == "" {
			name = "oss-default"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.emu.SetFaults(ossemu.Faults{UnsatisfiableRange: mode})
			e.put("empty", nil)
			e.put("grows", []byte("will be emptied"))
			e.mount("metadata_ttl=1h")
			check := func(what, key string) {
				t.Helper()
				got, err := os.ReadFile(e.path(key))
				if err != nil || len(got) != 0 {
					t.Fatalf("%s: %q, %v; want empty", what, got, err)
				}
			}
			check("first open", "empty")
			gets := e.gets("empty")
			if len(gets) != 1 || gets[0].Status != 200 || gets[0].Range != "" {
				t.Errorf("first open of an empty object: %s, want one GET without Range answered 200", describeGets(gets))
			}
			e.emu.ResetRequests()
			check("reopen", "empty")
			gets = e.gets("empty")
			if len(gets) != 1 || gets[0].Status != 304 || gets[0].IfNoneMatch == "" {
				t.Errorf("reopen of an empty object: %s, want one conditional GET answered 304", describeGets(gets))
			}

			// An object the mount knows as non-empty that became empty:
			// its ranged GET meets the unsatisfiable range at once.
			if _, err := os.Stat(e.path("grows")); err != nil {
				t.Fatal(err)
			}
			e.put("grows", nil)
			check("open of an object emptied since its lookup", "grows")
			out, errOut, code := ossmountCmd(t, "stats", "--json", e.mnt)
			if code != 0 {
				t.Fatalf("ossmount stats: %s", errOut)
			}
			var s struct {
				Retries int64            `json:"retries"`
				Errors  map[string]int64 `json:"errors"`
			}
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatal(err)
			}
			var errs int64
			for _, n := range s.Errors {
				errs += n
			}
			if s.Retries != 0 || errs != 0 {
				t.Errorf("stats count %d retries and errors %v, want none", s.Retries, s.Errors)
			}
			if strings.Contains(readLog(e), "open GET failed") {
				t.Errorf("the open was retried: %s", readLog(e))
			}
		})
	}
}

func describeGets(rs []ossemu.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d GETs", len(rs))
	for _, r := range rs {
		fmt.Fprintf(&b, " [Range %q If-None-Match %q If-Modified-Since %q → %d]", r.Range, r.IfNoneMatch, r.IfModifiedSince, r.Status)
	}
	return b.String()
}

// Every EIO the mount returns is logged with its cause and the OSS request
// id of the request that failed: at open and at read.
func TestEveryEIOIsLogged(t *testing.T) {
	e := newEnv(t)
	e.put("fail/open.bin", pattern(61, 100*kib))
	e.put("fail/read.bin", pattern(62, 4*mib))
	e.mount(append(smallBlocks, "retries=1")...)
	f, err := os.Open(e.path("fail/read.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.Stat(e.path("fail/open.bin")); err != nil {
		t.Fatal(err)
	}
	e.emu.SetFaults(ossemu.Faults{Status5xxEveryN: 1, Status5xxCode: 500, KeyFilter: "fail/"})
	if _, err := os.ReadFile(e.path("fail/open.bin")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("open with the server failing: %v, want EIO", err)
	}
	if _, err := f.ReadAt(make([]byte, 4096), 3*mib); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read with the server failing: %v, want EIO", err)
	}
	log := readLog(e)
	for _, op := range []string{"open", "read"} {
		found := false
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, `msg="returning EIO"`) && strings.Contains(line, "op="+op+" ") &&
				strings.Contains(line, "HTTP 500") && strings.Contains(line, "request_id=") {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line for the EIO of %s with its cause and request id", op)
		}
	}
}
