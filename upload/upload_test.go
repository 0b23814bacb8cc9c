package upload

import (
	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/store"

	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossmount/ossmount/crc64ecma"
)

// fakeStore is an in-memory store.Writer with hooks for failures.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	etags   map[string]string
	uploads map[string]map[int][]byte // id -> parts
	seq     int
	calls   []string

	inflight, maxInflight atomic.Int32
	partGate              chan struct{} // if set, each UploadPart waits for a token
	badPartCRC            int           // answers with a wrong CRC64 this many times
	badCompleteCRC        bool
	loseCompleteAnswer    bool
	aborted, deleted      []string
}

func newFake() *fakeStore {
	return &fakeStore{objects: map[string][]byte{}, etags: map[string]string{}, uploads: map[string]map[int][]byte{}}
}

func (f *fakeStore) call(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *fakeStore) store(key string, data []byte) store.Committed {
	f.seq++
	f.objects[key] = data
	f.etags[key] = fmt.Sprintf(`"E%d"`, f.seq)
	return store.Committed{ETag: f.etags[key], CRC64: crc64ecma.Checksum(data), HasCRC64: true}
}

func (f *fakeStore) Put(ctx context.Context, r store.PutRequest) (store.Committed, error) {
	f.call("put")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objects[r.Key]; ok && r.ForbidOverwrite {
		return store.Committed{}, store.ErrExists
	}
	return f.store(r.Key, bytes.Clone(r.Body)), nil
}

func (f *fakeStore) InitiateMultipart(ctx context.Context, key string, forbid bool) (string, error) {
	f.call("initiate")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objects[key]; ok && forbid {
		return "", store.ErrExists
	}
	f.seq++
	id := fmt.Sprintf("U%d", f.seq)
	f.uploads[id] = map[int][]byte{}
	return id, nil
}

