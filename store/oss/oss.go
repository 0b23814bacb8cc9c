// Package oss is the Alibaba Cloud OSS implementation of the store
// boundary (package store), over the OSS Go SDK v2: the SDK client
// (endpoint, path style, transport, credentials that renew), the streaming
// ListObjectsV2 decoder (list.go), the classification of OSS answers into
// store's sentinels by HTTP status and OSS error code (classify), and the
// request counters (stats.go). It is the only package of ossmount that
// knows OSS header names and error codes.
//
// The write calls (PutObject, the multipart calls, CopyObject,
// DeleteObject, PutSymlink) implement store.Writer in write.go, through the
// same withRenewal, classify, counters and retry policy as the read calls.
package oss

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/transport"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/internal/retry"
	"github.com/ossmount/ossmount/store"
)

// Config is what Store needs to reach a bucket.
type Config struct {
	Endpoint    string // URL; an IP or localhost host is always path-style
	Region      string
	Bucket      string
	PathStyle   bool
	Credentials credentials.CredentialsProvider // nil = anonymous
	// Parallel sizes the connection pool: every concurrent GET keeps its
	// connection alive for the next one.
	Parallel int
	// ReadTimeout bounds one read of a response body (an idle deadline).
	ReadTimeout time.Duration
	// Retries is how often a HEAD or LIST that failed transiently is sent
	// again, with backoff (GETs are the fetcher's to retry).
	Retries int
	Logger  *slog.Logger // each request at debug level; never credentials
}

// Store implements store.Getter, store.Lister, store.SymlinkReader and store.Writer
// with the Alibaba Cloud OSS Go SDK v2. The SDK's own retryer is turned off:
// the fetcher retries uniformly, resuming bodies from the last byte received.
type Store struct {
	client  *sdk.Client
	bucket  string
	log     *slog.Logger
	counts  requestCounters
	retries int
	renewer Renewer // nil: the credentials cannot be renewed
}

// New builds the SDK client. It makes no request.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad endpoint %q", cfg.Endpoint)
	}
	host := u.Hostname()
	pathStyle := cfg.PathStyle || config.PathStyleHost(host)
	prov := cfg.Credentials
	if prov == nil {
		prov = credentials.NewAnonymousCredentialsProvider()
	}
	par := max(cfg.Parallel, 1)
	rt := cfg.ReadTimeout
	if rt <= 0 {
		rt = config.DefaultReadTimeout
	}
	connect := 5 * time.Second
	httpClient := transport.NewHttpClient(&transport.Config{
		ConnectTimeout:   &connect,
		ReadWriteTimeout: &rt,
	}, func(t *http.Transport) {
		t.MaxConnsPerHost = 0
		t.MaxIdleConnsPerHost = par + 8
		t.MaxIdleConns = par + 8
		t.ResponseHeaderTimeout = rt
		// OSS headers are a few KiB (user metadata is limited to 8 KiB); a
		// server sending megabytes of them is refused, not buffered.
		t.MaxResponseHeaderBytes = 1 << 20
		t.Proxy = http.ProxyFromEnvironment
	})
	c := sdk.LoadDefaultConfig().
		WithEndpoint(cfg.Endpoint).
		WithRegion(cfg.Region).
		WithCredentialsProvider(prov).
		WithUsePathStyle(pathStyle).
		WithRetryMaxAttempts(1).
		// Uploads are checked by the upload engine (package upload).
		WithDisableUploadCRC64Check(true).
		WithHttpClient(httpClient)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	renewer, _ := prov.(Renewer)
	return &Store{client: sdk.NewClient(c), bucket: cfg.Bucket, log: log, retries: max(cfg.Retries, 0), renewer: renewer}, nil
}

