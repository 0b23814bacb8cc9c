package vfs

// Writes (with -o rw). A file written through the mount becomes an object
// whole and checked, or not at all; the upload itself is package upload's.
// This file keeps the namespace right around it:
//
//   - A file being written exists in this mount from its create on (Lookup
//     answers for it with the size written so far) but not in the bucket
//     until it is committed, at its first flush (close) or fsync. A later
//     write at the end of the committed file starts a new version built
//     from it (append), as for O_APPEND.
//   - The committed version's bytes are seeded into the block cache under
//     that version (its ETag, size, Last-Modified and block CRC64s), from
//     a spool file kept while writing, so reading the file back sends only
//     the open's conditional GET (304, no body), and this mount's lookups
//     and listings show the new object at once.
//   - Namespace calls are single requests: unlink deletes the object,
//     mkdir puts a "dir/" marker, rmdir deletes the marker of an empty
//     directory, rename of a file is a server-side copy then a delete (not
//     atomic), rename of a directory is done only for an empty one (EXDEV
//     otherwise, so mv copies); symlink puts a link object, create-only
//     (symlink.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/store"
	"github.com/ossmount/ossmount/upload"
	"github.com/ossmount/ossmount/version"
)

// Errors of the write path.
var (
	ErrReadOnly    = errors.New("mounted read-only (mount with -o rw to write)")
	ErrExists      = errors.New("file exists")
	ErrNotEmpty    = errors.New("directory not empty")
	ErrCrossDevice = errors.New("cannot rename a non-empty directory (object stores have no directories to move)")
	ErrNotAllowed  = errors.New("not allowed by the mount options")
	ErrIsDir       = errors.New("is a directory")
	ErrBusy        = errors.New("file is being written")
)

// The upload engine's sentinels, named here so that the FUSE adapter maps
// every error of the core without importing the engine.
var (
	ErrNotSequential = upload.ErrNotSequential // a write not at the end of the file
	ErrTooLarge      = upload.ErrTooLarge      // more parts than a multipart upload allows
)

// WriteConfig turns writes on (FS.EnableWrites).
type WriteConfig struct {
	Store          store.Writer
	Engine         *upload.Engine
	AllowOverwrite bool // replace existing objects (O_TRUNC, append)
	AllowDelete    bool // unlink
	// SpoolDir holds the spool files of files being written (their bytes,
	// for the cache once committed); SeedLimit is the largest file seeded
	// (0: none).
	SpoolDir  string
	SeedLimit int64
}

// writes is the write state of an FS; nil while read-only.
//
// Lock order: WriteHandle.mu, then FS.mu (a commit updates the namespace);
// writes.mu is taken alone.
type writes struct {
	cfg  WriteConfig
	mu   sync.Mutex              // guards open; never held across a request
	open map[string]*WriteHandle // path -> the handle writing it
}

// EnableWrites makes the FS writable. Call before serving.
func (v *FS) EnableWrites(cfg WriteConfig) {
	v.wr = &writes{cfg: cfg, open: map[string]*WriteHandle{}}
}

// Writable reports whether writes are enabled.
func (v *FS) Writable() bool { return v.wr != nil }

// pendingEntry answers Lookup for a file being written and not committed.
func (v *FS) pendingEntry(p string) (Entry, bool) {
	if v.wr == nil {
		return Entry{}, false
	}
	v.wr.mu.Lock()
	h := v.wr.open[p]
	v.wr.mu.Unlock()
	if h == nil {
		return Entry{}, false
	}
	return h.Entry(), true
}

// WriteHandle is a file open for writing. Its calls are serialized by mu,
// which a write holds while it waits for a part buffer and a commit holds
// across its requests; lookups and stats read the published entry instead.
type WriteHandle struct {
	v    *FS
	path string
	key  string
	mode upload.Mode

	// entry is the file as Entry describes it, published (under mu) after
	// every change.
	entry atomic.Pointer[Entry]

	mu        sync.Mutex
	cond      *sync.Cond // signalled when size grows
	w         *upload.Writer
	size      int64
	dirty     bool  // written since the last commit
	committed Entry // the last committed version (ETag "" before)
	spool     *os.File
	seedOK    bool // spool holds every byte of the file
	err       error
	released  bool
}

