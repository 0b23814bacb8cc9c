// Package upload turns a sequentially written file into an object, whole and
// checked, or into nothing.
//
// A Writer takes the file's bytes in order. They fill part buffers of
// PartSize; each full buffer is uploaded as a multipart part in the
// background while the writer fills the next one. Buffers come from one pool
// per Engine (Options.Buffers of them), so the parts in flight and the memory
// they hold are bounded across every file being written: a writer whose
// next buffer is not free waits for a part to finish (or its context), never
// allocates more. A file smaller than one part goes up in one Put.
//
// Every part's CRC64-ECMA is computed here and compared with the one the
// server answers (a mismatch sends the part again, then fails); the
// combined CRC64 of the whole object is compared with the committed
// object's. Nothing is visible under the key before Commit: the parts of an
// upload in progress are not an object. Commit returns only when the object
// is committed, or with the error that prevented it (the upload is then
// aborted). Create-only writers send forbid-overwrite on Put, Initiate and
// Complete: someone else's object under the key makes Commit fail with
// store.ErrExists and stays intact.
//
// An append (Mode.Append) builds the new version server-side: the existing
// object's bytes become the first parts by UploadPartCopy, conditional on
// the ETag the caller read (store.ErrSourceChanged otherwise), so the result never
// mixes two versions; an existing object smaller than a part is read into
// the first part instead (the Existing.ReadAt the caller gives reads that
// same version).
//
// Every multipart upload is recorded in the Journal from its initiation to
// its completion or abort; AbortOrphans aborts those a killed process left.
package upload

import (
	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/store"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/ossmount/ossmount/crc64ecma"
)

// Limits (the defaults and the part size's range are config's).
const (
	// MaxParts is OSS's limit on the parts of an upload.
	MaxParts = 10000
	// copyChunk bounds one UploadPartCopy (OSS allows up to 5 GiB).
	copyChunk = 1 << 30
	// partAttempts is how often a part whose CRC64 the server contradicts
	// is sent.
	partAttempts = 3
)

// Errors of the engine (besides the store.Writer's).
var (
	// ErrNotSequential: a write not at the current end of the file.
	ErrNotSequential = errors.New("write is not at the end of the file (only sequential writes can be uploaded)")
	// ErrChecksum: the server's CRC64 of a part or of the object is not the
	// CRC64 of the bytes written.
	ErrChecksum = errors.New("CRC64 of the uploaded bytes does not match the server's")
	// ErrTooLarge: the file needs more than MaxParts parts.
	ErrTooLarge = errors.New("file too large for the part size (10000 parts)")
	// ErrClosed: the writer was committed or aborted.
	ErrClosed = errors.New("upload already committed or aborted")
)

// Options configure an Engine.
type Options struct {
	PartSize int64 // bytes per part (default config.DefaultUploadPartSize)
	// Parallel is how many parts may be in flight across all writers
	// (default config.DefaultUploadParallel).
	Parallel int
	// Buffers is how many part buffers exist (default Parallel+2): the
	// memory bound is Buffers × PartSize.
	Buffers int
	Journal *Journal // nil: uploads are not journalled
	Logger  *slog.Logger
}

// Engine uploads files through a store.Writer.
type Engine struct {
	store store.Writer
	opts  Options
	log   *slog.Logger
	// bufs holds the free part buffers' tokens; a writer takes one to
	// fill and the part's upload gives it back.
	bufs chan struct{}
	// inflight bounds the parts being sent.
	inflight chan struct{}
	pool     sync.Pool
}

