package ossemu

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults configures injected misbehaviour. The zero value injects nothing.
// Counts ("the next N") start over at each SetFaults.
type Faults struct {
	// Latency is added before each response's headers.
	Latency time.Duration
	// BytesPerSec caps each response body's bandwidth (a token bucket per
	// response, i.e. per connection at a time); 0 = unlimited.
	BytesPerSec int64
	// ResetAfterBytes: a GET whose body is longer than this has its TCP
	// connection reset (RST) after this many body bytes, for the next
	// ResetCount such GETs (0 = every one while set). The client may see
	// fewer bytes: a reset discards what is still in flight.
	ResetAfterBytes int64
	ResetCount      int
	// Status5xxEveryN: every Nth request answers Status5xxCode (default 503
	// SlowDown) with an OSS error body.
	Status5xxEveryN int
	Status5xxCode   int
	// FailNext: the next N requests answer Status5xxCode (default 500
	// InternalError).
	FailNext int
	// StallAfterBytes: a GET whose body is longer than this stops sending
	// after this many bytes for StallDuration (0 = until the client goes
	// away or the server closes), then goes on; for the next StallCount
	// such GETs (0 = every one).
	StallAfterBytes int64
	StallDuration   time.Duration
	StallCount      int
	// ShortBodyBytes: a GET whose body is longer than this sends correct
	// headers (Content-Length) but closes the connection cleanly (FIN)
	// after exactly this many body bytes; for the next ShortBodyCount such
	// GETs (0 = every one).
	ShortBodyBytes int64
	ShortBodyCount int
	// Protocol faults: answers a correct client must refuse. Each applies
	// to every matching request while set.
	//
	// WrongContentRange: a 206 whose Content-Range starts one byte after
	// the bytes its body holds.
	WrongContentRange bool
	// LengthMismatch: a ranged GET answers 206 with the honest
	// Content-Range but a Content-Length (and body) this many bytes
	// shorter than the range.
	LengthMismatch int64
	// IgnoreRange: a ranged GET answers 200 with the whole object.
	IgnoreRange bool
	// AbsurdSize: GET and HEAD claim the object is 1<<62 bytes long
	// (Content-Range total, HEAD's Content-Length).
	AbsurdSize bool
	// HeadErrorNoDetail: HEAD answers 500 with neither body nor x-oss-err.
	HeadErrorNoDetail bool
	// MalformedListing: listings answer 200 with XML cut in the middle.
	MalformedListing bool
	// DuplicateListing: listings repeat every entry and reverse their
	// order.
	DuplicateListing bool
	// ExtraBodyBytes: a GET body is followed by this many bytes its
	// Content-Length does not count, on a connection left open (the next
	// answer a client reads from it is garbage).
	ExtraBodyBytes int64
	// HugeHeaderBytes: every answer carries a header this long.
	HugeHeaderBytes int
	// NegativeListingSize: listings give every object the size -1.
	NegativeListingSize bool
	// Down: every request has its connection closed without an answer, as
	// when the server is down behind a load balancer.
	Down bool

	// Server flavours rather than faults: answers a correct client must
	// take as they come.
	//
	// UnsatisfiableRange is how GETs treat ranges: "" as OSS by default
	// (a range out of bounds is ignored: 200 with the whole object, also
	// for an empty object; x-oss-range-behavior: standard asks for the
	// behaviour below), "standard" as OSS under x-oss-range-behavior:
	// standard whether or not it was asked for (416 InvalidRange for a
	// start at or past the end, an end past it clipped), "minio" as
	// MinIO does (the same RFC 7233 rules; its 416 carries no
	// Content-Range).
	UnsatisfiableRange string
	// NotModifiedWithoutETag: 304 answers carry no ETag (nor
	// Last-Modified), as some S3-compatible servers send them.
	NotModifiedWithoutETag bool

	// KeyFilter, if set, limits every fault above to requests whose object
	// key starts with it (bucket-level requests such as listings then get
	// none).
	KeyFilter string
}

func (f *Faults) matches(key string) bool {
	return f.KeyFilter == "" || (key != "" && strings.HasPrefix(key, f.KeyFilter))
}