// Create creates file name in dir for writing. The object appears in the
// bucket at the first flush or fsync.
func (v *FS) Create(ctx context.Context, dir, name string) (*WriteHandle, Entry, error) {
	if v.wr == nil {
		return nil, Entry{}, ErrReadOnly
	}
	if !validName(name) {
		return nil, Entry{}, fmt.Errorf("%w: invalid name %q", ErrNotAllowed, name)
	}
	p := path.Join(dir, name)
	h, err := v.newWriteHandle(p, upload.Mode{Overwrite: v.wr.cfg.AllowOverwrite}, Entry{Name: name})
	if err != nil {
		return nil, Entry{}, err
	}
	return h, h.Entry(), nil
}

// OpenWrite opens existing file p for writing: with trunc its content is
// replaced, else writes must start at its end (append). Both need
// allow_overwrite.
func (v *FS) OpenWrite(ctx context.Context, p string, trunc bool) (*WriteHandle, error) {
	if v.wr == nil {
		return nil, ErrReadOnly
	}
	if !v.wr.cfg.AllowOverwrite {
		return nil, fmt.Errorf("%w: %s exists and allow_overwrite is off", ErrExists, p)
	}
	e, err := v.lookupEntry(ctx, DirOf(p), path.Base(p))
	if err != nil {
		return nil, err
	}
	if e.IsDir {
		return nil, ErrIsDir
	}
	if trunc {
		return v.newWriteHandle(p, upload.Mode{Overwrite: true}, Entry{Name: path.Base(p)})
	}
	return v.newWriteHandle(p, upload.Mode{Overwrite: true}, e)
}

// newWriteHandle registers a handle writing p, from nothing or (committed
// has an ETag) after that version's bytes, which a commit's spool does not
// hold, so such a file is not seeded into the cache.
func (v *FS) newWriteHandle(p string, mode upload.Mode, committed Entry) (*WriteHandle, error) {
	h := &WriteHandle{v: v, path: p, key: v.key(p), mode: mode, seedOK: true}
	h.cond = sync.NewCond(&h.mu)
	if committed.ETag != "" {
		h.committed, h.size, h.seedOK = committed, committed.Size, false
	}
	h.publish()
	v.wr.mu.Lock()
	defer v.wr.mu.Unlock()
	if v.wr.open[p] != nil {
		return nil, fmt.Errorf("%w: %s", ErrBusy, p)
	}
	v.wr.open[p] = h
	return h, nil
}

// Entry describes the file as this handle has it.
func (h *WriteHandle) Entry() Entry {
	if e := h.entry.Load(); e != nil {
		return *e
	}
	return Entry{Name: path.Base(h.path)}
}

// publish makes the handle's state what Entry answers. Caller holds mu.
func (h *WriteHandle) publish() {
	e := h.committed
	e.Name = path.Base(h.path)
	e.Size = h.size
	if e.LastModified.IsZero() || h.dirty {
		e.LastModified = time.Now()
	}
	h.entry.Store(&e)
}

// reorderWait is how long a write beyond the end waits for the writes
// before it, which the kernel may have sent at the same time.
const reorderWait = 2 * time.Second

// Write writes p at off, which must be the end of the file.
func (h *WriteHandle) Write(ctx context.Context, p []byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return 0, h.err
	}
	if off > h.size {
		deadline := time.AfterFunc(reorderWait, func() { h.mu.Lock(); h.cond.Broadcast(); h.mu.Unlock() })
		t0 := time.Now()
		for off > h.size && time.Since(t0) < reorderWait && ctx.Err() == nil && h.err == nil {
			h.cond.Wait()
		}
		deadline.Stop()
	}
	if off != h.size {
		err := fmt.Errorf("%w: write at offset %d of %s, whose end is at %d", upload.ErrNotSequential, off, h.path, h.size)
		h.v.log.Warn("write refused: only sequential writes (at the end of the file) can be uploaded; the upload is aborted", "path", h.path, "offset", off, "size", h.size)
		h.fail(err)
		return 0, err
	}
	if h.w == nil {
		if err := h.begin(ctx); err != nil {
			if ctx.Err() == nil {
				h.fail(err)
			}
			return 0, err
		}
	}
	n, err := h.w.Write(ctx, p, off)
	if n > 0 {
		h.spoolWrite(p[:n], off)
		h.size += int64(n)
		h.dirty = true
		h.publish()
		h.cond.Broadcast()
	}
	if err != nil && ctx.Err() == nil {
		h.fail(err)
	}
	return n, err
}