func (f *fakeStore) UploadPart(ctx context.Context, r store.PartRequest) (store.PartResult, error) {
	f.call("part")
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInflight.Load()
		if n <= m || f.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	if f.partGate != nil {
		select {
		case <-f.partGate:
		case <-ctx.Done():
			return store.PartResult{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := f.uploads[r.UploadID]
	if parts == nil {
		return store.PartResult{}, store.ErrNoSuchUpload
	}
	parts[r.Number] = bytes.Clone(r.Body)
	crc := crc64ecma.Checksum(r.Body)
	if f.badPartCRC > 0 {
		f.badPartCRC--
		crc++
	}
	return store.PartResult{ETag: fmt.Sprintf(`"P%d"`, r.Number), CRC64: crc, HasCRC64: true}, nil
}

func (f *fakeStore) UploadPartCopy(ctx context.Context, r store.CopyPartRequest) (store.PartResult, error) {
	f.call("copy-part")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.etags[r.SourceKey] != r.IfMatch {
		return store.PartResult{}, store.ErrSourceChanged
	}
	f.uploads[r.UploadID][r.Number] = bytes.Clone(f.objects[r.SourceKey][r.Start : r.End+1])
	return store.PartResult{ETag: fmt.Sprintf(`"P%d"`, r.Number)}, nil
}

func (f *fakeStore) Complete(ctx context.Context, r store.CompleteRequest) (store.Committed, error) {
	f.call("complete")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objects[r.Key]; ok && r.ForbidOverwrite {
		return store.Committed{}, store.ErrExists
	}
	parts := f.uploads[r.UploadID]
	if parts == nil {
		return store.Committed{}, store.ErrNoSuchUpload
	}
	var data []byte
	for _, p := range r.Parts {
		data = append(data, parts[p.Number]...)
	}
	delete(f.uploads, r.UploadID)
	c := f.store(r.Key, data)
	if f.badCompleteCRC {
		c.CRC64++
	}
	if f.loseCompleteAnswer {
		return store.Committed{}, store.ErrNoSuchUpload // as when the retried Complete finds it done
	}
	return c, nil
}

func (f *fakeStore) Abort(ctx context.Context, key, id string) error {
	f.call("abort")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uploads[id] == nil {
		return store.ErrNoSuchUpload
	}
	delete(f.uploads, id)
	f.aborted = append(f.aborted, id)
	return nil
}

func (f *fakeStore) ListMultipartUploads(ctx context.Context, prefix string) ([]store.InProgress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.InProgress
	for id := range f.uploads {
		out = append(out, store.InProgress{UploadID: id})
	}
	return out, nil
}

func (f *fakeStore) Copy(ctx context.Context, r store.CopyRequest) (store.Committed, error) {
	return store.Committed{}, errors.New("unused")
}

func (f *fakeStore) PutSymlink(ctx context.Context, key, target string, forbidOverwrite bool) (store.Committed, error) {
	return store.Committed{}, errors.New("unused")
}

func (f *fakeStore) Delete(ctx context.Context, key string) error {
	f.call("delete")
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, key)
	f.deleted = append(f.deleted, key)
	return nil
}

func (f *fakeStore) Stat(ctx context.Context, key string) (store.ObjectInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.objects[key]
	if !ok {
		return store.ObjectInfo{}, store.ErrNotFound
	}
	return store.ObjectInfo{Key: key, Size: int64(len(d)), ETag: f.etags[key], LastModified: time.Now(), CRC64: crc64ecma.Checksum(d), HasCRC64: true}, nil
}

func (f *fakeStore) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// part is the smallest part OSS takes (config.MinUploadPartSize), untyped
// for the tests' arithmetic.
const part = 100 << 10

var _ = [1]int{}[part-config.MinUploadPartSize] // part must be config's

func writeAll(t *testing.T, w *Writer, b []byte, chunk int) {
	t.Helper()
	for off := 0; off < len(b); off += chunk {
		end := min(off+chunk, len(b))
		if _, err := w.Write(context.Background(), b[off:end], int64(off)); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
}

func TestSmallFileIsOnePut(t *testing.T) {
	f := newFake()
	e := New(f, Options{PartSize: part})
	w := e.NewWriter("k", Mode{})
	b := data(part - 1)
	writeAll(t, w, b, 4096)
	r, err := w.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.objects["k"], b) || f.count("put") != 1 || f.count("initiate") != 0 {
		t.Fatalf("calls %v", f.calls)
	}
	if r.Size != int64(len(b)) || r.CRC64 != crc64ecma.Checksum(b) || !r.LastModifiedKnown {
		t.Fatalf("result %+v", r)
	}
}

func TestMultipartBoundsBuffersAndParts(t *testing.T) {
	for _, c := range []struct{ parallel, buffers int }{
		{2, 8}, // parts in flight bind: 2 sent, a third waiting to be sent
		{4, 3}, // buffers bind: 3 sent, no fourth to fill
	} {
		t.Run(fmt.Sprintf("parallel%d-buffers%d", c.parallel, c.buffers), func(t *testing.T) {
			f := newFake()
			f.partGate = make(chan struct{})
			e := New(f, Options{PartSize: part, Parallel: c.parallel, Buffers: c.buffers})
			w := e.NewWriter("k", Mode{})
			b := data(10*part + 17)
			done := make(chan error, 1)
			var written atomic.Int64
			go func() {
				for off := 0; off < len(b); off += 8192 {
					end := min(off+8192, len(b))
					if _, err := w.Write(context.Background(), b[off:end], int64(off)); err != nil {
						done <- err
						return
					}
					written.Store(int64(end))
				}
				done <- nil
			}()
			// With no part finishing, the writer fills 3 buffers and
			// then waits.
			deadline := time.Now().Add(5 * time.Second)
			for written.Load() < 3*part-8192 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
			if n := written.Load(); n > 3*part {
				t.Fatalf("writer went on to %d bytes (parts of %d) with no part done", n, part)
			}
			close(f.partGate)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.objects["k"], b) {
				t.Fatal("wrong bytes")
			}
			if m := f.maxInflight.Load(); m > int32(c.parallel) {
				t.Fatalf("%d parts in flight, want at most %d", m, c.parallel)
			}
			if len(e.bufs) != 0 || len(e.inflight) != 0 {
				t.Fatalf("tokens not returned: %d buffers, %d in flight", len(e.bufs), len(e.inflight))
			}
		})
	}
}

func TestPartCRCMismatchIsResentThenFails(t *testing.T) {
	f := newFake()
	f.badPartCRC = 1
	e := New(f, Options{PartSize: part})
	w := e.NewWriter("k", Mode{})
	b := data(3 * part)
	writeAll(t, w, b, part)
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.objects["k"], b) || f.count("part") != 4 {
		t.Fatalf("parts sent %d, want 4 (one again)", f.count("part"))
	}

	f = newFake()
	f.badPartCRC = 1000
	e = New(f, Options{PartSize: part})
	w = e.NewWriter("k", Mode{})
	writeAll(t, w, b[:2*part], part)
	if _, err := w.Commit(context.Background()); !errors.Is(err, ErrChecksum) {
		t.Fatalf("commit: %v, want ErrChecksum", err)
	}
	if _, ok := f.objects["k"]; ok || len(f.aborted) != 1 {
		t.Fatalf("object %v, aborted %v", ok, f.aborted)
	}
}

