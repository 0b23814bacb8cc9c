package ossemu

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server.
type Options struct {
	// Region is the region V4 signatures must be scoped to; default
	// "cn-hangzhou".
	Region string
	// Credentials maps AccessKeyID -> AccessKeySecret. A request signed
	// with an unknown ID gets 403 InvalidAccessKeyId, one signed with
	// another secret 403 SignatureDoesNotMatch.
	Credentials map[string]string
	// SecurityTokens optionally pins the STS token of an AccessKeyID: a
	// request with that ID must carry exactly this x-oss-security-token
	// (else 403 InvalidSecurityToken). IDs not listed accept any token.
	SecurityTokens map[string]string
	// Logf, if set, receives server errors (and every request when
	// LogRequests is set).
	Logf        func(format string, args ...any)
	LogRequests bool
	// MaxRequestLog bounds the request log (default 1,000,000 entries;
	// the oldest are dropped).
	MaxRequestLog int
	// MaxClockSkew is how far a signed request's date may be from now
	// (default 15 minutes, like OSS; negative disables the check).
	MaxClockSkew time.Duration
	// RestoreDelay is how long a RestoreObject (POST ?restore) stays
	// "ongoing" before the object becomes readable (default 0: at once).
	RestoreDelay time.Duration
	// EnableControl serves the /_emu/ control endpoints (faults, request
	// log) for out-of-process use.
	EnableControl bool
}

// Server is an in-memory OSS endpoint. Create it with New; it is an
// http.Handler, and Start serves it on a TCP address.
type Server struct {
	opts Options

	mu      sync.RWMutex
	buckets map[string]*bucket

	logMu  sync.Mutex
	reqLog []*Request

	// credMu guards opts.Credentials and opts.SecurityTokens, which
	// RotateCredentials replaces while requests are being verified.
	credMu sync.RWMutex
	temps  temporaryCredentials // sts.go

	faultMu sync.Mutex
	faults  Faults
	fstate  faultState

	writes writeState // multipart.go

	seq atomic.Uint64

	srvMu  sync.Mutex
	srv    *http.Server
	ln     net.Listener
	closed chan struct{}
	once   sync.Once
}

// New returns a Server with no buckets.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "cn-hangzhou"
	}
	if opts.MaxRequestLog <= 0 {
		opts.MaxRequestLog = 1_000_000
	}
	if opts.MaxClockSkew == 0 {
		opts.MaxClockSkew = 15 * time.Minute
	}
	return &Server{opts: opts, buckets: map[string]*bucket{}, closed: make(chan struct{})}
}

// Region returns the region the server signs for.
func (s *Server) Region() string { return s.opts.Region }

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

type logfWriter struct{ s *Server }

func (w logfWriter) Write(p []byte) (int, error) {
	w.s.logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the
// background. It returns the base URL, e.g. "http://127.0.0.1:PORT".
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	return s.Serve(ln), nil
}

// Serve serves on ln in the background and returns the base URL.
func (s *Server) Serve(ln net.Listener) string {
	var errLog *log.Logger
	if s.opts.Logf != nil {
		errLog = log.New(logfWriter{s}, "", 0)
	} else {
		errLog = log.New(io.Discard, "", 0)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: time.Minute, ErrorLog: errLog}
	s.srvMu.Lock()
	s.srv, s.ln = srv, ln
	s.srvMu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("ossemu: serve: %v", err)
		}
	}()
	return baseURL(ln.Addr())
}

func baseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// URL returns the base URL of the started server ("" before Start).
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return baseURL(s.ln.Addr())
}

// Close stops serving: it closes the listener and every connection, and
// ends stalls in progress.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.srvMu.Lock()
	srv := s.srv
	s.srvMu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	return err
}

// Request is one logged request.
type Request struct {
	Method   string
	Bucket   string
	Key      string // decoded object key; "" for bucket and service requests
	RawQuery string
	// Op names the operation served: GetObject, HeadObject, PutObject,
	// DeleteObject, RestoreObject, ListObjects, ListObjectsV2,
	// GetBucketInfo, GetBucketLocation, GetBucketAcl, HeadBucket,
	// PutBucket, DeleteBucket, ListBuckets, or "" when not routed.
	Op string
	// Request headers, verbatim.
	Range             string
	RangeBehavior     string // x-oss-range-behavior
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   string
	IfUnmodifiedSince string
	UserAgent         string
	// Authorization is "V4", "V1", "anonymous", "presigned" (refused) or
	// "unknown".
	Authorization string
	AccessKeyID   string
	Status        int    // 0 until the headers are written
	ErrorCode     string // OSS error code of an error response
	BodyBytes     int64  // response body bytes actually written
	// Fault lists the faults injected into this request, comma-separated:
	// "latency", "5xx", "bandwidth", "stall", "short", "reset".
	Fault      string
	RequestID  string
	RemoteAddr string
	Time       time.Time     // arrival
	Duration   time.Duration // until the handler returned
}

