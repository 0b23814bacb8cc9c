package fetcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossmount/ossmount/store"
)

// fakeStore serves one object from memory with injectable faults.
type fakeStore struct {
	mu   sync.Mutex
	key  string
	data []byte
	etag string

	gets      atomic.Int64
	bodyBytes atomic.Int64
	ranges    []string

	// faults, consumed in order
	failNext   int   // next N GETs answer 503
	resetAfter int64 // cut the next resetCount bodies after this many bytes
	resetCount int
	stallAfter int64 // stall the next stallCount bodies after this many bytes
	stallCount int
	stall      chan struct{} // closed to release stalls (test cleanup)
	afterGet   func()        // called (locked) after each GET's answer is built

	// rangeNotSatisfiable: a range that starts at or past the end is 416
	// (as MinIO and OSS's standard range behaviour answer), not 200.
	rangeNotSatisfiable bool
	// rangeBeforeIfMatch: the 416 above comes before If-Match's 412.
	rangeBeforeIfMatch bool
	// lastModified: If-Modified-Since at or after it is 304.
	lastModified time.Time
}

func newFakeStore(size int) *fakeStore {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return &fakeStore{key: "obj", data: data, etag: `"E1"`, stall: make(chan struct{})}
}

func (s *fakeStore) info() store.ObjectInfo {
	return store.ObjectInfo{Key: s.key, Size: int64(len(s.data)), ETag: s.etag, CRC64: crc64.Checksum(s.data, crc64.MakeTable(crc64.ECMA)), HasCRC64: true}
}

func (s *fakeStore) Get(ctx context.Context, req store.GetRequest) (*store.GetResponse, error) {
	s.gets.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ranges = append(s.ranges, fmt.Sprintf("%d-%d", req.Start, req.End))
	if s.failNext > 0 {
		s.failNext--
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 503, Code: "SlowDown", Kind: store.ErrTransient}
	}
	if req.Key != s.key {
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 404, Kind: store.ErrNotFound}
	}
	if s.rangeNotSatisfiable && s.rangeBeforeIfMatch && req.End >= 0 && req.Start >= int64(len(s.data)) {
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 416, Code: "InvalidRange", Kind: store.ErrRangeNotSatisfiable}
	}
	if req.IfMatch != "" && req.IfMatch != s.etag {
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 412, Kind: store.ErrChanged}
	}
	if req.IfNoneMatch != "" && req.IfNoneMatch == s.etag {
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 304, Kind: store.ErrNotModified, ETag: s.etag}
	}
	if req.IfNoneMatch == "" && !req.IfModifiedSince.IsZero() && !s.lastModified.After(req.IfModifiedSince) {
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 304, Kind: store.ErrNotModified, ETag: s.etag}
	}
	size := int64(len(s.data))
	if s.rangeNotSatisfiable && req.End >= 0 && req.Start >= size {
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: 416, Code: "InvalidRange", Kind: store.ErrRangeNotSatisfiable}
	}
	end := req.End
	if end < 0 || end >= size {
		end = size - 1
	}
	body := s.data[req.Start : end+1]
	var rc io.ReadCloser = io.NopCloser(bytes.NewReader(body))
	if s.resetCount > 0 {
		s.resetCount--
		rc = &faultBody{r: bytes.NewReader(body), left: s.resetAfter}
	} else if s.stallCount > 0 {
		s.stallCount--
		rc = &faultBody{r: bytes.NewReader(body), left: s.stallAfter, stall: s.stall, closed: make(chan struct{})}
	}
	resp := &store.GetResponse{Info: s.info(), StatusCode: http.StatusPartialContent, RangeStart: req.Start, ContentLength: int64(len(body)), Body: &countBody{rc, &s.bodyBytes}}
	if size == 0 || req.Start == 0 && req.End < 0 { // no Range header
		resp.StatusCode = http.StatusOK
	}
	if s.afterGet != nil {
		s.afterGet()
	}
	return resp, nil
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// faultBody delivers left bytes, then resets (stall == nil) or blocks until
// closed or released.
type faultBody struct {
	r         *bytes.Reader
	left      int64
	stall     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (b *faultBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if b.stall == nil {
			return 0, errors.New("connection reset by peer")
		}
		select {
		case <-b.stall:
		case <-b.closed:
		}
		return 0, errors.New("read on closed body")
	}
	p = p[:min(int64(len(p)), b.left)]
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *faultBody) Close() error {
	if b.closed != nil {
		b.closeOnce.Do(func() { close(b.closed) })
	}
	return nil
}