type faultState struct {
	seen                   int64 // matching requests, for Status5xxEveryN
	failNext               int
	resets, stalls, shorts int // remaining; -1 = unlimited
}

func remaining(count int) int {
	if count <= 0 {
		return -1
	}
	return count
}

// SetFaults replaces the fault configuration (the zero value: no faults)
// and restarts its counters.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
	s.fstate = faultState{failNext: f.FailNext, resets: remaining(f.ResetCount), stalls: remaining(f.StallCount), shorts: remaining(f.ShortBodyCount)}
}

// Faults returns the current fault configuration.
func (s *Server) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

type requestPlan struct {
	latency     time.Duration
	bytesPerSec int64
	status      int
	down        bool
	proto       Faults // the protocol faults in force (only those fields)
}

// planRequest decides the faults of a request as it arrives.
func (s *Server) planRequest(key string) requestPlan {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := &s.faults
	if !f.matches(key) {
		return requestPlan{}
	}
	p := requestPlan{latency: f.Latency, bytesPerSec: f.BytesPerSec, down: f.Down, proto: Faults{
		WrongContentRange: f.WrongContentRange, LengthMismatch: f.LengthMismatch, IgnoreRange: f.IgnoreRange,
		AbsurdSize: f.AbsurdSize, HeadErrorNoDetail: f.HeadErrorNoDetail,
		MalformedListing: f.MalformedListing, DuplicateListing: f.DuplicateListing,
		HugeHeaderBytes: f.HugeHeaderBytes, NegativeListingSize: f.NegativeListingSize, ExtraBodyBytes: f.ExtraBodyBytes,
		UnsatisfiableRange: f.UnsatisfiableRange, NotModifiedWithoutETag: f.NotModifiedWithoutETag,
	}}
	code := func(def int) int {
		if f.Status5xxCode != 0 {
			return f.Status5xxCode
		}
		return def
	}
	if s.fstate.failNext > 0 {
		s.fstate.failNext--
		p.status = code(http.StatusInternalServerError)
	} else if f.Status5xxEveryN > 0 {
		s.fstate.seen++
		if s.fstate.seen%int64(f.Status5xxEveryN) == 0 {
			p.status = code(http.StatusServiceUnavailable)
		}
	}
	return p
}

// bodyFaults are the offsets at which a body misbehaves (-1: never).
type bodyFaults struct {
	resetAt, stallAt, shortAt int64
	stallFor                  time.Duration
}

func take(threshold, length int64, left *int) int64 {
	if threshold <= 0 || length <= threshold || *left == 0 {
		return -1
	}
	if *left > 0 {
		*left--
	}
	return threshold
}

// takeBodyFaults decides (and counts) the faults of a GET body of length
// bytes.
func (s *Server) takeBodyFaults(key string, length int64) bodyFaults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := &s.faults
	if !f.matches(key) {
		return bodyFaults{-1, -1, -1, 0}
	}
	return bodyFaults{
		resetAt:  take(f.ResetAfterBytes, length, &s.fstate.resets),
		stallAt:  take(f.StallAfterBytes, length, &s.fstate.stalls),
		shortAt:  take(f.ShortBodyBytes, length, &s.fstate.shorts),
		stallFor: f.StallDuration,
	}
}

const bodyBuffer = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bodyBuffer); return &b }}

// sendBody streams length bytes of o from off, through the bandwidth cap
// and the body faults.
func (c *call) sendBody(o *object, off, length int64) {
	if length <= 0 {
		return
	}
	bw := &bodyWriter{c: c, rate: c.bps, f: c.s.takeBodyFaults(c.key, length)}
	if bw.rate > 0 {
		c.addFault("bandwidth")
	}
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	buf := *bufp
	for length > 0 {
		m := min(length, int64(len(buf)))
		n, err := o.data.ReadAt(buf[:m], off)
		if int64(n) < m {
			c.s.logf("ossemu: reading %s/%s at %d: %v", c.bucket, c.key, off, err)
			panic(http.ErrAbortHandler)
		}
		if !bw.write(buf[:m]) {
			return
		}
		off += m
		length -= m
	}
	if n := c.proto.ExtraBodyBytes; n > 0 {
		c.addFault("extra-body")
		c.trailGarbage(n)
	}
}

