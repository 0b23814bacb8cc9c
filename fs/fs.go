// Package fs is the FUSE adapter of ossmount, on go-fuse's fs API. It only
// translates: each node method converts its arguments, calls the core
// (package vfs) and maps the error with errnoOf. Caching policy, revalidation
// and fetching all live in the core.
//
// What it does keep is the kernel's protocol state: with FUSE passthrough
// a file whose version the core can back (vfs.Handle.Backing) is opened
// with the cache file as its backing file, so the kernel reads it without
// us; the kernel's rule that an inode's open files are all passthrough or
// all cached is kept per node (fileNode.ioMu).
package fs

import (
	"context"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ossmount/ossmount/vfs"
)

// Options are the presentation settings of the mount.
type Options struct {
	UID, GID          uint32
	FileMode, DirMode uint32 // permission bits
	AttrTTL           time.Duration
	NegativeTTL       time.Duration
	FsName            string // shown in mount tables: "bucket:/prefix"
	AllowOther        bool
	AllowRoot         bool
	DefaultPerms      bool
	Debug             bool
	// Passthrough lets the kernel read wholly cached files from the cache
	// file directly (FUSE passthrough: Linux 6.9 or later, as root).
	Passthrough bool
	Logger      *slog.Logger
}

type mount struct {
	v    *vfs.FS
	opts Options
	// passthrough: files whose version is wholly cached are read by the
	// kernel from the cache file directly (Options.Passthrough, and the
	// kernel accepted a backing file at mount).
	passthrough atomic.Bool
}

// Mount mounts v at mountpoint (read-only unless v is writable) and
// returns once the kernel serves it.
func Mount(mountpoint string, v *vfs.FS, opts Options) (*fuse.Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &mount{v: v, opts: opts}
	root := &dirNode{m: m, path: ""}
	var mo []string
	if !v.Writable() {
		mo = append(mo, "ro")
	}
	if opts.DefaultPerms {
		mo = append(mo, "default_permissions")
	}
	if opts.AllowRoot {
		mo = append(mo, "allow_root")
	}
	attr, neg := opts.AttrTTL, opts.NegativeTTL
	server, err := gofs.Mount(mountpoint, root, &gofs.Options{
		MountOptions: fuse.MountOptions{
			FsName:       opts.FsName,
			Name:         "ossmount",
			Options:      mo,
			AllowOther:   opts.AllowOther,
			DirectMount:  true,
			MaxWrite:     1 << 20, // also max_read: 1 MiB FUSE reads
			MaxReadAhead: 1 << 20,
			Debug:        opts.Debug,
			// mmap(MAP_SHARED) of an O_DIRECT open (FOPEN_DIRECT_IO).
			ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP,
		},
		EntryTimeout:    &attr,
		AttrTimeout:     &attr,
		NegativeTimeout: &neg,
		UID:             opts.UID,
		GID:             opts.GID,
		// go-fuse's default root inode number is 0, which tools
		// comparing (dev, ino) take for "no inode".
		RootStableAttr: &gofs.StableAttr{Ino: v.Ino("", true)},
	})
	if err != nil {
		return nil, err
	}
	if opts.Passthrough {
		if err := probeBacking(server, v); err != nil {
			opts.Logger.Info("FUSE passthrough unavailable (it needs Linux 6.9 or later and root): cached files are read through the daemon", "err", err)
		} else {
			m.passthrough.Store(true)
		}
	}
	return server, nil
}

// probeBacking asks the kernel to accept a file of the cache directory as a
// backing file, as a passthrough open would, and lets it go.
func probeBacking(server *fuse.Server, v *vfs.FS) error {
	f, err := v.BackingProbe()
	if err != nil {
		return err
	}
	defer f.Close()
	id, errno := server.RegisterBackingFd(&fuse.BackingMap{Fd: int32(f.Fd())})
	if errno != 0 {
		return errno
	}
	if errno := server.UnregisterBackingFd(id); errno != 0 {
		return errno
	}
	return nil
}

