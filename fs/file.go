package fs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ossmount/ossmount/vfs"
)

// fileNode is one version of an object: one generation of the path's
// inode (see vfs.FS.Gen). Its attributes are that version's for the
// node's whole life, so a file opened before the object was replaced
// never takes on the new object's size: the kernel would clamp the old
// inode to it (short reads, SIGBUS in mmap). Once the mount knows the path
// has another version, the node answers ESTALE to GETATTR (and the
// adapter's OPEN), as NFS does for a file gone on the server: the kernel
// then looks the path up again (stat, open, getxattr retry with a fresh
// lookup and reach the new version's node), while fstat on a file opened
// before fails, which is what ends `tail -f` instead of polling a version
// that will never grow.
type fileNode struct {
	gofs.Inode
	m     *mount
	path  string
	// entry is the node's version. Only the node's own writes change it
	// (write.go): a commit through the node makes its bytes the version
	// the node stands for. A read-only node's entry never changes.
	mu    sync.Mutex
	entry vfs.Entry

	// moved: renamed away (write.go); its path is no longer its name, so
	// it answers ESTALE and the kernel looks the new name up again.
	moved atomic.Bool

	// The kernel runs the open files of an inode either all through its
	// page cache ("cached") or all through one backing file
	// (passthrough), and fails an open (EIO) that would mix the two. So
	// an open takes the mode of the files already open: passthrough only
	// when none is open cached. ioMu guards the counts below and is held
	// across that choice. The files are counted from our reply to OPEN to
	// their RELEASE, which the kernel sends after it has let go of the
	// mode, so the counts never miss a file the kernel still has open.
	// backing is the cache file the passthrough files read, opened (and
	// its version pinned) by the first of them and closed by the last;
	// nil exactly when backedOpens is 0. go-fuse registers it with the
	// kernel once per inode, and later passthrough opens share it.
	ioMu        sync.Mutex
	cachedOpens int
	backedOpens int
	backing     *vfs.Backing
}

// version returns the version the node stands for.
func (f *fileNode) version() vfs.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.entry
}

// setEntry makes e the node's version (write.go, after a commit).
func (f *fileNode) setEntry(e vfs.Entry) {
	f.mu.Lock()
	f.entry = e
	f.mu.Unlock()
}

func (f *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if w, ok := fh.(*writeHandle); ok {
		return w.getattr(out)
	}
	if f.moved.Load() {
		return syscall.ESTALE
	}
	e := f.version()
	if err := f.m.v.Current(ctx, f.path, e.ETag); err != nil {
		return f.m.errno("getattr", f.path, err)
	}
	f.m.fileAttr(e, f.m.v.Ino(f.path, false), &out.Attr)
	out.SetTimeout(f.m.opts.AttrTTL)
	return 0
}

func (f *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if f.moved.Load() {
		return nil, 0, syscall.ESTALE
	}
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return f.openWrite(ctx, flags) // write.go
	}
	// Another version than this inode's answers ESTALE: the kernel then
	// retries the open after a fresh lookup, which makes the new
	// version's inode.
	h, res, err := f.m.v.OpenVersion(ctx, f.path, f.version())
	if err != nil {
		return nil, 0, f.m.errno("open", f.path, err)
	}
	var fl uint32
	if res.KeepCache {
		fl |= fuse.FOPEN_KEEP_CACHE
	}
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	if f.m.passthrough.Load() && f.backedOpens == 0 && f.cachedOpens == 0 {
		f.backing = h.Backing()
	}
	if f.backing != nil {
		f.backedOpens++
		if flags&syscall.O_DIRECT != 0 {
			// O_DIRECT asks to bypass caches, and a passthrough read
			// would go to the disk under the cache file: with
			// FOPEN_DIRECT_IO its reads come to the daemon as they
			// would without passthrough (the kernel still wants the
			// passthrough flag on every open of the inode).
			fl |= fuse.FOPEN_DIRECT_IO
		}
		return &backedHandle{handle{h: h, node: f}}, fl, 0
	}
	f.cachedOpens++
	return &handle{h: h, node: f}, fl, 0
}

// handle is an open file, counted in its node's mode (see fileNode.ioMu).
type handle struct {
	h    *vfs.Handle
	node *fileNode
}

// backedHandle is a file the kernel reads from the cache file directly
// (FUSE passthrough); go-fuse registers the backing file with the kernel
// at the first open of the inode and shares it with the later ones.
type backedHandle struct {
	handle
}

func (h *backedHandle) PassthroughFd() (int, bool) {
	f := h.node
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	if f.backing == nil {
		return 0, false
	}
	return f.backing.Fd(), true
}

func (h *backedHandle) Release(ctx context.Context) syscall.Errno {
	f := h.node
	var last *vfs.Backing
	f.ioMu.Lock()
	if f.backedOpens--; f.backedOpens == 0 {
		last, f.backing = f.backing, nil
	}
	f.ioMu.Unlock()
	if last != nil {
		last.Close() // unpins: may evict (disk I/O), so not under ioMu
	}
	h.h.Release()
	return 0
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.h.Read(ctx, dest, off)
	if err != nil {
		return nil, h.node.m.errno("read", h.node.path, fmt.Errorf("%d bytes at %d: %w", len(dest), off, err))
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.node.ioMu.Lock()
	h.node.cachedOpens--
	h.node.ioMu.Unlock()
	h.h.Release()
	return 0
}