// New returns an Engine over store.
func New(st store.Writer, opts Options) *Engine {
	if opts.PartSize <= 0 {
		opts.PartSize = config.DefaultUploadPartSize
	}
	if opts.Parallel <= 0 {
		opts.Parallel = config.DefaultUploadParallel
	}
	if opts.Buffers <= 0 {
		opts.Buffers = opts.Parallel + 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{store: st, opts: opts, log: opts.Logger,
		bufs: make(chan struct{}, opts.Buffers), inflight: make(chan struct{}, opts.Parallel)}
	e.pool.New = func() any { b := make([]byte, 0, opts.PartSize); return &b }
	return e
}

func (e *Engine) getBuf(ctx context.Context) (*[]byte, error) {
	select {
	case e.bufs <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b := e.pool.Get().(*[]byte)
	*b = (*b)[:0]
	return b, nil
}

func (e *Engine) putBuf(b *[]byte) {
	e.pool.Put(b)
	<-e.bufs
}

// Existing is the object version an appending writer extends.
type Existing struct {
	Size     int64
	ETag     string
	CRC64    uint64
	HasCRC64 bool
	// ReadAt reads bytes of that version (used when it is smaller than a
	// part: its bytes go into the first part).
	ReadAt func(ctx context.Context, p []byte, off int64) (int, error)
}

// Mode says how a writer may treat an existing object under its key.
type Mode struct {
	Overwrite bool      // replace an existing object (else create-only)
	Append    *Existing // start from this version's bytes (implies Overwrite)
}

// Result is a committed object.
type Result struct {
	store.ObjectInfo  // as a HEAD after the commit found it (Size, ETag, CRC64 at least)
	LastModifiedKnown bool
}

// Writer is one file being uploaded. Its methods are not safe for
// concurrent use (the caller serializes the writes of a file).
type Writer struct {
	e    *Engine
	key  string
	mode Mode

	size   int64    // bytes of the file so far (existing ones included)
	buf    *[]byte  // the part being filled, nil when none is held
	next   int      // number of the next part
	crc    uint64   // CRC64 of the bytes in parts so far (see crcBase)
	base   Existing // copied prefix, Size 0 when none
	upload string   // multipart upload id, "" before the first part

	// ctx is the uploads' context: detached from any one write, cancelled
	// by Abort.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards parts and err, written by part uploads
	parts []store.CompletedPart
	err   error

	closed bool
}

// NewWriter starts the upload of a file to key. It sends nothing yet,
// except for an append, whose existing prefix may be read or copied on the
// first write.
func (e *Engine) NewWriter(key string, mode Mode) *Writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{e: e, key: key, mode: mode, next: 1, ctx: ctx, cancel: cancel}
	if mode.Append != nil {
		w.mode.Overwrite = true
	}
	return w
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// start takes in the existing prefix of an append, once.
func (w *Writer) start(ctx context.Context) error {
	ex := w.mode.Append
	if ex == nil || w.size > 0 || ex.Size == 0 || w.base.Size > 0 {
		return nil
	}
	if ex.Size >= w.e.opts.PartSize {
		// Copy it server-side, in chunks of at most copyChunk, none
		// smaller than a part (ex.Size is at least one).
		if err := w.initiate(ctx); err != nil {
			return err
		}
		n := (ex.Size + copyChunk - 1) / copyChunk
		chunk := (ex.Size + n - 1) / n
		for off := int64(0); off < ex.Size; off += chunk {
			num := w.next
			w.next++
			end := min(off+chunk, ex.Size) - 1
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				res, err := w.e.store.UploadPartCopy(w.ctx, store.CopyPartRequest{Key: w.key, UploadID: w.upload, Number: num,
					SourceKey: w.key, IfMatch: ex.ETag, Start: off, End: end})
				if err != nil {
					w.setErr(fmt.Errorf("copying bytes %d-%d of the existing object: %w", off, end, err))
					return
				}
				w.addPart(num, res.ETag)
			}()
		}
		w.base = *ex
		w.size = ex.Size
		return nil
	}
	// Smaller than a part: its bytes start the first part.
	b, err := w.e.getBuf(ctx)
	if err != nil {
		return err
	}
	w.buf = b
	*b = (*b)[:ex.Size]
	for off := int64(0); off < ex.Size; {
		n, err := ex.ReadAt(ctx, (*b)[off:], off)
		if n == 0 && err == nil {
			err = fmt.Errorf("short read of the existing object at %d", off)
		}
		if err != nil {
			// Give the buffer back: the next write starts over (a
			// signal may have ended ctx), and a lost token would leave
			// the mount one part buffer short for good.
			w.buf = nil
			w.e.putBuf(b)
			return fmt.Errorf("reading the existing object: %w", err)
		}
		off += int64(n)
	}
	w.size = ex.Size
	return nil
}

func (w *Writer) addPart(num int, etag string) {
	w.mu.Lock()
	w.parts = append(w.parts, store.CompletedPart{Number: num, ETag: etag})
	w.mu.Unlock()
}

// Write appends p, which must start at the end of what was written. A
// write elsewhere fails with ErrNotSequential and aborts the upload. It
// blocks while no part buffer is free; if ctx ends meanwhile it returns
// what it took so far and ctx's error, and the upload goes on.
func (w *Writer) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if err := w.failed(); err != nil {
		return 0, err
	}
	if err := w.start(ctx); err != nil {
		if ctx.Err() == nil {
			w.setErr(err)
		}
		return 0, err
	}
	if off != w.size {
		err := fmt.Errorf("%w: write at %d, file size %d", ErrNotSequential, off, w.size)
		w.setErr(err)
		w.Abort()
		return 0, err
	}
	done := 0
	for done < len(p) {
		if w.buf == nil {
			b, err := w.e.getBuf(ctx)
			if err != nil {
				return done, err
			}
			w.buf = b
		}
		room := int(w.e.opts.PartSize) - len(*w.buf)
		n := min(room, len(p)-done)
		*w.buf = append(*w.buf, p[done:done+n]...)
		done += n
		w.size += int64(n)
		if len(*w.buf) == int(w.e.opts.PartSize) {
			if err := w.sendPart(ctx); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

func (w *Writer) initiate(ctx context.Context) error {
	if w.upload != "" {
		return nil
	}
	id, err := w.e.store.InitiateMultipart(ctx, w.key, !w.mode.Overwrite)
	if err != nil {
		return fmt.Errorf("initiating the upload: %w", err)
	}
	w.upload = id
	if j := w.e.opts.Journal; j != nil {
		if err := j.Add(store.InProgress{Key: w.key, UploadID: id, Initiated: time.Now()}); err != nil {
			w.abortUpload()
			return err
		}
	}
	return nil
}

// sendPart hands the full buffer to a background upload. When ctx ends
// first (the writer was interrupted), the part stays in the buffer for the
// next call and the upload goes on.
func (w *Writer) sendPart(ctx context.Context) error {
	if err := w.initiate(ctx); err != nil {
		if ctx.Err() == nil {
			w.setErr(err)
		}
		return err
	}
	if w.next > MaxParts {
		w.setErr(ErrTooLarge)
		return ErrTooLarge
	}
	select {
	case w.e.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	b, num := w.buf, w.next
	w.buf = nil
	w.next++
	w.crc = crc64ecma.Update(w.crc, *b)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.e.inflight; w.e.putBuf(b) }()
		etag, err := w.uploadPart(num, *b)
		if err != nil {
			w.setErr(err)
			return
		}
		w.addPart(num, etag)
	}()
	return nil
}

func (w *Writer) uploadPart(num int, data []byte) (string, error) {
	want := crc64ecma.Checksum(data)
	for attempt := 1; ; attempt++ {
		res, err := w.e.store.UploadPart(w.ctx, store.PartRequest{Key: w.key, UploadID: w.upload, Number: num, Body: data})
		if err != nil {
			return "", fmt.Errorf("part %d: %w", num, err)
		}
		if !res.HasCRC64 || res.CRC64 == want {
			return res.ETag, nil
		}
		err = fmt.Errorf("%w: part %d: server %d, written %d", ErrChecksum, num, res.CRC64, want)
		if attempt >= partAttempts {
			return "", err
		}
		w.e.log.Warn("uploaded part damaged in transit, sending it again", "key", w.key, "part", num, "err", err)
	}
}

// Commit uploads what is left and commits the object. It returns only when
// the object is committed, or with the reason it is not (the upload is then
// aborted and nothing is left under the key but what was there).
func (w *Writer) Commit(ctx context.Context) (Result, error) {
	if w.closed {
		return Result{}, ErrClosed
	}
	res, err := w.commit(ctx)
	if err != nil {
		w.Abort()
		return Result{}, err
	}
	w.closed = true
	w.cancel()
	return res, nil
}

func (w *Writer) commit(ctx context.Context) (Result, error) {
	if err := w.failed(); err != nil {
		return Result{}, err
	}
	if err := w.start(ctx); err != nil {
		return Result{}, err
	}
	if w.upload == "" {
		return w.put(ctx)
	}
	if w.buf != nil && len(*w.buf) > 0 {
		if err := w.sendPart(ctx); err != nil {
			return Result{}, err
		}
	} else if w.buf != nil {
		w.e.putBuf(w.buf)
		w.buf = nil
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		return Result{}, err
	}
	w.mu.Lock()
	parts := append([]store.CompletedPart(nil), w.parts...)
	w.mu.Unlock()
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	want, known := w.wantCRC()
	c, err := w.e.store.Complete(ctx, store.CompleteRequest{Key: w.key, UploadID: w.upload, Parts: parts, ForbidOverwrite: !w.mode.Overwrite})
	if err != nil && (errors.Is(err, store.ErrNoSuchUpload) || errors.Is(err, store.ErrExists)) {
		// A Complete sent again after its first answer was lost finds
		// the upload gone: the object is ours if it has our bytes.
		if r, ok := w.ours(ctx, want, known); ok {
			w.forget()
			return r, nil
		}
	}
	if err != nil {
		return Result{}, fmt.Errorf("completing the upload: %w", err)
	}
	w.forget()
	return w.verify(ctx, c, want, known)
}

// wantCRC is the CRC64 the committed object must have, if known (an
// appended object whose CRC64 the server did not give is unknown).
func (w *Writer) wantCRC() (uint64, bool) {
	if w.base.Size == 0 {
		return w.crc, true
	}
	if !w.base.HasCRC64 {
		return 0, false
	}
	return oss.CRC64Combine(w.base.CRC64, w.crc, uint64(w.size-w.base.Size)), true
}

func (w *Writer) put(ctx context.Context) (Result, error) {
	var body []byte
	if w.buf != nil {
		body = *w.buf
	}
	w.crc = crc64ecma.Checksum(body)
	defer func() {
		if w.buf != nil {
			w.e.putBuf(w.buf)
			w.buf = nil
		}
	}()
	c, err := w.e.store.Put(ctx, store.PutRequest{Key: w.key, Body: body, ForbidOverwrite: !w.mode.Overwrite})
	if err != nil && errors.Is(err, store.ErrExists) {
		if r, ok := w.ours(ctx, w.crc, true); ok {
			return r, nil
		}
	}
	if err != nil {
		return Result{}, err
	}
	return w.verify(ctx, c, w.crc, true)
}

// ours checks whether the object under the key is the one this writer
// committed (a request sent again after a lost answer).
func (w *Writer) ours(ctx context.Context, want uint64, known bool) (Result, bool) {
	o, err := w.e.store.Stat(ctx, w.key)
	if err != nil || !known || !o.HasCRC64 || o.CRC64 != want || o.Size != w.size {
		return Result{}, false
	}
	return Result{ObjectInfo: o, LastModifiedKnown: true}, true
}

// verify compares the committed object's CRC64 with the bytes written and
// describes the object.
func (w *Writer) verify(ctx context.Context, c store.Committed, want uint64, known bool) (Result, error) {
	if known && c.HasCRC64 && c.CRC64 != want {
		return Result{}, w.damaged(ctx, c.CRC64, want)
	}
	r := Result{ObjectInfo: store.ObjectInfo{Key: w.key, Size: w.size, ETag: c.ETag, CRC64: want, HasCRC64: known}}
	if o, err := w.e.store.Stat(ctx, w.key); err == nil && store.SameETag(o.ETag, c.ETag) {
		if known && o.HasCRC64 && o.CRC64 != want {
			return Result{}, w.damaged(ctx, o.CRC64, want)
		}
		r.ObjectInfo, r.LastModifiedKnown = o, true
	}
	return r, nil
}

// damaged deletes a committed object whose CRC64 (got) is not the one of
// the bytes written (want): never keep an object with wrong bytes.
func (w *Writer) damaged(ctx context.Context, got, want uint64) error {
	w.e.log.Error("committed object does not have the bytes written: deleting it", "key", w.key, "server_crc64", got, "crc64", want)
	if err := w.e.store.Delete(context.WithoutCancel(ctx), w.key); err != nil {
		w.e.log.Error("cannot delete the damaged object", "key", w.key, "err", err)
	}
	return fmt.Errorf("%w: object %d, written %d", ErrChecksum, got, want)
}

func (w *Writer) forget() {
	if j := w.e.opts.Journal; j != nil && w.upload != "" {
		j.Remove(w.key, w.upload)
	}
}

// Abort stops the upload: parts in flight are cancelled, the multipart
// upload is aborted, nothing is committed. It is safe to call more than
// once and after Commit (then it does nothing).
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.cancel()
	w.wg.Wait()
	if w.buf != nil {
		w.e.putBuf(w.buf)
		w.buf = nil
	}
	w.abortUpload()
}

func (w *Writer) abortUpload() {
	if w.upload == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.e.store.Abort(ctx, w.key, w.upload); err != nil && !errors.Is(err, store.ErrNoSuchUpload) {
		w.e.log.Warn("cannot abort the upload; the next mount tries again", "key", w.key, "err", err)
		return
	}
	w.forget()
	w.upload = ""
}

// AbortOrphans aborts the uploads the journal still records (a process
// that died mid-upload left them) and returns how many it aborted. It also
// counts the other uploads in progress under prefix (others' writers, or a
// process whose journal is gone): those are left alone.
func (e *Engine) AbortOrphans(ctx context.Context, prefix string) (aborted, others int, err error) {
	j := e.opts.Journal
	if j == nil {
		return 0, 0, nil
	}
	pending, err := j.Pending()
	if err != nil {
		return 0, 0, err
	}
	mine := map[string]bool{}
	n := 0
	for _, u := range pending {
		mine[u.UploadID] = true
		err := e.store.Abort(ctx, u.Key, u.UploadID)
		switch {
		case err == nil:
			n++
			e.log.Info("aborted an upload a previous mount left unfinished", "key", u.Key, "initiated", u.Initiated)
		case errors.Is(err, store.ErrNoSuchUpload):
		default:
			e.log.Warn("cannot abort an unfinished upload; the next mount tries again", "key", u.Key, "err", err)
			continue
		}
		j.Remove(u.Key, u.UploadID)
	}
	inProgress, err := e.store.ListMultipartUploads(ctx, prefix)
	if err != nil {
		e.log.Debug("cannot list the uploads in progress", "err", err)
		return n, 0, nil
	}
	for _, u := range inProgress {
		if !mine[u.UploadID] {
			others++
		}
	}
	return n, others, nil
}
