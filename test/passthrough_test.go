package test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readFile reads f whole from offset 0.
func readFile(t *testing.T, f *os.File, size int) []byte {
	t.Helper()
	b := make([]byte, size+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		t.Fatalf("read %s: %v", f.Name(), err)
	}
	return b[:n]
}

func openFile(t *testing.T, p string, flags int) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, flags, 0)
	if err != nil {
		t.Fatalf("open %s (flags %#x): %v", p, flags, err)
	}
	return f
}

// openPassthrough opens p and returns once an open made the daemon hand
// the kernel a cache file. Closing a file sends RELEASE asynchronously, and
// until the daemon has seen the RELEASE of a page-cache file of the inode,
// a new open stays in that mode; so an open that did not pass through is
// closed and tried again (for at most 10 s).
func (e *env) openPassthrough(t *testing.T, p string) *os.File {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := e.stats().PassthroughOpens
		f := openFile(t, p, os.O_RDONLY)
		if e.stats().PassthroughOpens > before {
			return f
		}
		f.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no open of %s passed through", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPinned waits (at most 10 s) until n versions are pinned: RELEASE is
// asynchronous.
func (e *env) waitPinned(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.stats().PassthroughPinned != n {
		if time.Now().After(deadline) {
			t.Fatalf("pinned %d, want %d", e.stats().PassthroughPinned, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemonReadBytes is what reads through the daemon have served so far.
func (e *env) daemonReadBytes() int64 {
	s := e.stats()
	return s.CacheHitBytes + s.CacheMissBytes + s.CacheAhead
}

// TestPassthroughOnceWholeAndChecked: a file whose every block is cached
// and checked in this mount is read by the kernel from the cache file
// (no read reaches the daemon); opens that find files of the inode open
// through the page cache stay with it (the kernel fails an open that mixes
// the two with EIO); O_DIRECT opens still reach the daemon; mmap works
// both ways; a file open this way keeps its version's bytes when the
// object changes and its cache files are deleted.
func TestPassthroughOnceWholeAndChecked(t *testing.T) {
	e := newEnv(t)
	const size = 3<<20 + 5
	data := pattern(71, size)
	e.put("pt.bin", data)
	e.mount()
	p := e.path("pt.bin")

	// Cold, and a second open while the first is still open: both through
	// the page cache, both fine.
	f1 := openFile(t, p, os.O_RDONLY)
	assertSame(t, "cold read", readFile(t, f1, size), data)
	f2 := openFile(t, p, os.O_RDONLY)
	assertSame(t, "second open while the first is open", readFile(t, f2, size), data)
	if s := e.stats(); s.PassthroughOpens != 0 {
		t.Fatalf("passthrough while a page-cache file of the inode is open: %+v", s)
	}
	f1.Close()
	f2.Close()

	// Now whole and checked: the next open hands the kernel the cache file.
	f3 := e.openPassthrough(t, p)
	defer f3.Close()
	if s := e.stats(); s.PassthroughOpens != 1 || s.PassthroughPinned != 1 {
		t.Fatalf("after a whole read, open: passthrough_opens %d pinned %d, want 1 1", s.PassthroughOpens, s.PassthroughPinned)
	}
	dropPages(t, p) // nothing may come from the FUSE page cache either
	before := e.daemonReadBytes()
	assertSame(t, "passthrough read", readFile(t, f3, size), data)
	if got := e.daemonReadBytes() - before; got != 0 {
		t.Fatalf("passthrough read went through the daemon: %d bytes", got)
	}
	// A second open shares the kernel's backing file.
	f4 := openFile(t, p, os.O_RDONLY)
	assertSame(t, "second passthrough open", readFile(t, f4, size), data)
	f4.Close()

	// mmap of a passthrough file.
	m, err := unix.Mmap(int(f3.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap of a passthrough file: %v", err)
	}
	assertSame(t, "mmap of a passthrough file", m, data)
	unix.Munmap(m)

	// O_DIRECT while passthrough files are open: opens, and reads reach
	// the daemon.
	fd := openFile(t, p, os.O_RDONLY|syscall.O_DIRECT)
	buf, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE) // aligned
	if err != nil {
		t.Fatal(err)
	}
	before = e.daemonReadBytes()
	n, err := fd.ReadAt(buf, 1<<20)
	if err != nil || n != 1<<20 {
		t.Fatalf("O_DIRECT read: %d, %v", n, err)
	}
	assertSame(t, "O_DIRECT read", buf[:n], data[1<<20:2<<20])
	if got := e.daemonReadBytes() - before; got != 1<<20 {
		t.Errorf("O_DIRECT read: the daemon served %d bytes, want %d", got, 1<<20)
	}
	unix.Munmap(buf)
	m, err = unix.Mmap(int(fd.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap MAP_SHARED of an O_DIRECT file: %v", err)
	}
	assertSame(t, "mmap of an O_DIRECT file", m, data)
	unix.Munmap(m)
	fd.Close()

	// The object changes: a new open gets the new version (its own inode,
	// through the page cache while cold); the passthrough file keeps
	// reading its own version whole, though its cache files are gone.
	data2 := pattern(72, size)
	e.put("pt.bin", data2)
	if s := e.stats(); s.PassthroughPinned != 1 {
		t.Fatalf("pinned %d", s.PassthroughPinned)
	}
	assertSame(t, "new version", mustRead(t, p), data2)
	assertSame(t, "passthrough file after the object changed", readFile(t, f3, size), data)
	f3.Close()
	e.waitPinned(t, 0)
	// (The new version's first open may already pass through, if its one
	// part landed before the open's reply.)
	f5 := e.openPassthrough(t, p)
	assertSame(t, "new version, whole: passthrough", readFile(t, f5, size), data2)
	f5.Close()

	// After a remount the blocks are unchecked: the first open reads
	// through the daemon (checking each block), the next passes through.
	e.unmount()
	e.mount()
	before = e.daemonReadBytes()
	assertSame(t, "after remount", mustRead(t, p), data2)
	if s, served := e.stats(), e.daemonReadBytes()-before; s.PassthroughOpens != 0 || served != size {
		t.Fatalf("first open after remount: passthrough_opens %d, daemon served %d of %d bytes", s.PassthroughOpens, served, size)
	}
	f6 := e.openPassthrough(t, p)
	assertSame(t, "after remount, again", readFile(t, f6, size), data2)
	f6.Close()
}

// TestPassthroughOff: with passthrough=off every read of a cached file
// that misses the page cache goes through the daemon.
func TestPassthroughOff(t *testing.T) {
	e := newEnv(t)
	data := pattern(73, 2<<20)
	e.put("off.bin", data)
	e.mount("passthrough=off")
	p := e.path("off.bin")
	assertSame(t, "cold", mustRead(t, p), data)
	dropPages(t, p)
	before := e.daemonReadBytes()
	assertSame(t, "warm", mustRead(t, p), data)
	if s, served := e.stats(), e.daemonReadBytes()-before; s.PassthroughOpens != 0 || served != int64(len(data)) {
		t.Fatalf("passthrough=off: passthrough_opens %d, daemon served %d bytes of %d", s.PassthroughOpens, served, len(data))
	}
}

// TestPassthroughOpensWhileModesSwitch: many opens and closes of the same
// few files while a small cache keeps evicting them, so each inode keeps
// switching between page-cache and passthrough files, and RELEASEs of the
// one mode reach the daemon while opens of the other are answered. The
// kernel fails with EIO an open whose backing file is not the one the
// inode's open passthrough files use, or whose backing ID was unregistered
// meanwhile; go-fuse's count of a node's backing users also counted the
// RELEASEs of page-cache files, unregistered the ID while passthrough files
// were open, and such EIOs came every few seconds. Not one may come now.
func TestPassthroughOpensWhileModesSwitch(t *testing.T) {
	const files, size = 8, 512 << 10
	e := newEnv(t)
	data := make([][]byte, files)
	for i := range data {
		data[i] = pattern(int64(7000+i), size)
		e.put(fmt.Sprintf("modes/o%d", i), data[i])
	}
	e.mount("block_size=64K", "part_size=256K", "cache_size=4M")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opens, eios atomic.Int64
	for r := 0; r < 16; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A thread each: the opens and closes overlap in the kernel.
			runtime.LockOSThread()
			rng := rand.New(rand.NewPCG(uint64(r), 3))
			buf := make([]byte, size+1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.IntN(files)
				f, err := os.Open(e.path(fmt.Sprintf("modes/o%d", i)))
				opens.Add(1)
				if err != nil {
					if errors.Is(err, syscall.EIO) {
						eios.Add(1)
					}
					t.Errorf("open modes/o%d: %v", i, err)
					continue
				}
				want := data[i]
				if r%2 == 0 {
					n, err := io.ReadFull(f, buf)
					if err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:n], want) {
						t.Errorf("read modes/o%d: %d bytes, %v", i, n, err)
					}
				} else {
					off := rng.Int64N(size - 4096)
					if _, err := f.ReadAt(buf[:4096], off); err != nil || !bytes.Equal(buf[:4096], want[off:off+4096]) {
						t.Errorf("read modes/o%d at %d: %v", i, off, err)
					}
				}
				f.Close()
			}
		}()
	}
	time.Sleep(8 * time.Second)
	close(stop)
	wg.Wait()
	s := e.stats()
	t.Logf("%d opens, %d passthrough, %d open EIOs", opens.Load(), s.PassthroughOpens, eios.Load())
	if s.PassthroughOpens == 0 || e.daemonReadBytes() == 0 {
		t.Errorf("both modes wanted: %d passthrough opens, %d bytes read through the daemon", s.PassthroughOpens, e.daemonReadBytes())
	}
	if n := eios.Load(); n > 0 {
		t.Errorf("%d of %d opens failed with EIO", n, opens.Load())
	}
}