// Requests returns a copy of the request log, oldest first. An entry is
// appended when a request arrives and completed as it is served.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := make([]Request, len(s.reqLog))
	for i, r := range s.reqLog {
		out[i] = *r
	}
	return out
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	clear(s.reqLog)
	s.reqLog = s.reqLog[:0]
}

func (s *Server) appendLog(r *Request) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.reqLog = append(s.reqLog, r)
	max := s.opts.MaxRequestLog
	if len(s.reqLog) > max+max/8 {
		n := copy(s.reqLog, s.reqLog[len(s.reqLog)-max:])
		clear(s.reqLog[n:])
		s.reqLog = s.reqLog[:n]
	}
}

func (s *Server) newRequestID() string {
	return fmt.Sprintf("%08X%016X", uint32(time.Now().Unix()), s.seq.Add(1))
}

// call is one request being served.
type call struct {
	s      *Server
	w      *respWriter
	r      *http.Request
	bucket string
	key    string
	entry  *Request
	bps    int64  // body bandwidth cap (bytes/s), 0 = none
	proto  Faults // protocol faults in force for this request
}

func (c *call) update(f func(*Request)) {
	c.s.logMu.Lock()
	f(c.entry)
	c.s.logMu.Unlock()
}

func (c *call) setOp(op string) { c.update(func(r *Request) { r.Op = op }) }

func (c *call) addFault(f string) {
	c.update(func(r *Request) {
		if r.Fault == "" {
			r.Fault = f
		} else {
			r.Fault += "," + f
		}
	})
}

// respWriter records the status and the body bytes in the log entry. Bytes
// are counted before they are handed to the connection (and corrected on a
// short write), so a client that has read a byte always finds it logged.
type respWriter struct {
	http.ResponseWriter
	c           *call
	wroteHeader bool
}

func (w *respWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.c.update(func(r *Request) { r.Status = status })
	w.ResponseWriter.WriteHeader(status)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.c.update(func(r *Request) { r.BodyBytes += int64(len(p)) })
	n, err := w.ResponseWriter.Write(p)
	if n < len(p) {
		w.c.update(func(r *Request) { r.BodyBytes -= int64(len(p) - n) })
	}
	return n, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func authKind(r *http.Request) string {
	a := r.Header.Get("Authorization")
	q := r.URL.Query()
	switch {
	case strings.HasPrefix(a, "OSS4-HMAC-SHA256 "):
		return "V4"
	case strings.HasPrefix(a, "OSS "):
		return "V1"
	case a != "":
		return "unknown"
	case q.Has("x-oss-signature") || q.Has("Signature") || q.Has("OSSAccessKeyId"):
		return "presigned"
	}
	return "anonymous"
}

// resolve finds the bucket and key of a request: virtual-hosted style when
// the Host is "BUCKET.anything" and BUCKET exists, else path style.
func (s *Server) resolve(r *http.Request) (bucket, key string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) == nil {
		if name, _, ok := strings.Cut(host, "."); ok && name != "" {
			if _, exists := s.bucketACL(name); exists {
				return name, strings.TrimPrefix(r.URL.Path, "/")
			}
		}
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket, key
}

// ServeHTTP serves one OSS REST request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.EnableControl && strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.serveControl(w, r)
		return
	}
	start := time.Now()
	bucket, key := s.resolve(r)
	entry := &Request{
		Method: r.Method, Bucket: bucket, Key: key, RawQuery: r.URL.RawQuery,
		Range: r.Header.Get("Range"), RangeBehavior: r.Header.Get("x-oss-range-behavior"),
		IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match"),
		IfModifiedSince: r.Header.Get("If-Modified-Since"), IfUnmodifiedSince: r.Header.Get("If-Unmodified-Since"),
		UserAgent: r.UserAgent(), Authorization: authKind(r), RequestID: s.newRequestID(),
		RemoteAddr: r.RemoteAddr, Time: start,
	}
	c := &call{s: s, r: r, bucket: bucket, key: key, entry: entry}
	c.w = &respWriter{ResponseWriter: w, c: c}
	s.appendLog(entry)
	defer func() {
		c.update(func(e *Request) { e.Duration = time.Since(start) })
		if s.opts.LogRequests {
			e := *entry // racy fields are only written by this goroutine
			s.logf("%s %s %s?%s -> %d %s bytes=%d range=%q fault=%s id=%s %v",
				e.Authorization, e.Method, r.URL.Path, e.RawQuery, e.Status, e.ErrorCode, e.BodyBytes, e.Range, e.Fault, e.RequestID, e.Duration)
		}
	}()
	h := w.Header()
	h.Set("x-oss-request-id", entry.RequestID)
	h.Set("Server", "AliyunOSS")

	plan := s.planRequest(key)
	if plan.down {
		c.addFault("down")
		c.hangUp()
		return
	}
	c.proto = plan.proto
	if n := plan.proto.HugeHeaderBytes; n > 0 {
		c.addFault("huge-header")
		h.Set("x-oss-meta-huge", strings.Repeat("h", n))
	}
	if plan.latency > 0 {
		c.addFault("latency")
		if !c.sleep(plan.latency) {
			return
		}
	}
	if plan.status != 0 {
		c.addFault("5xx")
		c.fail(plan.status, ossError{Code: codeFor5xx(plan.status)})
		return
	}
	c.bps = plan.bytesPerSec
	s.route(c)
}