// memBlocks is an in-memory Blocks.
type memBlocks struct {
	mu      sync.Mutex
	size    int64
	bs      int64
	blocks  map[int][]byte
	writes  map[int]int
	ahead   map[int]bool // written ahead of the reader, not read yet
	dropped bool
	failW   bool
}

func newMemBlocks(size, bs int64) *memBlocks {
	return &memBlocks{size: size, bs: bs, blocks: map[int][]byte{}, writes: map[int]int{}, ahead: map[int]bool{}}
}

func (m *memBlocks) Has(b int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blocks[b]
	return ok
}

func (m *memBlocks) Missing(first, last int) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for b := max(first, 0); b <= min(last, int((m.size+m.bs-1)/m.bs)-1); b++ {
		if _, ok := m.blocks[b]; !ok {
			out = append(out, b)
		}
	}
	return out
}

// errNotCached is memBlocks' answer for a range not cached (as
// blockcache.ErrNotCached, a NotCached error).
var errNotCached error = notCachedErr{}

type notCachedErr struct{}

func (notCachedErr) Error() string   { return "not cached" }
func (notCachedErr) NotCached() bool { return true }

func (m *memBlocks) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(int64(len(p)), m.size-off)
	for b := off / m.bs; b <= (off+n-1)/m.bs; b++ {
		if _, ok := m.blocks[int(b)]; !ok {
			return 0, errNotCached
		}
	}
	for b := off / m.bs; b <= (off+n-1)/m.bs; b++ {
		delete(m.ahead, int(b))
	}
	for i := int64(0); i < n; {
		b := (off + i) / m.bs
		c := copy(p[i:n], m.blocks[int(b)][(off+i)-b*m.bs:])
		i += int64(c)
	}
	return int(n), nil
}

func (m *memBlocks) WriteBlock(b int, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes[b]++
	if m.failW {
		return errors.New("disk full")
	}
	m.blocks[b] = append([]byte(nil), data...)
	return nil
}

func (m *memBlocks) WriteBlockAhead(b int, data []byte) error {
	if err := m.WriteBlock(b, data); err != nil {
		return err
	}
	m.mu.Lock()
	m.ahead[b] = true
	m.mu.Unlock()
	return nil
}

func (m *memBlocks) Served(first, last int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for b := first; b <= last; b++ {
		delete(m.ahead, b)
	}
}

// heldAhead returns the blocks written ahead and not read yet.
func (m *memBlocks) heldAhead() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for b := range m.ahead {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

func (m *memBlocks) CRC64() (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int((m.size + m.bs - 1) / m.bs)
	if len(m.blocks) != n {
		return 0, false
	}
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	for i := 0; i < n; i++ {
		h.Write(m.blocks[i])
	}
	return h.Sum64(), true
}

func (m *memBlocks) Drop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks = map[int][]byte{}
	m.dropped = true
}

const testBS = 64 << 10