// begin starts an upload: a new object, or a new version built from the
// committed one (the one this handle committed, or the one it opened).
func (h *WriteHandle) begin(ctx context.Context) error {
	eng := h.v.wr.cfg.Engine
	if h.committed.ETag == "" {
		h.w = eng.NewWriter(h.key, h.mode)
		return nil
	}
	// Build on the committed version, if it is still the current one.
	info, err := h.v.lister.Head(ctx, h.key)
	if err != nil {
		return err
	}
	if info.Size != h.size || !store.SameETag(info.ETag, h.committed.ETag) {
		return fmt.Errorf("%w: %s changed in the bucket", ErrStale, h.path)
	}
	if info.Size == 0 {
		h.w = eng.NewWriter(h.key, upload.Mode{Overwrite: true})
		return nil
	}
	ex := &upload.Existing{Size: info.Size, ETag: info.ETag, CRC64: info.CRC64, HasCRC64: info.HasCRC64,
		ReadAt: func(ctx context.Context, p []byte, off int64) (int, error) {
			return h.v.readVersion(ctx, h.path, Entry{Name: path.Base(h.path), Size: info.Size, ETag: info.ETag,
				LastModified: info.LastModified, StorageClass: info.StorageClass}, p, off)
		}}
	h.w = eng.NewWriter(h.key, upload.Mode{Overwrite: true, Append: ex})
	return nil
}

// readVersion reads file p at version seen (through the cache).
func (v *FS) readVersion(ctx context.Context, p string, seen Entry, buf []byte, off int64) (int, error) {
	rh, _, err := v.OpenVersion(ctx, p, seen)
	if err != nil {
		return 0, err
	}
	defer rh.Release()
	n := 0
	for n < len(buf) {
		m, err := rh.Read(ctx, buf[n:], off+int64(n))
		n += m
		if err != nil || m == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				break
			}
			return n, err
		}
	}
	return n, nil
}

// fail aborts the upload; the handle's later calls return err.
func (h *WriteHandle) fail(err error) {
	if h.err == nil {
		h.err = err
	}
	if h.w != nil {
		h.w.Abort()
		h.w = nil
	}
	h.dropSpool()
	h.cond.Broadcast()
}

func (h *WriteHandle) spoolWrite(p []byte, off int64) {
	if !h.seedOK || h.v.wr.cfg.SeedLimit <= 0 {
		return
	}
	if off+int64(len(p)) > h.v.wr.cfg.SeedLimit {
		h.dropSpool()
		return
	}
	if h.spool == nil {
		if err := os.MkdirAll(h.v.wr.cfg.SpoolDir, 0o700); err != nil {
			h.dropSpool()
			return
		}
		f, err := os.CreateTemp(h.v.wr.cfg.SpoolDir, "spool-*")
		if err != nil {
			h.dropSpool()
			return
		}
		os.Remove(f.Name()) // anonymous: gone with the handle, or a crash
		h.spool = f
	}
	if _, err := h.spool.WriteAt(p, off); err != nil {
		h.v.log.Debug("spool write failed: the file will not be seeded into the cache", "path", h.path, "err", err)
		h.dropSpool()
	}
}

func (h *WriteHandle) dropSpool() {
	h.seedOK = false
	if h.spool != nil {
		h.spool.Close()
		h.spool = nil
	}
}

// Flush commits what was written since the last commit (close and fsync),
// and a created file that was never committed (an empty one: touch). It
// returns only when the object is committed, or with the reason it is not.
func (h *WriteHandle) Flush(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.commitLocked(ctx)
}

func (h *WriteHandle) commitLocked(ctx context.Context) error {
	if h.err != nil {
		return h.err
	}
	if !h.dirty && h.committed.ETag != "" {
		return nil
	}
	if h.w == nil {
		if err := h.begin(ctx); err != nil { // an empty file
			h.fail(err)
			return err
		}
	}
	res, err := h.w.Commit(ctx)
	h.w = nil
	if err != nil {
		h.v.log.Warn("commit failed: the file was not stored", "path", h.path, "err", err)
		h.fail(err)
		return err
	}
	h.dirty = false
	lm := res.LastModified
	if !res.LastModifiedKnown {
		lm = time.Now()
	}
	h.committed = Entry{Name: path.Base(h.path), Size: res.Size, ETag: res.ETag, LastModified: lm}
	h.publish()
	h.v.committed(h.path, h.committed, h.seedSource(), res)
	h.dropSpool() // a later append is not seeded (its prefix is not in the spool)
	return nil
}

func (h *WriteHandle) seedSource() io.ReaderAt {
	if !h.seedOK || h.spool == nil {
		return nil
	}
	return h.spool
}

