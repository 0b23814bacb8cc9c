package fs

import (
	"context"
	"path"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ossmount/ossmount/vfs"
)

// symlinkNode is an OSS symbolic link (see vfs/symlink.go).
type symlinkNode struct {
	gofs.Inode
	m    *mount
	path string
	dir  string
}

var (
	_ gofs.NodeGetattrer  = (*symlinkNode)(nil)
	_ gofs.NodeReadlinker = (*symlinkNode)(nil)
)

// linkChild makes the inode of link entry e at p.
func (d *dirNode) linkChild(ctx context.Context, p string, e vfs.Entry, out *fuse.EntryOut) *gofs.Inode {
	ino := d.m.v.LinkIno(p)
	d.m.linkAttr(e, ino, &out.Attr)
	return d.NewInode(ctx, &symlinkNode{m: d.m, path: p, dir: d.path}, gofs.StableAttr{Mode: syscall.S_IFLNK, Ino: ino})
}

func (m *mount) linkAttr(e vfs.Entry, ino uint64, out *fuse.Attr) {
	m.fileAttr(e, ino, out)
	out.Mode = syscall.S_IFLNK | 0o777
}

func (s *symlinkNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, err := s.m.v.Lookup(ctx, s.dir, path.Base(s.path))
	if err != nil {
		return errnoOf(err)
	}
	if !e.Symlink {
		return syscall.ESTALE // the path is no longer a link: look it up again
	}
	s.m.linkAttr(e, s.m.v.LinkIno(s.path), &out.Attr)
	out.SetTimeout(s.m.opts.AttrTTL)
	return 0
}

func (s *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := s.m.v.Readlink(ctx, s.path)
	if err != nil {
		return nil, errnoOf(err)
	}
	return []byte(t), 0
}