func setup(t *testing.T, size int, cfg Config) (*fakeStore, *memBlocks, *Fetcher, *Object) {
	t.Helper()
	st := newFakeStore(size)
	if cfg.PartSize == 0 {
		cfg.PartSize = 4 * testBS
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 4
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	f := New(st, cfg)
	t.Cleanup(func() { close(st.stall); f.Close() })
	mb := newMemBlocks(int64(size), testBS)
	info := st.info()
	o := &Object{ID: "v1", Key: st.key, ETag: st.etag, Size: int64(size), BlockSize: testBS, Blocks: mb, ServerCRC64: info.CRC64, HasServerCRC: true}
	return st, mb, f, o
}

func readAll(t *testing.T, f *Fetcher, o *Object, chunk int) []byte {
	t.Helper()
	var ra Readahead
	var out []byte
	buf := make([]byte, chunk)
	for off := int64(0); ; {
		n, err := f.Read(context.Background(), o, &ra, buf, off)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
		off += int64(n)
	}
}

func TestSequentialReadIsCorrectAndFetchesEachByteOnce(t *testing.T) {
	for _, size := range []int{1, testBS - 1, testBS, testBS + 1, 10*testBS + 123, 37 * testBS} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st, mb, f, o := setup(t, size, Config{})
			got := readAll(t, f, o, 128<<10/3)
			if !bytes.Equal(got, st.data) {
				t.Fatalf("content differs")
			}
			f.Close() // wait for readahead parts
			if n := st.bodyBytes.Load(); n != int64(size) {
				t.Errorf("body bytes %d, want %d (each byte once)", n, size)
			}
			for b, n := range mb.writes {
				if n != 1 {
					t.Errorf("block %d written %d times", b, n)
				}
			}
			if mb.dropped {
				t.Errorf("whole-object CRC check dropped a correct object")
			}
			for _, r := range st.ranges {
				var a, b int64
				fmt.Sscanf(r, "%d-%d", &a, &b)
				if b-a+1 > 4*testBS {
					t.Errorf("part %s longer than part size", r)
				}
			}
		})
	}
}

func TestConcurrentReadersCoalesce(t *testing.T) {
	size := 20 * testBS
	st, _, f, o := setup(t, size, Config{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			n, err := f.Read(context.Background(), o, nil, buf, 0)
			if err != nil || n != size || !bytes.Equal(buf, st.data) {
				t.Errorf("reader: n=%d err=%v", n, err)
			}
		}()
	}
	wg.Wait()
	if n := st.bodyBytes.Load(); n != int64(size) {
		t.Errorf("body bytes %d, want %d: readers did not share fetches", n, size)
	}
}

func TestRandomReadsFetchOnlyTheirBlocks(t *testing.T) {
	size := 64 * testBS
	st, _, f, o := setup(t, size, Config{})
	var ra Readahead
	r := rand.New(rand.NewPCG(3, 4))
	touched := map[int64]bool{}
	buf := make([]byte, 4096)
	for i := 0; i < 20; i++ {
		off := r.Int64N(int64(size-4096)) &^ 4095
		if off/testBS != (off+4095)/testBS {
			continue
		}
		if _, err := f.Read(context.Background(), o, &ra, buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, st.data[off:off+4096]) {
			t.Fatalf("wrong bytes at %d", off)
		}
		touched[off/testBS] = true
	}
	f.Close()
	if want := int64(len(touched)) * testBS; st.bodyBytes.Load() > want {
		t.Errorf("fetched %d bytes for %d touched blocks (%d): readahead waste", st.bodyBytes.Load(), len(touched), want)
	}
}

func TestResetMidBodyResumesFromLastByte(t *testing.T) {
	size := 16 * testBS
	st, _, f, o := setup(t, size, Config{Retries: 2})
	st.resetAfter, st.resetCount = testBS+777, 5
	got := readAll(t, f, o, 1<<20)
	if !bytes.Equal(got, st.data) {
		t.Fatal("content differs after resets")
	}
	f.Close()
	if n := st.bodyBytes.Load(); n != int64(size) {
		t.Errorf("body bytes %d, want %d: a resumed part refetched bytes", n, size)
	}
	if f.Stats().Retries == 0 {
		t.Error("no retry counted")
	}
}

