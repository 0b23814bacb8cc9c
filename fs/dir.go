package fs

import (
	"context"
	"path"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ossmount/ossmount/vfs"
)

// dirNode is a directory: the root or a common prefix.
type dirNode struct {
	gofs.Inode
	m    *mount
	path string // "" for the root
}

func (d *dirNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.m.dirAttr(d.m.v.Ino(d.path, true), &out.Attr)
	out.SetTimeout(d.m.opts.AttrTTL)
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, err := d.m.v.Lookup(ctx, d.path, name)
	if err != nil {
		return nil, d.m.errno("lookup", path.Join(d.path, name), err)
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
		child = d.NewInode(ctx, &fileNode{m: d.m, path: p, entry: e},
			gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino, Gen: gen})
		// go-fuse keeps the first node it made for this generation: its
		// version's attributes are the ones to report.
		if f, ok := child.Operations().(*fileNode); ok {
			e = f.version()
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

func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) { h.r.Close() }

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.dots < 2 {
		name, p := ".", h.d.path
		if h.dots == 1 {
			name, p = "..", vfs.DirOf(h.d.path)
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
		return nil, h.d.m.errno("readdir", h.d.path, err)
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

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	// An object store has no capacity: report a large, empty filesystem.
	const blocks = 1 << 40 / 4096
	out.Bsize, out.Frsize = 4096, 4096
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<32, 1<<32
	out.NameLen = 255
	return 0
}