// trailGarbage writes n bytes past the declared body on the raw connection
// and leaves it open for a while, as a server that miscounted would.
func (c *call) trailGarbage(n int64) {
	rc := http.NewResponseController(c.w)
	_ = rc.Flush()
	conn, brw, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = brw.Flush()
	_, _ = conn.Write(bytes.Repeat([]byte("x"), int(min(n, 1<<20))))
	time.AfterFunc(5*time.Second, func() { _ = conn.Close() })
}

type bodyWriter struct {
	c        *call
	rate     int64
	f        bodyFaults
	sent     int64
	base     time.Time // token bucket origin
	baseSent int64
}

func (bw *bodyWriter) chunk() int64 {
	return min(max(bw.rate/100, 1024), 64<<10)
}

func (bw *bodyWriter) nextEvent() int64 {
	ev := int64(-1)
	for _, at := range []int64{bw.f.resetAt, bw.f.stallAt, bw.f.shortAt} {
		if at >= 0 && (ev < 0 || at < ev) {
			ev = at
		}
	}
	return ev
}

// write sends p; false means the response is over (client gone, or a
// fault ended it).
func (bw *bodyWriter) write(p []byte) bool {
	rc := http.NewResponseController(bw.c.w.ResponseWriter)
	for len(p) > 0 {
		n := int64(len(p))
		if ev := bw.nextEvent(); ev >= 0 && bw.sent+n > ev {
			n = ev - bw.sent
		}
		if bw.rate > 0 {
			n = min(n, bw.chunk())
			if !bw.throttle(n) {
				return false
			}
		}
		if _, err := bw.c.w.Write(p[:n]); err != nil {
			return false
		}
		bw.sent += n
		p = p[n:]
		if bw.rate > 0 {
			_ = rc.Flush()
		}
		if !bw.events(rc) {
			return false
		}
	}
	return true
}

// throttle waits until n more bytes fit the token bucket (burst: one chunk).
func (bw *bodyWriter) throttle(n int64) bool {
	now := time.Now()
	if bw.base.IsZero() {
		bw.base, bw.baseSent = now, bw.sent
	}
	ahead := bw.sent + n - bw.baseSent - bw.chunk()
	if ahead <= 0 {
		return true
	}
	due := bw.base.Add(time.Duration(float64(ahead) / float64(bw.rate) * float64(time.Second)))
	if wait := due.Sub(now); wait > 0 {
		return bw.c.sleep(wait)
	}
	return true
}

func (bw *bodyWriter) events(rc *http.ResponseController) bool {
	if bw.f.stallAt == bw.sent {
		bw.f.stallAt = -1
		bw.c.addFault("stall")
		_ = rc.Flush()
		if bw.f.stallFor <= 0 {
			bw.c.waitGone()
			return false
		}
		if !bw.c.sleep(bw.f.stallFor) {
			return false
		}
		bw.base = time.Time{} // no catch-up burst after a stall
	}
	if bw.f.shortAt == bw.sent {
		bw.c.addFault("short")
		bw.abort(rc, false)
		return false
	}
	if bw.f.resetAt == bw.sent {
		bw.c.addFault("reset")
		bw.abort(rc, true)
		return false
	}
	return true
}

// abort flushes what was written and closes the connection: with a TCP RST
// when reset is set, else with a FIN.
func (bw *bodyWriter) abort(rc *http.ResponseController, reset bool) {
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// sleep waits d unless the client goes away or the server closes; it
// reports whether the wait ran its course. d <= 0 returns at once.
func (c *call) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.r.Context().Done():
		return false
	case <-c.s.closed:
		return false
	}
}

// waitGone blocks until the client goes away or the server closes.
func (c *call) waitGone() {
	select {
	case <-c.r.Context().Done():
	case <-c.s.closed:
	}
}

// hangUp closes the request's connection at once, with a TCP RST and no
// answer.
func (c *call) hangUp() {
	conn, _, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// absurdSize is what AbsurdSize claims.
const absurdSize = int64(1) << 62