func TestServerErrorsRetriedThenGiveUp(t *testing.T) {
	st, _, f, o := setup(t, 4*testBS, Config{Retries: 2})
	st.failNext = 2
	buf := make([]byte, 4*testBS)
	if _, err := f.Read(context.Background(), o, nil, buf, 0); err != nil || !bytes.Equal(buf, st.data) {
		t.Fatalf("after 2 transient failures: %v", err)
	}
	st2, _, f2, o2 := setup(t, 4*testBS, Config{Retries: 2})
	st2.failNext = 100
	_, err := f2.Read(context.Background(), o2, nil, buf, 0)
	if !errors.Is(err, store.ErrTransient) {
		t.Fatalf("err = %v, want store.ErrTransient after retries", err)
	}
	var re *store.RequestError
	if !errors.As(err, &re) || re.Status != 503 {
		t.Errorf("error lost the request details: %v", err)
	}
}

func TestChangedObjectIsErrChanged(t *testing.T) {
	st, _, f, o := setup(t, 4*testBS, Config{})
	st.etag = `"E2"`
	_, err := f.Read(context.Background(), o, nil, make([]byte, 10), 0)
	if !errors.Is(err, store.ErrChanged) {
		t.Fatalf("err = %v, want store.ErrChanged", err)
	}
	if st.gets.Load() != 1 {
		t.Errorf("412 was retried: %d GETs", st.gets.Load())
	}
}

func TestStalledBodyIsAbandonedAndRetried(t *testing.T) {
	st, _, f, o := setup(t, 4*testBS, Config{ReadTimeout: 200 * time.Millisecond})
	st.stallAfter, st.stallCount = 1000, 1
	buf := make([]byte, 4*testBS)
	if _, err := f.Read(context.Background(), o, nil, buf, 0); err != nil || !bytes.Equal(buf, st.data) {
		t.Fatalf("stalled read: %v", err)
	}
}