func httpDate(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(http.TimeFormat)
	return &s
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Get implements Store.
func (s *Store) Get(ctx context.Context, req store.GetRequest) (_ *store.GetResponse, err error) {
	defer func() { s.counts.record(OpGet, req.IfNoneMatch != "" || !req.IfModifiedSince.IsZero(), err) }()
	in := &sdk.GetObjectRequest{
		Bucket:          sdk.Ptr(s.bucket),
		Key:             sdk.Ptr(req.Key),
		IfMatch:         strp(req.IfMatch),
		IfNoneMatch:     strp(req.IfNoneMatch),
		IfModifiedSince: httpDate(req.IfModifiedSince),
	}
	rng := ""
	if req.Start > 0 || req.End >= 0 {
		if req.End >= 0 {
			rng = fmt.Sprintf("bytes=%d-%d", req.Start, req.End)
		} else {
			rng = fmt.Sprintf("bytes=%d-", req.Start)
		}
		in.Range = &rng
	}
	t0 := time.Now()
	out, err := withRenewal(ctx, s, "GET", req.Key, func() (*sdk.GetObjectResult, error) { return s.client.GetObject(ctx, in) })
	if err != nil {
		rerr := classify("GET", req.Key, err)
		s.logRequest("GET", req, rng, rerr, t0)
		return nil, rerr
	}
	resp := &store.GetResponse{
		Info:          infoFromHeaders(req.Key, out.Headers, out.ContentLength, out.ETag, out.LastModified, out.StorageClass),
		StatusCode:    out.StatusCode,
		ContentLength: out.ContentLength,
		RequestID:     out.Headers.Get("x-oss-request-id"),
		Body:          out.Body,
	}
	if out.StatusCode == http.StatusPartialContent {
		start, total, perr := parseContentRange(deref(out.ContentRange))
		if perr != nil {
			out.Body.Close()
			return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: out.StatusCode, RequestID: resp.RequestID, Kind: store.ErrProtocol, Err: perr}
		}
		resp.RangeStart = start
		resp.Info.Size = total
	}
	if resp.Info.Size < 0 || resp.ContentLength < 0 {
		out.Body.Close()
		return nil, &store.RequestError{Op: "GET", Key: req.Key, Status: out.StatusCode, RequestID: resp.RequestID, Kind: store.ErrProtocol,
			Err: fmt.Errorf("negative size %d / length %d", resp.Info.Size, resp.ContentLength)}
	}
	s.log.Debug("oss request", "op", "GET", "key", req.Key, "range", rng, "if_match", req.IfMatch,
		"if_none_match", req.IfNoneMatch, "if_modified_since", deref(in.IfModifiedSince),
		"status", out.StatusCode, "request_id", resp.RequestID, "duration", time.Since(t0))
	return resp, nil
}

func (s *Store) logRequest(op string, req store.GetRequest, rng string, err error, t0 time.Time) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	var re *store.RequestError
	status, rid := 0, ""
	if errors.As(err, &re) {
		status, rid = re.Status, re.RequestID
	}
	s.log.Debug("oss request", "op", op, "key", req.Key, "range", rng, "if_match", req.IfMatch,
		"if_none_match", req.IfNoneMatch, "status", status, "request_id", rid,
		"duration", time.Since(t0), "err", err)
}

// retryMeta runs a metadata request, again after transient failures (5xx,
// resets, timeouts, garbled answers) up to the configured retries, with the
// policy as every request path (internal/retry).
func retryMeta[T any](ctx context.Context, s *Store, op, key string, once func() (T, error)) (T, error) {
	return retry.Do(ctx, s.retries, store.Retryable, func(attempt int, err error) {
		s.log.Warn("request failed, retrying", "op", op, "key", key, "err", err, "attempt", attempt)
	}, once)
}

// Head returns an object's metadata.
func (s *Store) Head(ctx context.Context, key string) (store.ObjectInfo, error) {
	return retryMeta(ctx, s, "HEAD", key, func() (store.ObjectInfo, error) { return s.headOnce(ctx, key) })
}

func (s *Store) headOnce(ctx context.Context, key string) (_ store.ObjectInfo, err error) {
	defer func() { s.counts.record(OpHead, false, err) }()
	t0 := time.Now()
	out, err := withRenewal(ctx, s, "HEAD", key, func() (*sdk.HeadObjectResult, error) {
		return s.client.HeadObject(ctx, &sdk.HeadObjectRequest{Bucket: sdk.Ptr(s.bucket), Key: sdk.Ptr(key)})
	})
	if err != nil {
		rerr := classify("HEAD", key, err)
		s.logRequest("HEAD", store.GetRequest{Key: key}, "", rerr, t0)
		return store.ObjectInfo{}, rerr
	}
	s.log.Debug("oss request", "op", "HEAD", "key", key, "status", out.StatusCode,
		"request_id", out.Headers.Get("x-oss-request-id"), "duration", time.Since(t0))
	info := infoFromHeaders(key, out.Headers, out.ContentLength, out.ETag, out.LastModified, out.StorageClass)
	if info.Size < 0 {
		return store.ObjectInfo{}, &store.RequestError{Op: "HEAD", Key: key, Status: out.StatusCode, Kind: store.ErrProtocol, Err: fmt.Errorf("negative size %d", info.Size)}
	}
	return info, nil
}

