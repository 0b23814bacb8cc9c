package store

import (
	"context"
	"errors"
	"time"
)

// Writer is what the upload engine (package upload) needs from the object
// store: the write calls, with neutral request and result types. Implementations
// retry transient failures themselves (a request's body is a byte slice, so
// it can be sent again) and return errors that wrap the sentinels below
// where they apply.
type Writer interface {
	// Put stores an object in one request.
	Put(ctx context.Context, req PutRequest) (Committed, error)
	// InitiateMultipart starts a multipart upload and returns its id.
	InitiateMultipart(ctx context.Context, key string, forbidOverwrite bool) (uploadID string, err error)
	// UploadPart uploads part number req.Number (1-based) of an upload.
	UploadPart(ctx context.Context, req PartRequest) (PartResult, error)
	// UploadPartCopy makes a part of bytes [Start, End] of another object,
	// server-side, only if that object still has the ETag IfMatch.
	UploadPartCopy(ctx context.Context, req CopyPartRequest) (PartResult, error)
	// Complete commits the upload from its parts.
	Complete(ctx context.Context, req CompleteRequest) (Committed, error)
	// Abort discards an upload and its parts.
	Abort(ctx context.Context, key, uploadID string) error
	// ListMultipartUploads lists the uploads in progress under prefix.
	ListMultipartUploads(ctx context.Context, prefix string) ([]InProgress, error)
	// Copy copies an object server-side (IfMatch: only that version).
	Copy(ctx context.Context, req CopyRequest) (Committed, error)
	// Delete removes an object (no error when it does not exist).
	Delete(ctx context.Context, key string) error
	// Stat describes the object now stored under key (a HEAD).
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// PutSymlink stores a symbolic link at key to targetKey (a key of the
	// same bucket, which need not exist). With forbidOverwrite it fails
	// with ErrExists when key exists.
	PutSymlink(ctx context.Context, key, targetKey string, forbidOverwrite bool) (Committed, error)
}

// Sentinel errors a Writer wraps (besides ErrNotFound).
var (
	// ErrExists: the key exists and the request forbade overwriting it
	// (409 FileAlreadyExists).
	ErrExists = errors.New("object already exists")
	// ErrSourceChanged: the source of a copy no longer has the ETag the
	// request named (412).
	ErrSourceChanged = errors.New("source object changed")
	// ErrNoSuchUpload: the upload id is unknown (completed or aborted).
	ErrNoSuchUpload = errors.New("no such upload")
)

// PutRequest stores Body under Key in one request.
type PutRequest struct {
	Key             string
	Body            []byte
	ForbidOverwrite bool
}

// PartRequest is one part of a multipart upload.
type PartRequest struct {
	Key, UploadID string
	Number        int
	Body          []byte
}

// PartResult is what the server says of a stored part.
type PartResult struct {
	ETag     string
	CRC64    uint64 // x-oss-hash-crc64ecma of the part
	HasCRC64 bool
}

// CopyPartRequest makes part Number of bytes [Start, End] (inclusive) of
// SourceKey, if SourceKey still has the ETag IfMatch.
type CopyPartRequest struct {
	Key, UploadID string
	Number        int
	SourceKey     string
	IfMatch       string
	Start, End    int64
}

// CompleteRequest commits an upload from its parts (in order).
type CompleteRequest struct {
	Key, UploadID   string
	Parts           []CompletedPart
	ForbidOverwrite bool
}

// CompletedPart names a part of an upload.
type CompletedPart struct {
	Number int
	ETag   string
}

// Committed describes a committed object as the commit's answer did.
type Committed struct {
	ETag     string
	CRC64    uint64
	HasCRC64 bool
}

// CopyRequest copies SourceKey to Key.
type CopyRequest struct {
	Key, SourceKey  string
	IfMatch         string // "" for any version
	ForbidOverwrite bool
}

// InProgress is an upload that was initiated and neither completed nor
// aborted.
type InProgress struct {
	Key, UploadID string
	Initiated     time.Time
}