// Release closes the handle. The kernel flushes a file before it releases
// it, so there is normally nothing left to commit; whatever is (a failed
// flush's caller gone) is tried once more, and an error can only be logged.
func (h *WriteHandle) Release() {
	h.mu.Lock()
	if !h.released {
		h.released = true
		if h.err == nil && (h.dirty || h.committed.ETag == "") {
			if err := h.commitLocked(context.Background()); err != nil {
				h.v.log.Error("file not stored at close", "path", h.path, "err", err)
			}
		}
		if h.w != nil {
			h.w.Abort()
			h.w = nil
		}
		h.dropSpool()
	}
	h.mu.Unlock()
	h.v.wr.mu.Lock()
	if h.v.wr.open[h.path] == h {
		delete(h.v.wr.open, h.path)
	}
	h.v.wr.mu.Unlock()
}

// Truncate handles a size change of the file being written: to its
// current size (nothing to do), or to 0 before this handle wrote anything
// (open with O_TRUNC: the kernel may send it as a truncate after the open),
// which makes the handle replace the object, with an empty one if nothing
// is written.
func (h *WriteHandle) Truncate(size int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size == h.size {
		return nil
	}
	if size == 0 && h.w == nil && h.err == nil {
		h.dropSpool()
		h.size, h.committed, h.dirty, h.seedOK = 0, Entry{}, true, true
		h.publish()
		return nil
	}
	return fmt.Errorf("%w: truncate %s to %d (size %d)", upload.ErrNotSequential, h.path, size, h.size)
}

// TruncateWriting applies a truncate of file p to its handle being written,
// if there is one (the kernel sends the truncate of open(O_TRUNC) without
// the handle).
func (v *FS) TruncateWriting(p string, size int64) (handled bool, err error) {
	if v.wr == nil {
		return false, nil
	}
	v.wr.mu.Lock()
	h := v.wr.open[p]
	v.wr.mu.Unlock()
	if h == nil {
		return false, nil
	}
	return true, h.Truncate(size)
}

// committed makes a committed file visible in this mount and seeds its
// bytes (src, nil for none) into the cache under its version.
func (v *FS) committed(p string, e Entry, src io.ReaderAt, res upload.Result) {
	v.forget(p)
	v.Gen(p, e.ETag)
	v.remember(p, e)
	if src == nil || !res.LastModifiedKnown {
		v.cache.DropKey(v.opts.Bucket, v.key(p))
		return
	}
	ver := version.Version{Bucket: v.opts.Bucket, Key: v.key(p), ETag: e.ETag, Size: e.Size,
		LastModified: e.LastModified.Truncate(time.Second), BlockSize: v.opts.BlockSize}
	blocks, err := v.cache.Object(ver)
	if err != nil {
		v.log.Debug("cache: cannot seed the written file", "path", p, "err", err)
		return
	}
	v.cache.DropOthers(ver)
	obj := &fetcher.Object{ID: ver.ID(), Key: ver.Key, ETag: ver.ETag, Size: ver.Size, BlockSize: ver.BlockSize, Blocks: blocks}
	if err := v.fetch.SeedWritten(obj, src); err != nil {
		v.log.Debug("cache: cannot seed the written file", "path", p, "err", err)
	}
}

// Unlink deletes file name of dir (allow_delete).
func (v *FS) Unlink(ctx context.Context, dir, name string) error {
	if v.wr == nil {
		return ErrReadOnly
	}
	if !v.wr.cfg.AllowDelete {
		return fmt.Errorf("%w: unlink needs allow_delete", ErrNotAllowed)
	}
	p := path.Join(dir, name)
	if _, ok := v.pendingEntry(p); ok {
		return fmt.Errorf("%w: %s", ErrBusy, p)
	}
	if _, err := v.lookupEntry(ctx, dir, name); err != nil {
		return err
	}
	if err := v.wr.cfg.Store.Delete(ctx, v.key(p)); err != nil {
		return err
	}
	v.gone(p)
	return nil
}

// gone forgets file p after it was deleted.
func (v *FS) gone(p string) {
	v.forget(p)
	v.mu.Lock()
	v.lookups[p] = lookupHit{at: time.Now()}
	v.mu.Unlock()
	v.cache.DropKey(v.opts.Bucket, v.key(p))
}