func infoFromHeaders(key string, h http.Header, length int64, etag *string, lm *time.Time, sc *string) store.ObjectInfo {
	info := store.ObjectInfo{Key: key, Size: length, ETag: deref(etag), StorageClass: deref(sc), Restore: h.Get("x-oss-restore"),
		Type: h.Get("x-oss-object-type"), SymlinkTarget: symlinkTarget(h.Get("x-oss-symlink-target"))}
	if lm != nil {
		info.LastModified = *lm
	}
	if v := h.Get("x-oss-hash-crc64ecma"); v != "" {
		if c, err := strconv.ParseUint(v, 10, 64); err == nil {
			info.CRC64, info.HasCRC64 = c, true
		}
	}
	return info
}

// parseContentRange parses "bytes START-END/TOTAL".
func parseContentRange(v string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("bad Content-Range %q", v)
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("bad Content-Range %q", v)
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, fmt.Errorf("bad Content-Range %q", v)
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	total, err3 := strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || total <= end {
		return 0, 0, fmt.Errorf("bad Content-Range %q", v)
	}
	return start, total, nil
}

// classify turns an SDK error into a *store.RequestError with a sentinel kind.
func classify(op, key string, err error) error {
	if errors.Is(err, context.Canceled) {
		// The caller's own context: not an object-store failure.
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	var se *sdk.ServiceError
	if errors.As(err, &se) {
		re := &store.RequestError{Op: op, Key: key, Status: se.StatusCode, Code: se.Code, RequestID: se.RequestID}
		if re.RequestID == "" && se.Headers != nil {
			re.RequestID = se.Headers.Get("x-oss-request-id")
		}
		if re.Code == "BadErrorResponse" {
			re.Code = ""
		}
		switch {
		case se.StatusCode == http.StatusNotModified:
			re.Kind = store.ErrNotModified
			if se.Headers != nil {
				re.ETag = se.Headers.Get("ETag")
			}
		case se.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			re.Kind = store.ErrRangeNotSatisfiable
		case se.StatusCode == http.StatusPreconditionFailed:
			re.Kind = store.ErrChanged
		case se.StatusCode == http.StatusNotFound:
			re.Kind = store.ErrNotFound
		case se.StatusCode == http.StatusForbidden && se.Code == "InvalidObjectState":
			re.Kind = store.ErrArchived
		case se.StatusCode == http.StatusForbidden || se.StatusCode == http.StatusUnauthorized:
			re.Kind = store.ErrAccessDenied
		case se.StatusCode >= 500 || se.StatusCode == http.StatusRequestTimeout || se.StatusCode == http.StatusTooManyRequests:
			re.Kind = store.ErrTransient
		default:
			// 4xx other than the above (400...) will not get better by retrying.
			re.Kind = store.ErrRejected
			if se.Message != "" {
				re.Err = errors.New(se.Message)
			}
		}
		return re
	}
	if endpointUnusable(err) {
		return &store.RequestError{Op: op, Key: key, Kind: store.ErrEndpoint, Err: err}
	}
	// Connection refused/reset, timeouts, short reads: transient.
	return &store.RequestError{Op: op, Key: key, Kind: store.ErrTransient, Err: err}
}

// endpointUnusable reports whether err says the endpoint itself is wrong,
// which no retry fixes: a host name that does not exist (a DNS timeout or
// server failure stays transient), plain HTTP where TLS was expected, or a
// certificate that does not verify.
func endpointUnusable(err error) bool {
	var dns *net.DNSError
	var rec tls.RecordHeaderError
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	return errors.As(err, &dns) && dns.IsNotFound ||
		errors.Is(err, http.ErrSchemeMismatch) ||
		errors.As(err, &rec) || errors.As(err, &cert) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname)
}
