// Package store is the boundary between ossmount's core and an object
// store. It is backend-neutral: what the core needs to know of an object
// (ObjectInfo), the requests it sends (GetRequest, a listing's ListPage),
// how a request fails (RequestError, whose Kind is one of the sentinels
// below, and ErrorKind, the classes errors are counted by), how two
// versions are compared (SameETag) and the small interfaces the core calls
// (Getter, Lister, SymlinkReader). Nothing here knows a header name or an
// error code of a particular service.
//
// The Alibaba Cloud OSS implementation is package store/oss, the only code
// of ossmount that knows OSS header names and error codes: its SDK client,
// the streaming ListObjectsV2 decoder, the classification of answers into
// the sentinels here, and the request counters. A second backend is a
// sibling package implementing the same interfaces.
//
// # Writes
//
// The write calls land in the same two places. Their neutral shapes
// (requests, answers, the interfaces the upload engine calls: Putter for
// PutObject, Multipart for InitiateMultipartUpload, UploadPart,
// UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload and
// ListMultipartUploads/ListParts, Copier for CopyObject, Deleter for
// DeleteObject, and PutSymlink) go in this package, in a file of their own
// (write.go); their OSS implementations go in store/oss (put.go,
// multipart.go, copy.go, delete.go), classified and counted like the read
// calls and retried by the same policy (internal/retry). Write-specific
// sentinels (a create that finds the key taken: 409 FileAlreadyExists →
// ErrExists) join the list below, each with its ErrorKind. The upload
// engine itself (parts in flight, memory bound, journal) is package upload,
// above this boundary, beside the fetcher.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Getter is the object-store call the fetcher needs: one (ranged,
// conditional) GET.
type Getter interface {
	Get(ctx context.Context, req GetRequest) (*GetResponse, error)
}

// Lister is what the namespace needs from the object store.
type Lister interface {
	// List returns one page of the listing of prefix (delimiter "/").
	List(ctx context.Context, prefix, token string, maxKeys int) (ListPage, error)
	// ListAll calls fn with every page of the listing of prefix, in order.
	ListAll(ctx context.Context, prefix string, fn func(ListPage) error) error
	Head(ctx context.Context, key string) (ObjectInfo, error)
}

// SymlinkReader reads the target of a symbolic link object.
type SymlinkReader interface {
	// ReadSymlink returns the target key of the link at key and the
	// link's ETag.
	ReadSymlink(ctx context.Context, key string) (target, etag string, err error)
}

// GetRequest is one ranged, conditional GET of an object.
type GetRequest struct {
	Key string
	// Start and End are the inclusive byte range; End < 0 means "to the end",
	// Start == 0 && End < 0 means no Range header at all.
	Start, End      int64
	IfMatch         string    // ETag the object must still have (412 otherwise)
	IfNoneMatch     string    // ETag for a 304 answer
	IfModifiedSince time.Time // zero: not sent
}

// TypeSymlink is the object type of a symbolic link: an object that names
// another key of the bucket, its target.
const TypeSymlink = "Symlink"

// ObjectInfo is what a GET, a HEAD or a listing tells about an object version.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // with quotes, as the store sends it
	LastModified time.Time
	CRC64        uint64 // CRC64-ECMA of the whole object, when the store sent it
	HasCRC64     bool
	StorageClass string
	Restore      string // restore status, for archived objects
	// Type is the store's object type: Normal, Multipart, Appendable, or
	// Symlink (TypeSymlink).
	Type string
	// SymlinkTarget is a link's target key, when the answer named it (a
	// HEAD of the link does; listings do not: SymlinkReader).
	SymlinkTarget string
}

// ListPage is one page of a delimited listing.
type ListPage struct {
	Objects   []ObjectInfo // Key is the full key
	Prefixes  []string     // full common prefixes, ending in the delimiter
	NextToken string       // "" when this was the last page
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

// SameETag reports whether two ETags name the same version: quotes aside,
// and case aside (an ETag is a hex digest, which tools print in either
// case). Every comparison of versions goes through it: the open's
// revalidation, the part check and the xattr.
func SameETag(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, `"`), strings.Trim(b, `"`))
}

// RequestError describes one failed request: which call, which key, the
// HTTP status, the OSS error code and request id (for logs and support).
type RequestError struct {
	Op        string // "GET", "HEAD", "LIST", ...
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

// Retryable reports whether err is worth another attempt.
func Retryable(err error) bool {
	return errors.Is(err, ErrTransient) || errors.Is(err, ErrProtocol)
}