func (m *mount) fileAttr(e vfs.Entry, ino uint64, out *fuse.Attr) {
	out.Ino = ino
	out.Mode = syscall.S_IFREG | m.opts.FileMode
	out.Size = uint64(e.Size)
	out.Blocks = (uint64(e.Size) + 511) / 512
	out.Blksize = 1 << 20
	out.Nlink = 1
	out.Uid, out.Gid = m.opts.UID, m.opts.GID
	t := e.LastModified
	out.SetTimes(&t, &t, &t)
}

func (m *mount) dirAttr(ino uint64, out *fuse.Attr) {
	out.Ino = ino
	out.Mode = syscall.S_IFDIR | m.opts.DirMode
	out.Nlink = 1 // unknown subdirectory count: tells find(1) not to optimise
	out.Blksize = 4096
	out.Uid, out.Gid = m.opts.UID, m.opts.GID
	t := m.v.MountTime()
	out.SetTimes(&t, &t, &t)
}

// dirNode is a directory: the root or a common prefix.
type dirNode struct {
	gofs.Inode
	m    *mount
	path string // "" for the root
}

var (
	_ gofs.NodeLookuper       = (*dirNode)(nil)
	_ gofs.NodeOpendirHandler = (*dirNode)(nil)
	_ gofs.NodeGetattrer      = (*dirNode)(nil)
	_ gofs.NodeStatfser       = (*dirNode)(nil)
	_ gofs.NodeCreater        = (*dirNode)(nil)
	_ gofs.NodeMkdirer        = (*dirNode)(nil)
	_ gofs.NodeUnlinker       = (*dirNode)(nil)
	_ gofs.NodeRmdirer        = (*dirNode)(nil)
	_ gofs.NodeRenamer        = (*dirNode)(nil)
	_ gofs.NodeGetxattrer     = (*dirNode)(nil)
	_ gofs.NodeListxattrer    = (*dirNode)(nil)
)

func (d *dirNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.m.dirAttr(d.m.v.Ino(d.path, true), &out.Attr)
	out.SetTimeout(d.m.opts.AttrTTL)
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, err := d.m.v.Lookup(ctx, d.path, name)
	if err != nil {
		return nil, errnoOf(err)
	}
	p := path.Join(d.path, name)
	var child *gofs.Inode
	if e.Symlink {
		child = d.linkChild(ctx, p, e, out)
	} else if e.IsDir {
		ino := d.m.v.Ino(p, true)
		child = d.NewInode(ctx, &dirNode{m: d.m, path: p}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino})
		d.m.dirAttr(ino, &out.Attr)
	} else {
		ino := d.m.v.Ino(p, false)
		gen := d.m.v.Gen(p, e.ETag)
		child = d.NewInode(ctx, &fileNode{m: d.m, path: p, dir: d.path, etag: e.ETag, entry: e, at: time.Now()},
			gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino, Gen: gen})
		// go-fuse keeps the first node it made for this inode number.
		if f, ok := child.Operations().(*fileNode); ok {
			f.setEntry(e)
		}
		d.m.fileAttr(e, ino, &out.Attr)
	}
	out.SetEntryTimeout(d.m.opts.AttrTTL)
	out.SetAttrTimeout(d.m.opts.AttrTTL)
	return child, 0
}

// OpendirHandle opens a directory for reading; its entries stream in as
// the listing arrives (see vfs.DirReader).
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{d: d, r: d.m.v.OpenDir(d.path)}, 0, 0
}