func TestCommittedCRCMismatchDeletes(t *testing.T) {
	f := newFake()
	f.badCompleteCRC = true
	e := New(f, Options{PartSize: part})
	w := e.NewWriter("k", Mode{})
	writeAll(t, w, data(2*part+1), 1000)
	if _, err := w.Commit(context.Background()); !errors.Is(err, ErrChecksum) {
		t.Fatalf("commit: %v, want ErrChecksum", err)
	}
	if _, ok := f.objects["k"]; ok {
		t.Fatal("damaged object left")
	}
}

func TestLostCompleteAnswerIsRecognised(t *testing.T) {
	f := newFake()
	f.loseCompleteAnswer = true
	e := New(f, Options{PartSize: part})
	w := e.NewWriter("k", Mode{})
	b := data(2*part + 5)
	writeAll(t, w, b, part)
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if !bytes.Equal(f.objects["k"], b) {
		t.Fatal("wrong bytes")
	}
}

func TestNotSequentialAborts(t *testing.T) {
	f := newFake()
	e := New(f, Options{PartSize: part})
	w := e.NewWriter("k", Mode{})
	writeAll(t, w, data(2*part), 1000)
	if _, err := w.Write(context.Background(), []byte("x"), 5); !errors.Is(err, ErrNotSequential) {
		t.Fatalf("write: %v", err)
	}
	if len(f.aborted) != 1 {
		t.Fatal("upload not aborted at the refused write")
	}
	if _, err := w.Commit(context.Background()); err == nil {
		t.Fatal("commit after a refused write")
	}
	if len(f.aborted) != 1 || len(f.objects) != 0 {
		t.Fatalf("aborted %v objects %v", f.aborted, len(f.objects))
	}
}

func TestCreateOnlyFailsWithErrExists(t *testing.T) {
	for _, size := range []int{10, 2*part + 1} {
		f := newFake()
		e := New(f, Options{PartSize: part})
		w := e.NewWriter("k", Mode{})
		writeAll(t, w, data(size), 1000)
		f.mu.Lock()
		f.store("k", []byte("other"))
		f.mu.Unlock()
		if _, err := w.Commit(context.Background()); !errors.Is(err, store.ErrExists) {
			t.Fatalf("size %d: commit: %v, want store.ErrExists", size, err)
		}
		if string(f.objects["k"]) != "other" {
			t.Fatal("other object replaced")
		}
		if size > part && len(f.aborted) != 1 {
			t.Fatalf("upload not aborted: %v", f.aborted)
		}
	}
}

