package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Store is the object-store call the fetcher needs: one (ranged, conditional) GET.
// The OSS SDK sits behind it in production (OSSStore); tests use a fake.
type Store interface {
	Get(ctx context.Context, req GetRequest) (*GetResponse, error)
}

// GetRequest is one ranged, conditional GET of an object.
type GetRequest struct {
	Key string
	// Start and End are the inclusive byte range; End < 0 means "to the end",
	// Start == 0 && End < 0 means no Range header at all.
	Start, End        int64
	IfMatch           string    // ETag the object must still have (412 otherwise)
	IfNoneMatch       string    // ETag for a 304 answer
	IfModifiedSince   time.Time // zero: not sent
	IfUnmodifiedSince time.Time // zero: not sent
}

// ObjectInfo is what a GET or HEAD tells about an object version.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // with quotes, as OSS sends it
	LastModified time.Time
	CRC64        uint64 // x-oss-hash-crc64ecma of the whole object
	HasCRC64     bool
	StorageClass string
	Restore      string // x-oss-restore, for Archive objects
	// Type is OSS's object type (x-oss-object-type, a listing's <Type>):
	// Normal, Multipart, Appendable, or Symlink (TypeSymlink).
	Type string
	// SymlinkTarget is a link's target key, when the answer named it (a
	// HEAD of the link does; listings do not: ReadSymlink).
	SymlinkTarget string
}

// GetResponse is a successful (200/206) GET. Body must be closed.
type GetResponse struct {
	Info       ObjectInfo
	StatusCode int
	// RangeStart is the offset of the first body byte (from Content-Range),
	// 0 for a 200 answer.
	RangeStart    int64
	ContentLength int64
	RequestID     string
	Body          io.ReadCloser
}

// Sentinel error kinds. Every error a Store returns for a service answer
// wraps one of these (through *RequestError), so callers test with errors.Is.
var (
	ErrNotFound     = errors.New("no such object")
	ErrNotModified  = errors.New("not modified")
	ErrChanged      = errors.New("object changed while being read") // 412 on If-Match
	ErrAccessDenied = errors.New("access denied")
	// ErrArchived: Archive / Cold Archive object that is not restored (InvalidObjectState).
	ErrArchived = errors.New("object is archived and not restored")
	// ErrTransient marks failures worth retrying (5xx, 408, 429, resets,
	// timeouts, short bodies) and, after the retries, the final I/O error.
	ErrTransient = errors.New("transient object-store failure")
	// ErrProtocol: the server answered something impossible (wrong range,
	// absurd size). Treated as transient by the retry loop.
	ErrProtocol = errors.New("unexpected answer from object store")
	// ErrRejected: a 4xx answer that retrying cannot fix (400, 403 other
	// than the above, ...).
	ErrRejected = errors.New("request rejected by object store")
	// ErrEndpoint: the endpoint cannot be talked to as configured, and
	// retrying cannot change that: its host name does not resolve, it
	// answers plain HTTP to https:// (or not TLS at all), or its TLS
	// certificate is not valid.
	ErrEndpoint = errors.New("endpoint unusable")
	// ErrRangeNotSatisfiable: 416, the answer of a server that follows RFC
	// 7233 (OSS under x-oss-range-behavior: standard, MinIO) to a range
	// that starts at or past the object's end; for a range from offset 0
	// it means the object is empty. An answer, not a failure: not counted
	// as an error.
	ErrRangeNotSatisfiable = errors.New("range not satisfiable")
)

// SameETag compares ETags as OSS writes them, quotes and case aside.
func SameETag(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

// RequestError describes one failed request: which call, which key, the
// HTTP status, the OSS error code and request id (for logs and support).
type RequestError struct {
	Op        string // "GET", "HEAD", "LIST"
	Key       string
	Status    int
	Code      string
	RequestID string
	Kind      error // one of the sentinels above
	Err       error // underlying cause, may be nil
	// ETag is the ETag header of a 304 answer: the version the server
	// found unchanged ("" when it sent none).
	ETag string
}

func (e *RequestError) Error() string {
	s := fmt.Sprintf("%s %q: %v", e.Op, e.Key, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		if e.Code != "" {
			s += " " + e.Code
		}
		s += ")"
	}
	if e.RequestID != "" {
		s += " request-id " + e.RequestID
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RequestError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// retryable reports whether err is worth another attempt.
func retryable(err error) bool {
	return errors.Is(err, ErrTransient) || errors.Is(err, ErrProtocol)
}

// shorterThanVersion turns a 416 to a range inside the version being read
// into ErrChanged: the object is shorter now, so it changed (a server that
// checks the range before If-Match answers so instead of 412).
func shorterThanVersion(err error) error {
	var re *RequestError
	if !errors.As(err, &re) || !errors.Is(err, ErrRangeNotSatisfiable) {
		return err
	}
	changed := *re
	changed.Kind, changed.Err = ErrChanged, fmt.Errorf("range not satisfiable: the object is shorter than the version being read")
	return &changed
}