// dirHandle is an open directory. go-fuse serializes the calls of one
// handle, and numbers the entries 1, 2, ... as it sends them (Seekdir's
// offset is the number of entries already read).
//
// Readdirent returns an error only where no entry can get lost. go-fuse
// calls it once per entry with the request's context; an error after the
// first entry of a reply is kept as an "overflow" for the next request,
// and go-fuse v2.12.1 never clears it afterwards, so from then on it
// answers that errno in place of the entry that overflows each reply: one
// name lost per reply (seen when signals interrupted a getdents waiting
// for the next page: TestListingOf100kKeysStreams). So within a request,
// only the first call waits for the listing, and it does not give up when
// the request is interrupted: a non-fatal signal only makes the kernel
// send FUSE_INTERRUPT and wait on (a fatal one ends the caller anyway),
// and the listing itself is bounded by the store's timeouts. A later entry
// that has not arrived, or a failed listing, ends the reply early; the
// next request waits for it or reports the error first.
//
// The first two entries are "." and "..", which neither go-fuse nor the
// kernel adds: entry offsets count them, so Seekdir(off) skips off-2
// entries of the listing.
type dirHandle struct {
	d *dirNode
	r *vfs.DirReader
	// dots is how many of ".", ".." were sent.
	dots int
	// req is the context of the request the last call served.
	req context.Context
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
)

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.dots < 2 {
		name, p := ".", h.d.path
		if h.dots == 1 {
			name, p = "..", parentDir(h.d.path)
		}
		h.dots++
		return &fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: h.d.m.v.Ino(p, true)}, 0
	}
	first := ctx != h.req
	h.req = ctx
	var (
		e   vfs.Entry
		ok  bool
		err error
	)
	if first {
		e, ok, err = h.r.Next(context.WithoutCancel(ctx))
	} else {
		e, ok = h.r.NextArrived()
	}
	if err != nil {
		return nil, errnoOf(err)
	}
	if !ok {
		return nil, 0 // the end, or of this reply
	}
	p := path.Join(h.d.path, e.Name)
	switch {
	case e.IsDir:
		return &fuse.DirEntry{Name: e.Name, Mode: syscall.S_IFDIR, Ino: h.d.m.v.Ino(p, true)}, 0
	case e.Symlink:
		return &fuse.DirEntry{Name: e.Name, Mode: syscall.S_IFLNK, Ino: h.d.m.v.LinkIno(p)}, 0
	}
	return &fuse.DirEntry{Name: e.Name, Mode: syscall.S_IFREG, Ino: h.d.m.v.Ino(p, false)}, 0
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.dots = int(min(off, 2))
	h.r.Seek(int(off) - h.dots)
	return 0
}

// parentDir is the path of p's parent directory ("" for the root and its
// children; the root's ".." is the root itself).
func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	// An object store has no capacity: report a large, empty filesystem.
	const blocks = 1 << 40 / 4096
	out.Bsize, out.Frsize = 4096, 4096
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<32, 1<<32
	out.NameLen = 255
	return 0
}