// Subresources the emulator knows but does not implement.
var (
	unsupportedObjectSub = []string{"acl", "tagging", "uploadId", "uploads", "append", "x-oss-process", "select", "seal", "cleanRestoredObject", "partNumber"}
	unsupportedBucketSub = []string{"uploads", "versions", "versioning", "cors", "lifecycle", "policy", "tagging", "website",
		"referer", "logging", "encryption", "worm", "replication", "stat", "inventory", "delete", "requestPayment"}
)

func hasAny(q map[string][]string, names []string) string {
	for _, n := range names {
		if _, ok := q[n]; ok {
			return n
		}
	}
	return ""
}

func (s *Server) route(c *call) {
	r := c.r
	q := r.URL.Query()
	if c.bucket == "" {
		if r.Method == http.MethodGet {
			c.listBuckets()
			return
		}
		c.fail(http.StatusMethodNotAllowed, ossError{Code: "MethodNotAllowed"})
		return
	}
	acl, exists := s.bucketACL(c.bucket)
	if c.key == "" {
		if r.Method == http.MethodPut && len(q) == 0 {
			c.putBucket(exists)
			return
		}
		if !exists {
			c.fail(http.StatusNotFound, ossError{Code: "NoSuchBucket"})
			return
		}
		if c.writeBucketRoute(acl, q) { // multipart.go
			return
		}
		if sub := hasAny(q, unsupportedBucketSub); sub != "" {
			c.notImplemented(ossError{Code: "NotImplemented", Message: "The emulator does not implement ?" + sub + "."})
			return
		}
		switch r.Method {
		case http.MethodGet:
			switch {
			case q.Has("location"):
				c.setOp("GetBucketLocation")
				if c.authorize(acl, false) {
					c.bucketLocation()
				}
			case q.Has("bucketInfo"):
				c.setOp("GetBucketInfo")
				if c.authorize(acl, false) {
					c.bucketInfo(acl)
				}
			case q.Has("acl"):
				c.setOp("GetBucketAcl")
				if c.authorize(acl, false) {
					c.bucketACLResponse(acl)
				}
			case q.Get("list-type") == "2":
				c.setOp("ListObjectsV2")
				if c.authorize(acl, false) {
					c.listObjects(true)
				}
			default:
				c.setOp("ListObjects")
				if c.authorize(acl, false) {
					c.listObjects(false)
				}
			}
		case http.MethodHead:
			c.setOp("HeadBucket")
			if c.authorize(acl, false) {
				c.w.WriteHeader(http.StatusOK)
			}
		case http.MethodDelete:
			c.setOp("DeleteBucket")
			if c.authorize(acl, true) {
				c.deleteBucket()
			}
		default:
			c.fail(http.StatusMethodNotAllowed, ossError{Code: "MethodNotAllowed"})
		}
		return
	}
	if !exists {
		c.fail(http.StatusNotFound, ossError{Code: "NoSuchBucket"})
		return
	}
	if q.Has("symlink") {
		c.symlink(acl)
		return
	}
	if c.writeObjectRoute(acl, q) { // multipart.go
		return
	}
	if sub := hasAny(q, unsupportedObjectSub); sub != "" {
		c.notImplemented(ossError{Code: "NotImplemented", Message: "The emulator does not implement ?" + sub + "."})
		return
	}
	switch r.Method {
	case http.MethodGet:
		c.setOp("GetObject")
		if c.authorize(acl, false) {
			c.getObject(false)
		}
	case http.MethodHead:
		c.setOp("HeadObject")
		if c.authorize(acl, false) {
			c.getObject(true)
		}
	case http.MethodPut:
		c.setOp("PutObject")
		if c.authorize(acl, true) {
			c.putObject()
		}
	case http.MethodDelete:
		c.setOp("DeleteObject")
		if c.authorize(acl, true) {
			c.deleteObject()
		}
	case http.MethodPost:
		if !q.Has("restore") {
			c.fail(http.StatusMethodNotAllowed, ossError{Code: "MethodNotAllowed"})
			return
		}
		c.setOp("RestoreObject")
		if c.authorize(acl, true) {
			c.restoreObject()
		}
	default:
		c.fail(http.StatusMethodNotAllowed, ossError{Code: "MethodNotAllowed"})
	}
}