// Mkdir creates directory name in dir: a "name/" marker object.
func (v *FS) Mkdir(ctx context.Context, dir, name string) (Entry, error) {
	if v.wr == nil {
		return Entry{}, ErrReadOnly
	}
	if !validName(name) {
		return Entry{}, fmt.Errorf("%w: invalid name %q", ErrNotAllowed, name)
	}
	p := path.Join(dir, name)
	if _, err := v.lookupEntry(ctx, dir, name); err == nil {
		return Entry{}, ErrExists
	}
	_, err := v.wr.cfg.Store.Put(ctx, store.PutRequest{Key: v.key(p) + "/", ForbidOverwrite: true})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return Entry{}, err
	}
	v.forget(p)
	e := Entry{Name: name, IsDir: true}
	v.mu.Lock()
	v.lookups[p] = lookupHit{at: time.Now(), entry: e, found: true}
	v.mu.Unlock()
	return e, nil
}

// dirContents reports whether directory p holds anything but its marker.
func (v *FS) dirContents(ctx context.Context, p string) (nonEmpty, marker bool, err error) {
	prefix := v.key(p) + "/"
	page, err := v.lister.List(ctx, prefix, "", 2)
	if err != nil {
		return false, false, err
	}
	for _, o := range page.Objects {
		if o.Key == prefix {
			marker = true
		} else {
			nonEmpty = true
		}
	}
	return nonEmpty || len(page.Prefixes) > 0, marker, nil
}

// Rmdir removes empty directory name of dir (its marker).
func (v *FS) Rmdir(ctx context.Context, dir, name string) error {
	if v.wr == nil {
		return ErrReadOnly
	}
	p := path.Join(dir, name)
	nonEmpty, marker, err := v.dirContents(ctx, p)
	if err != nil {
		return err
	}
	if nonEmpty {
		return ErrNotEmpty
	}
	if !marker {
		return store.ErrNotFound
	}
	if err := v.wr.cfg.Store.Delete(ctx, v.key(p)+"/"); err != nil {
		return err
	}
	v.dirGone(p)
	return nil
}

// dirGone forgets directory p after its marker was deleted.
func (v *FS) dirGone(p string) {
	v.forget(p)
	v.mu.Lock()
	delete(v.dirs, p)
	v.lookups[p] = lookupHit{at: time.Now()}
	v.mu.Unlock()
}

// Rename renames dir/name to newDir/newName: a file by a server-side copy
// then a delete of the source (not atomic: a crash between them leaves
// both); a directory only when empty (its marker), else ErrCrossDevice.
func (v *FS) Rename(ctx context.Context, dir, name, newDir, newName string) error {
	if v.wr == nil {
		return ErrReadOnly
	}
	if !validName(newName) {
		return fmt.Errorf("%w: invalid name %q", ErrNotAllowed, newName)
	}
	src, dst := path.Join(dir, name), path.Join(newDir, newName)
	if _, ok := v.pendingEntry(src); ok {
		return fmt.Errorf("%w: %s", ErrBusy, src)
	}
	e, err := v.lookupEntry(ctx, dir, name)
	if err != nil {
		return err
	}
	if e.IsDir {
		nonEmpty, marker, err := v.dirContents(ctx, src)
		if err != nil {
			return err
		}
		if nonEmpty || !marker {
			return ErrCrossDevice
		}
		if _, err := v.wr.cfg.Store.Put(ctx, store.PutRequest{Key: v.key(dst) + "/", ForbidOverwrite: true}); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
		if err := v.wr.cfg.Store.Delete(ctx, v.key(src)+"/"); err != nil {
			return err
		}
		v.dirGone(src)
		v.forget(dst)
		return nil
	}
	c, err := v.wr.cfg.Store.Copy(ctx, store.CopyRequest{Key: v.key(dst), SourceKey: v.key(src), IfMatch: e.ETag,
		ForbidOverwrite: !v.wr.cfg.AllowOverwrite})
	if err != nil {
		return err
	}
	if err := v.wr.cfg.Store.Delete(ctx, v.key(src)); err != nil {
		return err
	}
	// The target's blocks are fetched at its first read: the cache keys
	// blocks by key and version.
	v.gone(src)
	v.forget(dst)
	v.Gen(dst, c.ETag)
	return nil
}

// SpoolDir is where a cache dir keeps spool files.
func SpoolDir(cacheDir string) string { return filepath.Join(cacheDir, "spool") }

// JournalDir is where a cache dir keeps the upload journal.
func JournalDir(cacheDir string) string { return filepath.Join(cacheDir, "uploads") }
