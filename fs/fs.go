// Package fs is the FUSE adapter of ossmount, on go-fuse's fs API. It only
// translates: each node method converts its arguments, calls the core
// (package vfs) and maps the error with errnoOf (through mount.errno,
// which logs every EIO with its cause). Caching policy, revalidation and
// fetching all live in the core.
//
// What it does keep is the kernel's protocol state: with FUSE passthrough
// a file whose version the core can back (vfs.Handle.Backing) is opened
// with the cache file as its backing file, so the kernel reads it without
// us; the kernel's rules that an inode's open files are all passthrough or
// all cached, and that its passthrough files share one backing file, are
// kept per node (fileNode.ioMu), which registers the backing file itself:
// go-fuse's own registration miscounts its users (see fileNode), and its
// node API has no way to name a backing ID, so the raw bridge is wrapped to
// put it in the OPEN reply (bridge).
package fs

import (
	"log"
	"log/slog"
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
	// server registers and unregisters the backing files (fileNode).
	server *fuse.Server
	// backingIDs hands the backing ID of a passthrough open from
	// fileNode.Open to bridge.Open, keyed by the OPEN request's cancel
	// channel (unique among the requests in flight).
	backingIDs sync.Map // <-chan struct{} → int32
}

// bridge is go-fuse's node bridge plus what its node API cannot say: the
// backing ID of a passthrough open, which fileNode.Open registers and
// counts itself (see fileNode.ioMu for why not go-fuse).
type bridge struct {
	fuse.RawFileSystem
	m *mount
}

func (b *bridge) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := b.RawFileSystem.Open(cancel, in, out)
	if id, ok := b.m.backingIDs.LoadAndDelete(cancel); ok && st.Ok() {
		out.BackingID = id.(int32)
		out.OpenFlags = out.OpenFlags&^fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_PASSTHROUGH
	}
	return st
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
	fuseLog := goFuseLogger(opts.Logger)
	gopts := &gofs.Options{
		MountOptions: fuse.MountOptions{
			FsName:       opts.FsName,
			Name:         "ossmount",
			Options:      mo,
			AllowOther:   opts.AllowOther,
			DirectMount:  true,
			MaxWrite:     1 << 20, // also max_read: 1 MiB FUSE reads
			MaxReadAhead: 1 << 20,
			Debug:        opts.Debug,
			// Reads are answered from memory (ReadResultData), which
			// splice cannot send: go-fuse would still take a pipe and
			// grow it for every read, and fail outright on a 1 MiB read
			// (payload and header do not fit the largest pipe), logging
			// each time. Without splice the reply is one writev.
			DisableSplice: true,
			Logger:        fuseLog,
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
		Logger:         fuseLog,
	}
	// What gofs.Mount does, with the node bridge wrapped (see bridge).
	server, err := fuse.NewServer(&bridge{RawFileSystem: gofs.NewNodeFS(root, gopts), m: m}, mountpoint, &gopts.MountOptions)
	if err != nil {
		return nil, err
	}
	m.server = server // before Serve: no request can come earlier
	go server.Serve()
	if err := server.WaitMount(); err != nil {
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

// goFuseLogger is the sink of go-fuse's own messages: l at debug level.
// They are diagnostics of the FUSE protocol, not events of the mount.
func goFuseLogger(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
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

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileReleasedirer = (*dirHandle)(nil)
)

var (
	_ gofs.NodeGetattrer   = (*fileNode)(nil)
	_ gofs.NodeSetattrer   = (*fileNode)(nil)
	_ gofs.NodeOpener      = (*fileNode)(nil)
	_ gofs.NodeGetxattrer  = (*fileNode)(nil)
	_ gofs.NodeListxattrer = (*fileNode)(nil)
)

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)