func TestInterruptedReaderLeavesFetchRunning(t *testing.T) {
	st, mb, f, o := setup(t, 4*testBS, Config{ReadTimeout: 5 * time.Second})
	st.stallAfter, st.stallCount = 10, 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := f.Read(ctx, o, nil, make([]byte, testBS), 0)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	st.mu.Lock() // the server recovers: the shared fetch retries and completes
	close(st.stall)
	st.stall = make(chan struct{})
	st.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !mb.Has(0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !mb.Has(0) {
		t.Fatal("the fetch an interrupted reader started did not complete into the cache")
	}
}

func TestCacheWriteFailureStillServes(t *testing.T) {
	st, mb, f, o := setup(t, 8*testBS, Config{})
	mb.failW = true
	got := readAll(t, f, o, 100000)
	if !bytes.Equal(got, st.data) {
		t.Fatal("content differs when the cache cannot store")
	}
	if f.Stats().CacheWriteErrors == 0 {
		t.Error("cache write errors not counted")
	}
}

func TestWholeObjectCRCMismatchDropsCache(t *testing.T) {
	st, mb, f, o := setup(t, 4*testBS, Config{})
	o.ServerCRC64 ^= 1
	readAll(t, f, o, 4*testBS)
	f.Close()
	if !mb.dropped || f.Stats().CRCMismatches != 1 {
		t.Fatalf("mismatching CRC not acted on: dropped=%v", mb.dropped)
	}
	_ = st
}

func TestProbe(t *testing.T) {
	st, _, f, _ := setup(t, 3*testBS, Config{})
	res, err := f.Probe(context.Background(), "obj", Conditions{}, testBS)
	if err != nil || res.NotModified || !bytes.Equal(res.First, st.data[:testBS]) || res.Info.Size != int64(3*testBS) || res.Info.ETag != st.etag {
		t.Fatalf("cold probe: %+v %v", res.Info, err)
	}
	res, err = f.Probe(context.Background(), "obj", Conditions{IfNoneMatch: st.etag}, testBS)
	if err != nil || !res.NotModified {
		t.Fatalf("conditional probe: %+v %v", res, err)
	}
	if _, err := f.Probe(context.Background(), "missing", Conditions{}, testBS); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	st0, _, f0, _ := setup(t, 0, Config{})
	res, err = f0.Probe(context.Background(), "obj", Conditions{}, testBS)
	if err != nil || res.Info.Size != 0 || len(res.First) != 0 {
		t.Fatalf("empty object probe: %+v %v", res, err)
	}
	_ = st0
}

// An empty object: a server that answers the open's range with 416 gets the
// same GET without a Range at once, which is neither a retry nor an error;
// an open that expects an empty object (firstBytes 0) sends no Range.
func TestProbeOfEmptyObject(t *testing.T) {
	st, _, f, _ := setup(t, 0, Config{})
	st.rangeNotSatisfiable = true
	res, err := f.Probe(context.Background(), "obj", Conditions{}, testBS)
	if err != nil || res.NotModified || res.Info.Size != 0 || res.Info.ETag != st.etag || len(res.First) != 0 {
		t.Fatalf("probe of an empty object answered 416: %+v %v", res, err)
	}
	if want := []string{fmt.Sprintf("0-%d", testBS-1), "0--1"}; !slices.Equal(st.ranges, want) {
		t.Errorf("requests %v, want %v", st.ranges, want)
	}
	if s := f.Stats(); s.Retries != 0 || s.Errors != 0 {
		t.Errorf("the 416 counted: %d retries, %d errors", s.Retries, s.Errors)
	}
	st.ranges = nil
	if res, err := f.Probe(context.Background(), "obj", Conditions{}, 0); err != nil || res.Info.Size != 0 {
		t.Fatalf("probe expecting an empty object: %+v %v", res, err)
	}
	if want := []string{"0--1"}; !slices.Equal(st.ranges, want) {
		t.Errorf("requests %v, want %v", st.ranges, want)
	}
	// Expecting empty, finding it grown: the version, no bytes kept.
	stBig, _, fBig, _ := setup(t, 3*testBS, Config{})
	res, err = fBig.Probe(context.Background(), "obj", Conditions{}, 0)
	if err != nil || res.Info.Size != 3*testBS || res.Info.ETag != stBig.etag || len(res.First) != 0 {
		t.Fatalf("probe expecting empty, object grown: %+v (%d bytes) %v", res.Info, len(res.First), err)
	}
}

// A server that checks the range before If-Match answers a part of a
// version whose object became shorter with 416: that is a change (ESTALE),
// not a failure (EIO).
func TestPartOfAShortenedObjectIsAChange(t *testing.T) {
	st, _, f, o := setup(t, 8*testBS, Config{})
	st.mu.Lock()
	st.rangeNotSatisfiable, st.rangeBeforeIfMatch = true, true
	st.data, st.etag = st.data[:testBS], `"E2"`
	st.mu.Unlock()
	_, err := f.Read(context.Background(), o, nil, make([]byte, 100), 5*testBS)
	if !errors.Is(err, store.ErrChanged) {
		t.Fatalf("read past the new end: %v, want store.ErrChanged", err)
	}
}

// A 304 that names another ETag than the cached version's (an object
// replaced within the cached version's Last-Modified second answers
// If-Modified-Since with 304) is not believed: the probe asks again
// without conditions and returns the new version.
func TestProbeDistrusts304OfAnotherETag(t *testing.T) {
	st, _, f, _ := setup(t, 3*testBS, Config{})
	st.lastModified = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := f.Probe(context.Background(), "obj", Conditions{IfModifiedSince: st.lastModified, ETag: st.etag}, testBS)
	if err != nil || !res.NotModified {
		t.Fatalf("unchanged: %+v %v", res, err)
	}
	res, err = f.Probe(context.Background(), "obj", Conditions{IfModifiedSince: st.lastModified, ETag: `"E0"`}, testBS)
	if err != nil || res.NotModified || res.Info.ETag != st.etag || !bytes.Equal(res.First, st.data[:testBS]) {
		t.Fatalf("replaced in the same second: %+v %v", res, err)
	}
	if s := f.Stats(); s.Retries != 0 || s.Errors != 0 {
		t.Errorf("counted %d retries, %d errors", s.Retries, s.Errors)
	}
}

func TestReadaheadWindow(t *testing.T) {
	var ra Readahead
	const part, maxW = 8 << 20, 64 << 20
	from, to := ra.advance(0, 128<<10, 1<<30, part, maxW)
	if from != 128<<10 || to != 128<<10+part {
		t.Fatalf("first read at 0: ahead [%d,%d)", from, to)
	}
	var issued int64 = to
	for off := int64(128 << 10); off < 200<<20; off += 128 << 10 {
		from, to = ra.advance(off, 128<<10, 1<<30, part, maxW)
		if to > from {
			if from != issued {
				t.Fatalf("gap/overlap in readahead at %d: from %d, issued %d", off, from, issued)
			}
			issued = to
		}
		if issued-(off+128<<10) > maxW {
			t.Fatalf("window beyond max at %d", off)
		}
		// Once the window is full size, it is topped up part by part:
		// never more than a part (plus the read) short of the window.
		if off > 100<<20 && issued-(off+128<<10) < maxW-part-128<<10 {
			t.Fatalf("at %d only %d bytes are ahead; the window is %d", off, issued-(off+128<<10), maxW)
		}
	}
	if issued < 200<<20+maxW/2 {
		t.Errorf("window did not grow: issued to %d", issued)
	}
	var rnd Readahead
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1000; i++ {
		if from, to := rnd.advance(r.Int64N(1<<30)+(1<<20), 4096, 2<<30, part, maxW); to > from {
			t.Fatalf("random reads triggered readahead at read %d", i)
		}
	}
	var nilRA *Readahead
	if from, to := nilRA.advance(0, 10, 100, part, maxW); to > from {
		t.Fatal("nil readahead read ahead")
	}
}

func TestProbeResumesACutBody(t *testing.T) {
	st, _, f, _ := setup(t, 3*testBS, Config{Retries: 2})
	// More cuts than retries: only progress keeps the open going.
	st.mu.Lock()
	st.resetAfter, st.resetCount = int64(testBS/8), 6
	st.mu.Unlock()
	res, err := f.Probe(context.Background(), "obj", Conditions{}, testBS)
	if err != nil || !bytes.Equal(res.First, st.data[:testBS]) {
		t.Fatalf("probe through cut bodies: %v (%d bytes)", err, len(res.First))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if got := st.bodyBytes.Load(); got != int64(testBS) {
		t.Errorf("resumed probe moved %d body bytes, want %d (nothing twice)", got, testBS)
	}
	for _, r := range st.ranges[1:] {
		if strings.HasPrefix(r, "0-") {
			t.Errorf("a retry started over at 0: %v", st.ranges)
		}
	}
}

func TestProbeStartsOverWhenTheObjectChanges(t *testing.T) {
	st, _, f, _ := setup(t, 3*testBS, Config{Retries: 2})
	st.mu.Lock()
	st.resetAfter, st.resetCount = int64(testBS/4), 1
	// The object is replaced right after the first (cut) answer: the
	// resume's If-Match fails and the open starts over on the new version.
	st.afterGet = func() {
		next := make([]byte, len(st.data))
		for i := range next {
			next[i] = st.data[i] ^ 0x5a
		}
		st.data, st.etag, st.afterGet = next, `"E2"`, nil
	}
	st.mu.Unlock()
	res, err := f.Probe(context.Background(), "obj", Conditions{}, testBS)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil || res.Info.ETag != `"E2"` || !bytes.Equal(res.First, st.data[:testBS]) {
		t.Fatalf("probe across a change: %v, etag %s", err, res.Info.ETag)
	}
	if len(st.ranges) != 3 || !strings.HasPrefix(st.ranges[2], "0-") {
		t.Errorf("want a first GET, a refused resume, a fresh GET: %v", st.ranges)
	}
}

func TestHeadServesFirstReadsThenBlock0Replaces(t *testing.T) {
	st, mb, f, o := setup(t, 8*testBS, Config{})
	// Hold block 0's fetch back so the head is what answers.
	st.mu.Lock()
	st.stallAfter, st.stallCount = 0, 1
	st.mu.Unlock()
	head := slices.Clone(st.data[:testBS/4])
	f.Seed(o, head)
	buf := make([]byte, testBS/8)
	if n, err := f.Read(context.Background(), o, nil, buf, 100); err != nil || n != len(buf) || !bytes.Equal(buf, st.data[100:100+len(buf)]) {
		t.Fatalf("read inside the head: %d %v", n, err)
	}
	// Once block 0 is fetched the head is dropped and reads use the cache.
	for {
		st.mu.Lock()
		if len(st.ranges) > 0 { // the GET took its stall channel
			break
		}
		st.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	close(st.stall)
	st.stall = make(chan struct{})
	st.mu.Unlock()
	got := readAll(t, f, o, testBS/2)
	if !bytes.Equal(got, st.data) {
		t.Fatal("content differs")
	}
	if o.head.Load() != nil || !mb.Has(0) {
		t.Errorf("head kept after block 0 arrived (cached: %v)", mb.Has(0))
	}
}

// The open's GET brought the first bytes of block 0: the part that
// completes block 0 asks only for the rest, so a cold sequential read
// moves each byte once, those of the open's GET included.
func TestSeededStartIsNotFetchedAgain(t *testing.T) {
	for _, seeded := range []int{1, testBS / 4, testBS - 1, testBS} {
		t.Run(fmt.Sprint(seeded), func(t *testing.T) {
			size := 9*testBS + 17
			st, mb, f, o := setup(t, size, Config{})
			f.Seed(o, slices.Clone(st.data[:seeded]))
			got := readAll(t, f, o, 128<<10/3)
			if !bytes.Equal(got, st.data) {
				t.Fatal("content differs")
			}
			f.Close()
			if n, want := st.bodyBytes.Load(), int64(size-seeded); n != want {
				t.Errorf("parts moved %d body bytes after an open that brought %d, want %d (each byte once): %v", n, seeded, want, st.ranges)
			}
			if mb.writes[0] != 1 {
				t.Errorf("block 0 written %d times", mb.writes[0])
			}
		})
	}
}

// Block buffers are lent to the readers of a fetch and recycled after the
// last one lets go. With freed buffers poisoned, a reader that copied from a
// buffer after its release (or a part that recycled it too early) returns
// wrong bytes; under -race it is also a data race. The cache refuses every
// write, so every read is served from a lent buffer, many at once.
func TestLentBlockBuffersOutliveTheirReaders(t *testing.T) {
	for _, failWrites := range []bool{true, false} {
		t.Run(fmt.Sprint("failWrites=", failWrites), func(t *testing.T) {
			size := 48*testBS + 777
			st, mb, f, o := setup(t, size, Config{Parallel: 3, PartSize: 3 * testBS})
			f.poisonFreed = true
			mb.failW = failWrites
			reads := 40
			if failWrites {
				reads = 8 // each read refetches its readahead: slow under -race
			}
			var wg sync.WaitGroup
			for g := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 9))
					var ra Readahead
					for range reads {
						off := r.Int64N(int64(size))
						buf := make([]byte, 1+r.IntN(3*testBS))
						n, err := f.Read(context.Background(), o, &ra, buf, off)
						if err != nil {
							t.Errorf("read at %d: %v", off, err)
							return
						}
						if !bytes.Equal(buf[:n], st.data[off:off+int64(n)]) {
							t.Errorf("wrong bytes at %d+%d", off, n)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// Spare block buffers are for parts that follow each other; once no part
// runs, none is kept.
func TestIdleFetcherKeepsNoSpareBuffers(t *testing.T) {
	st, _, f, o := setup(t, 37*testBS+5, Config{})
	if got := readAll(t, f, o, 100000); !bytes.Equal(got, st.data) {
		t.Fatal("content differs")
	}
	f.Close() // wait for readahead parts
	if n := len(f.spare); n != 0 {
		t.Errorf("%d spare buffers kept after every part ended", n)
	}
}

// A cold sequential read has no cache hits, although most of its reads
// find their blocks cached by its own readahead; a second reader of the
// same object (another open) hits for every byte.
func TestHitsCountOnlyBlocksCachedBeforeTheReaderAsked(t *testing.T) {
	size := 37*testBS + 123
	_, _, f, o := setup(t, size, Config{})
	readAll(t, f, o, 32<<10)
	s := f.Stats()
	if s.CacheHitBytes != 0 || s.CacheMissBytes+s.ReadAheadBytes != int64(size) {
		t.Errorf("cold read: hit %d, miss %d, read ahead %d bytes; want 0 hits of %d", s.CacheHitBytes, s.CacheMissBytes, s.ReadAheadBytes, size)
	}
	if s.ReadAheadBytes == 0 {
		t.Error("cold read: no byte counted as read ahead")
	}
	f.Close() // every part has landed
	f2 := New(newFakeStore(size), Config{PartSize: 4 * testBS})
	defer f2.Close()
	readAll(t, f2, o, 32<<10)
	if s := f2.Stats(); s.CacheHitBytes != int64(size) || s.CacheMissBytes != 0 || s.ReadAheadBytes != 0 {
		t.Errorf("warm read: hit %d, miss %d, read ahead %d bytes; want %d hits", s.CacheHitBytes, s.CacheMissBytes, s.ReadAheadBytes, size)
	}
}

// Blocks fetched ahead of the reader are written as such, and let go of as
// the reader takes them (from the cache or from their fetch) or closes.
func TestReadaheadBlocksAreHeldUntilRead(t *testing.T) {
	const size = 64 * testBS
	_, mb, f, o := setup(t, size, Config{})
	var ra Readahead
	buf := make([]byte, testBS)
	for off := int64(0); off < size/2; off += testBS {
		if _, err := f.Read(context.Background(), o, &ra, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	var ahead []int
	for deadline := time.Now().Add(5 * time.Second); ; { // parts land
		if ahead = mb.heldAhead(); len(ahead) > 0 && ahead[0] >= size/2/testBS || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if len(ahead) == 0 {
		t.Fatal("no block was written as fetched ahead of the reader")
	}
	if ahead[0] < size/2/testBS {
		t.Fatalf("blocks the reader has read are still held: %v", ahead)
	}
	f.ReleaseReadahead(o, &ra)
	if left := mb.heldAhead(); len(left) > 0 {
		t.Fatalf("after the handle let go, blocks %v are still held", left)
	}
	// A whole sequential read leaves nothing held.
	_, mb, f, o = setup(t, size, Config{})
	readAll(t, f, o, testBS)
	if left := mb.heldAhead(); len(left) > 0 {
		t.Fatalf("after reading everything, blocks %v are still held", left)
	}
}

func TestWindowFor(t *testing.T) {
	for _, c := range []struct {
		max, capacity, want int64
		fits                bool
	}{
		{128 << 20, 10 << 30, 128 << 20, true},
		{128 << 20, 256 << 20, 128 << 20, true},
		{128 << 20, 64<<20 + 12345, 32 << 20, false},
		{128 << 20, 0, -1, false},
		{128 << 20, 1<<20 + 1, -1, false},
	} {
		if w, fits := WindowFor(c.max, c.capacity, 1<<20); w != c.want || fits != c.fits {
			t.Errorf("WindowFor(%d, %d) = %d, %v; want %d, %v", c.max, c.capacity, w, fits, c.want, c.fits)
		}
	}
}

// A part's answer is checked against the version with the one ETag
// comparison (store.SameETag): case and quotes aside, another ETag is a
// change.
func TestPartCheckComparesETagsAsEverywhere(t *testing.T) {
	o := &Object{Key: "k", ETag: `"ABCDEF"`, Size: 10, BlockSize: 10}
	for _, c := range []struct {
		etag    string
		changed bool
	}{{`"ABCDEF"`, false}, {`"abcdef"`, false}, {`abcdef`, false}, {`"abcdee"`, true}} {
		resp := &store.GetResponse{Info: store.ObjectInfo{ETag: c.etag, Size: 10}, StatusCode: 206}
		if err := checkPart(resp, o, 0); errors.Is(err, store.ErrChanged) != c.changed || !c.changed && err != nil {
			t.Errorf("answer with ETag %s for version %s: %v", c.etag, o.ETag, err)
		}
	}
}
