package fs

import (
	"context"
	"errors"
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
	m    *mount
	path string
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
	// (passthrough), and fails an open (EIO) that would mix the two, or
	// that names another backing file than the one the inode's open
	// passthrough files use. So an open takes the mode of the files
	// already open: passthrough only when none is open cached, and then
	// with the backing ID of the others. ioMu guards the fields below and
	// is held across that choice. The files are counted from our reply to
	// OPEN to their RELEASE, which the kernel sends after it has let go of
	// the file's mode and backing file, so the counts never miss a file
	// the kernel still has open, and the backing ID stays registered while
	// any passthrough file may use it.
	//
	// The backing file is registered here rather than by go-fuse
	// (FilePassthroughFder): go-fuse counts the users of a node's backing
	// ID per RELEASE of any file of the node, cached ones included, so a
	// cached file released just after the node turned passthrough took a
	// passthrough file's count; go-fuse then unregistered the ID while
	// that file was open, registered a new one for the next open, and the
	// kernel failed that open with EIO (-EBUSY in
	// fuse_inode_uncached_io_start: "deny conflicting backing files").
	//
	// backing is the cache file the passthrough files read, opened (and
	// its version pinned) by the first of them and closed by the last, and
	// backingID its registration with the kernel; both are nil/0 exactly
	// when backedOpens is 0.
	ioMu        sync.Mutex
	cachedOpens int
	backedOpens int
	backing     *vfs.Backing
	backingID   int32
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
	// The backing ID reaches the kernel through bridge.Open, which finds
	// it under this request's cancel channel.
	fc, inRequest := ctx.(*fuse.Context)
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	if inRequest && f.m.passthrough.Load() && f.backedOpens == 0 && f.cachedOpens == 0 {
		f.registerBacking(h)
	}
	if f.backing != nil {
		if !inRequest {
			h.Release()
			return nil, 0, f.m.errno("open", f.path, errors.New("a passthrough open outside a FUSE request"))
		}
		f.backedOpens++
		f.m.backingIDs.Store(fc.Cancel, f.backingID)
		if flags&syscall.O_DIRECT != 0 {
			// O_DIRECT asks to bypass caches, and a passthrough read
			// would go to the disk under the cache file: with
			// FOPEN_DIRECT_IO its reads come to the daemon as they
			// would without passthrough (the kernel still wants the
			// passthrough flag on every open of the inode).
			fl |= fuse.FOPEN_DIRECT_IO
		}
		return &backedHandle{handle{h: h, node: f}}, fl &^ fuse.FOPEN_KEEP_CACHE, 0
	}
	f.cachedOpens++
	return &handle{h: h, node: f}, fl, 0
}

// registerBacking opens the cache file of h's version as the node's
// backing file and registers it with the kernel, if the version qualifies
// (vfs.Handle.Backing). The caller holds ioMu and has no passthrough file
// open.
func (f *fileNode) registerBacking(h *vfs.Handle) {
	b := h.Backing()
	if b == nil {
		return
	}
	id, errno := f.m.server.RegisterBackingFd(&fuse.BackingMap{Fd: int32(b.Fd())})
	if errno != 0 {
		f.m.opts.Logger.Debug("the kernel refused the cache file as a backing file; reading through the daemon", "path", f.path, "err", errno)
		b.Close()
		return
	}
	f.backing, f.backingID = b, id
}

// handle is an open file, counted in its node's mode (see fileNode.ioMu).
type handle struct {
	h    *vfs.Handle
	node *fileNode
}

// backedHandle is a file the kernel reads from the node's backing file
// directly (FUSE passthrough).
type backedHandle struct {
	handle
}

func (h *backedHandle) Release(ctx context.Context) syscall.Errno {
	f := h.node
	var (
		last *vfs.Backing
		id   int32
	)
	f.ioMu.Lock()
	if f.backedOpens--; f.backedOpens == 0 {
		last, f.backing = f.backing, nil
		id, f.backingID = f.backingID, 0
	}
	f.ioMu.Unlock()
	if last != nil {
		// The kernel has let go of every passthrough file of the node
		// (each was RELEASEd), so a new open may register another
		// backing file meanwhile.
		if errno := f.m.server.UnregisterBackingFd(id); errno != 0 {
			f.m.opts.Logger.Debug("unregistering a backing file", "path", f.path, "err", errno)
		}
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