func TestAppendCopiesTheVersionRead(t *testing.T) {
	f := newFake()
	old := data(3*part + 3)
	f.store("k", old)
	etag := f.etags["k"]
	e := New(f, Options{PartSize: part})
	ex := &Existing{Size: int64(len(old)), ETag: etag, CRC64: crc64ecma.Checksum(old), HasCRC64: true}
	w := e.NewWriter("k", Mode{Append: ex})
	add := []byte("appended")
	if _, err := w.Write(context.Background(), add, int64(len(old))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.objects["k"], append(bytes.Clone(old), add...)) || f.count("copy-part") != 1 {
		t.Fatalf("calls %v", f.calls)
	}

	// Changed since it was read: the copy's If-Match fails the append.
	ex = &Existing{Size: int64(len(f.objects["k"])), ETag: etag}
	w = e.NewWriter("k", Mode{Append: ex})
	_, err := w.Write(context.Background(), add, ex.Size)
	if err == nil {
		_, err = w.Commit(context.Background())
	}
	if !errors.Is(err, store.ErrSourceChanged) {
		t.Fatalf("append to a changed object: %v, want store.ErrSourceChanged", err)
	}
}

func TestAppendToSmallObjectReadsIt(t *testing.T) {
	f := newFake()
	old := []byte("line 1\n")
	f.store("k", old)
	e := New(f, Options{PartSize: part})
	ex := &Existing{Size: int64(len(old)), ETag: f.etags["k"], ReadAt: func(ctx context.Context, p []byte, off int64) (int, error) {
		return copy(p, old[off:]), nil
	}}
	w := e.NewWriter("k", Mode{Append: ex})
	if _, err := w.Write(context.Background(), []byte("line 2\n"), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if string(f.objects["k"]) != "line 1\nline 2\n" {
		t.Fatalf("got %q", f.objects["k"])
	}
}

func TestJournalOrphansAborted(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	e := New(f, Options{PartSize: part, Journal: j})
	w := e.NewWriter("k", Mode{})
	writeAll(t, w, data(2*part), part) // initiated, parts sent; never committed
	w.wg.Wait()
	done := e.NewWriter("k2", Mode{})
	writeAll(t, done, data(2*part), part)
	if _, err := done.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	pending, err := j.Pending()
	if err != nil || len(pending) != 1 || pending[0].Key != "k" {
		t.Fatalf("pending %v %v", pending, err)
	}
	// A damaged record is discarded.
	os.WriteFile(filepath.Join(dir, "0123456789abcdef0123456789abcdef.upload"), []byte("OSSMUPL1garbage-garbage-garbage"), 0o600)
	// The next process: a new engine over the same journal.
	e2 := New(f, Options{PartSize: part, Journal: j})
	// Another client's upload is counted, not aborted.
	other, _ := f.InitiateMultipart(context.Background(), "theirs", false)
	n, others, err := e2.AbortOrphans(context.Background(), "")
	if err != nil || n != 1 || len(f.aborted) != 1 || others != 1 {
		t.Fatalf("aborted %d (others %d) %v %v", n, others, err, f.aborted)
	}
	if f.uploads[other] == nil {
		t.Fatal("another client's upload was aborted")
	}
	if pending, _ := j.Pending(); len(pending) != 0 {
		t.Fatalf("journal still has %v", pending)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("journal dir not empty: %v", ents)
	}
}

func TestJournalRecordChecksum(t *testing.T) {
	r := store.InProgress{Key: "a/b", UploadID: "XYZ", Initiated: time.Unix(0, 12345)}
	b := encodeRecord(r)
	got, err := decodeRecord(b)
	if err != nil || got != r {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, err := decodeRecord(c); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if _, err := decodeRecord(b[:len(b)-1]); err == nil {
		t.Fatal("torn record accepted")
	}
}

func TestInterruptedWriteKeepsTheUpload(t *testing.T) {
	f := newFake()
	f.partGate = make(chan struct{})
	e := New(f, Options{PartSize: part, Parallel: 1, Buffers: 2})
	w := e.NewWriter("k", Mode{})
	b := data(4*part + 3)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel) // a signal while it waits for a part
	n, err := w.Write(ctx, b, 0)
	if !errors.Is(err, context.Canceled) || n == 0 || n >= len(b) {
		t.Fatalf("interrupted write: %d, %v", n, err)
	}
	close(f.partGate)
	if _, err := w.Write(context.Background(), b[n:], int64(n)); err != nil {
		t.Fatalf("write after the interruption: %v", err)
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.objects["k"], b) {
		t.Fatal("wrong bytes")
	}
}