// fileNode is an object.
type fileNode struct {
	gofs.Inode
	m    *mount
	path string
	dir  string

	// etag is the version this node (one generation of the path's inode)
	// stands for; an open that finds another version fails with ESTALE,
	// which makes the kernel look the name up again and get the new
	// generation's node (see vfs.FS.Gen).
	etag string

	// moved: renamed away (write.go); its path is no longer its name, so
	// it answers ESTALE and the kernel looks the new name up again.
	moved atomic.Bool

	mu    sync.Mutex // guards entry, at
	entry vfs.Entry  // last known metadata, as the kernel was told it
	at    time.Time  // when entry was learnt

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

var (
	_ gofs.NodeGetattrer   = (*fileNode)(nil)
	_ gofs.NodeSetattrer   = (*fileNode)(nil)
	_ gofs.NodeOpener      = (*fileNode)(nil)
	_ gofs.NodeGetxattrer  = (*fileNode)(nil)
	_ gofs.NodeListxattrer = (*fileNode)(nil)
)

func (f *fileNode) setEntry(e vfs.Entry) {
	f.mu.Lock()
	f.entry, f.at = e, time.Now()
	f.mu.Unlock()
}

func (f *fileNode) current(ctx context.Context) (vfs.Entry, error) {
	f.mu.Lock()
	e, at := f.entry, f.at
	f.mu.Unlock()
	if time.Since(at) < f.m.opts.AttrTTL {
		return e, nil
	}
	e, err := f.m.v.Lookup(ctx, f.dir, path.Base(f.path))
	if err != nil {
		return vfs.Entry{}, err
	}
	f.setEntry(e)
	return e, nil
}

func (f *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if w, ok := fh.(*writeHandle); ok {
		return w.getattr(out)
	}
	if f.moved.Load() {
		return syscall.ESTALE
	}
	e, err := f.current(ctx)
	if err != nil {
		return errnoOf(err)
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
	h, res, err := f.m.v.OpenVersion(ctx, f.path, f.etag)
	if err != nil {
		return nil, 0, errnoOf(err)
	}
	f.mu.Lock()
	old := f.entry
	f.entry, f.at = res.Entry, time.Now()
	f.mu.Unlock()
	if old.Size != res.Entry.Size || !old.LastModified.Equal(res.Entry.LastModified) {
		// The kernel still has the old size: drop its cached attributes
		// (offset -1: attributes only, no page walk, safe inside a request).
		f.NotifyContent(-1, 0)
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

func (f *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if errno := xattrNamespace(attr); errno != 0 {
		return 0, errno
	}
	if !strings.HasPrefix(attr, "user.oss") {
		return 0, syscall.ENODATA // no request to say so
	}
	x, errno := f.xattrs(ctx)
	if errno != 0 {
		return 0, errno
	}
	return getxattrReply(x, attr, dest)
}

// Listxattr lists no names: every attribute of ours describes the object in
// OSS (or the mount), and cp -a, rsync -X and tar --xattrs copy whatever is
// listed onto local files, where it would no longer mean anything (and a
// copied user.ossmount.control would make the copy look like a mount).
// They stay readable by name (vfs.Xattrs, vfs.DirXattrs).
func (f *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattrReply(nil, dest)
}

// Getxattr on a directory: the root names the daemon's control socket
// (for `ossmount stats|warm`).
func (d *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if errno := xattrNamespace(attr); errno != 0 {
		return 0, errno
	}
	return getxattrReply(d.m.v.DirXattrs(d.path), attr, dest)
}

// Listxattr: none, as for files.
func (d *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattrReply(nil, dest)
}

// xattrNamespace answers EOPNOTSUPP for names outside the user.
// namespace: OSS objects have no POSIX ACLs (system.posix_acl_*) and no
// security labels (security.*). EOPNOTSUPP, not ENODATA, because it says
// "this filesystem has none of these", and GNU ls -l remembers that per
// device and stops asking, where ENODATA costs two FUSE round trips per
// file (ls -l of 10,000 keys on the bench link: 0.78 s -> 0.35 s).
// ENOSYS would be wrong: the kernel would then stop forwarding every
// getxattr, user.oss.* included.
func xattrNamespace(attr string) syscall.Errno {
	if strings.HasPrefix(attr, "user.") {
		return 0
	}
	return syscall.EOPNOTSUPP
}

func getxattrReply(x map[string]string, attr string, dest []byte) (uint32, syscall.Errno) {
	v, ok := x[attr]
	if !ok {
		return 0, syscall.ENODATA
	}
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func listxattrReply(x map[string]string, dest []byte) (uint32, syscall.Errno) {
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf []byte
	for _, n := range names {
		buf = append(buf, n...)
		buf = append(buf, 0)
	}
	if len(dest) == 0 {
		return uint32(len(buf)), 0
	}
	if len(dest) < len(buf) {
		return uint32(len(buf)), syscall.ERANGE
	}
	return uint32(copy(dest, buf)), 0
}

func (f *fileNode) xattrs(ctx context.Context) (map[string]string, syscall.Errno) {
	e, err := f.current(ctx)
	if err != nil {
		return nil, errnoOf(err)
	}
	x, err := f.m.v.Xattrs(ctx, f.path, e)
	if err != nil {
		return nil, errnoOf(err)
	}
	return x, 0
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

var _ gofs.FilePassthroughFder = (*backedHandle)(nil)

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

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.h.Read(ctx, dest, off)
	if err != nil {
		return nil, errnoOf(err)
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
