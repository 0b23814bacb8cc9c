package fs

// The write calls (with -o rw): each converts its arguments, calls the
// core (vfs/write.go) and maps the error. Files open for writing use
// direct I/O, so every write reaches the core in order and the kernel
// keeps no pages of a version that is not committed yet.

import (
	"context"
	"path"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ossmount/ossmount/vfs"
)

var (
	_ gofs.NodeCreater   = (*dirNode)(nil)
	_ gofs.NodeMkdirer   = (*dirNode)(nil)
	_ gofs.NodeUnlinker  = (*dirNode)(nil)
	_ gofs.NodeRmdirer   = (*dirNode)(nil)
	_ gofs.NodeRenamer   = (*dirNode)(nil)
	_ gofs.NodeSymlinker = (*dirNode)(nil)
	_ gofs.NodeSetattrer = (*fileNode)(nil)
	_ gofs.NodeSetattrer = (*dirNode)(nil)
)

// Setattr on a directory: chmod, chown and utimes succeed and change
// nothing (tar -x sets them on the directories it makes).
func (d *dirNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if !d.m.v.Writable() {
		return syscall.EROFS
	}
	return d.Getattr(ctx, fh, out)
}

func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	h, e, err := d.m.v.Create(ctx, d.path, name)
	if err != nil {
		return nil, nil, 0, errnoOf(err)
	}
	p := path.Join(d.path, name)
	ino := d.m.v.Ino(p, false)
	node := &fileNode{m: d.m, path: p, entry: e}
	child := d.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino, Gen: d.m.v.Gen(p, "")})
	if f, ok := child.Operations().(*fileNode); ok {
		node = f
		node.setEntry(e)
	}
	d.m.fileAttr(e, ino, &out.Attr)
	out.SetEntryTimeout(d.m.opts.AttrTTL)
	out.SetAttrTimeout(d.m.opts.AttrTTL)
	return child, &writeHandle{h: h, node: node}, fuse.FOPEN_DIRECT_IO, 0
}

// openWrite opens an existing file for writing (O_TRUNC replaces it,
// otherwise writes go at its end).
func (f *fileNode) openWrite(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h, err := f.m.v.OpenWrite(ctx, f.path, flags&syscall.O_TRUNC != 0)
	if err != nil {
		return nil, 0, errnoOf(err)
	}
	return &writeHandle{h: h, node: f}, fuse.FOPEN_DIRECT_IO, 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if _, err := d.m.v.Mkdir(ctx, d.path, name); err != nil {
		return nil, errnoOf(err)
	}
	p := path.Join(d.path, name)
	ino := d.m.v.Ino(p, true)
	d.m.dirAttr(ino, &out.Attr)
	out.SetEntryTimeout(d.m.opts.AttrTTL)
	out.SetAttrTimeout(d.m.opts.AttrTTL)
	return d.NewInode(ctx, &dirNode{m: d.m, path: p}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino}), 0
}

// Symlink makes an OSS symbolic link (ln -s); target is the link's text.
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p := path.Join(d.path, name)
	e, err := d.m.v.Symlink(ctx, d.path, name, target)
	if err != nil {
		return nil, d.m.errno("symlink", p, err)
	}
	child := d.linkChild(ctx, p, e, out)
	out.SetEntryTimeout(d.m.opts.AttrTTL)
	out.SetAttrTimeout(d.m.opts.AttrTTL)
	return child, 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return errnoOf(d.m.v.Unlink(ctx, d.path, name))
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errnoOf(d.m.v.Rmdir(ctx, d.path, name))
}

func (d *dirNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags != 0 { // RENAME_NOREPLACE, RENAME_EXCHANGE
		return syscall.EINVAL
	}
	np, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	if err := d.m.v.Rename(ctx, d.path, name, np.path, newName); err != nil {
		return errnoOf(err)
	}
	if child := d.GetChild(name); child != nil {
		if f, ok := child.Operations().(*fileNode); ok {
			f.moved.Store(true)
		}
	}
	return 0
}

// Setattr: chmod, chown and utimes succeed and change nothing (OSS keeps
// no modes, owners or times of ours); a size change is allowed only where
// the upload can follow it (vfs.WriteHandle.Truncate), else EINVAL; on a
// read-only mount the kernel answers EROFS before asking.
func (f *fileNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if !f.m.v.Writable() {
		return syscall.EROFS
	}
	if sz, ok := in.GetSize(); ok {
		w, isWrite := fh.(*writeHandle)
		if !isWrite {
			if handled, err := f.m.v.TruncateWriting(f.path, int64(sz)); handled {
				if err != nil {
					return errnoOf(err)
				}
				e, err := f.m.v.Lookup(ctx, vfs.DirOf(f.path), path.Base(f.path)) // the handle's entry
				if err != nil {
					return errnoOf(err)
				}
				f.setEntry(e)
				f.m.fileAttr(e, f.m.v.Ino(f.path, false), &out.Attr)
				out.SetTimeout(f.m.opts.AttrTTL)
				return 0
			}
			e := f.version()
			if err := f.m.v.Current(ctx, f.path, e.ETag); err != nil {
				return errnoOf(err)
			}
			if uint64(e.Size) != sz {
				return syscall.EINVAL
			}
		} else if err := w.h.Truncate(int64(sz)); err != nil {
			return errnoOf(err)
		}
	}
	if w, ok := fh.(*writeHandle); ok {
		return w.getattr(out)
	}
	return f.Getattr(ctx, fh, out)
}

// writeHandle is a file open for writing.
type writeHandle struct {
	h    *vfs.WriteHandle
	node *fileNode
}

var (
	_ gofs.FileWriter   = (*writeHandle)(nil)
	_ gofs.FileFlusher  = (*writeHandle)(nil)
	_ gofs.FileFsyncer  = (*writeHandle)(nil)
	_ gofs.FileReleaser = (*writeHandle)(nil)
	_ gofs.FileReader   = (*writeHandle)(nil)
)

func (w *writeHandle) getattr(out *fuse.AttrOut) syscall.Errno {
	e := w.h.Entry()
	w.node.m.fileAttr(e, w.node.m.v.Ino(w.node.path, false), &out.Attr)
	out.SetTimeout(w.node.m.opts.AttrTTL)
	return 0
}

func (w *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := w.h.Write(ctx, data, off)
	if err != nil && n == 0 {
		return 0, errnoOf(err)
	}
	return uint32(n), 0
}

// Read on a file open for writing (O_RDWR): the bytes are not readable
// before they are committed.
func (w *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return nil, syscall.EINVAL
}

func (w *writeHandle) Flush(ctx context.Context) syscall.Errno {
	err := w.h.Flush(ctx)
	w.node.setEntry(w.h.Entry())
	return errnoOf(err)
}

func (w *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return w.Flush(ctx)
}

func (w *writeHandle) Release(ctx context.Context) syscall.Errno {
	w.h.Release()
	w.node.setEntry(w.h.Entry())
	return 0
}
