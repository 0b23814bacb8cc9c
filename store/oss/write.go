package oss

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/ossmount/ossmount/store"
)

// The write calls of Store: it implements store.Writer. Each request is
// sent again after transient failures (retryMeta: its body is a byte slice
// read anew each time); errors are classified like the reads' and, where
// the upload engine must tell them apart, also wrap store's write sentinels.
//
// The SDK's own CRC64 check of uploads is turned off (New): the
// engine computes every part's CRC64 anyway (it needs them for the
// combined CRC64 of the object), compares each with the server's and sends
// a damaged part again itself, so checking twice would only cost CPU.

var _ store.Writer = (*Store)(nil)

// writeErr classifies an SDK error of a write call.
func writeErr(op, key string, err error) error {
	rerr := classify(op, key, err)
	var se *oss.ServiceError
	if !errors.As(err, &se) {
		return rerr
	}
	switch {
	case se.StatusCode == http.StatusConflict && se.Code == "FileAlreadyExists":
		return fmt.Errorf("%w: %w", store.ErrExists, rerr)
	case se.Code == "NoSuchUpload":
		return fmt.Errorf("%w: %w", store.ErrNoSuchUpload, rerr)
	case se.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", store.ErrSourceChanged, rerr)
	}
	return rerr
}

func forbid(b bool) *string {
	if b {
		return oss.Ptr("true")
	}
	return nil
}

func crcOf(s *string) (uint64, bool) {
	if s == nil {
		return 0, false
	}
	c, err := strconv.ParseUint(*s, 10, 64)
	return c, err == nil
}

// committed describes a commit's answer.
func committed(etag, crc *string) store.Committed {
	c := store.Committed{ETag: deref(etag)}
	c.CRC64, c.HasCRC64 = crcOf(crc)
	return c
}

// writeCall runs one write request with renewal and retries, logging it at
// debug level.
func writeCall[T any](ctx context.Context, s *Store, op, key string, once func() (T, error)) (T, error) {
	t0 := time.Now()
	v, err := retryMeta(ctx, s, op, key, func() (T, error) {
		v, err := withRenewal(ctx, s, op, key, once)
		if err != nil {
			err = writeErr(op, key, err)
		}
		s.counts.record(op, false, err) // each attempt, as the reads are
		return v, err
	})
	s.log.Debug("oss request", "op", op, "key", key, "duration", time.Since(t0), "err", err)
	return v, err
}

// Put implements store.Writer.
func (s *Store) Put(ctx context.Context, req store.PutRequest) (store.Committed, error) {
	sum := md5.Sum(req.Body)
	out, err := writeCall(ctx, s, "PUT", req.Key, func() (*oss.PutObjectResult, error) {
		return s.client.PutObject(ctx, &oss.PutObjectRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), Body: bytes.NewReader(req.Body),
			ContentLength: oss.Ptr(int64(len(req.Body))), ContentMD5: oss.Ptr(base64.StdEncoding.EncodeToString(sum[:])),
			ForbidOverwrite: forbid(req.ForbidOverwrite),
		})
	})
	if err != nil {
		return store.Committed{}, err
	}
	return committed(out.ETag, out.HashCRC64), nil
}

// InitiateMultipart implements store.Writer.
func (s *Store) InitiateMultipart(ctx context.Context, key string, forbidOverwrite bool) (string, error) {
	out, err := writeCall(ctx, s, "INITIATE", key, func() (*oss.InitiateMultipartUploadResult, error) {
		return s.client.InitiateMultipartUpload(ctx, &oss.InitiateMultipartUploadRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(key), ForbidOverwrite: forbid(forbidOverwrite),
		})
	})
	if err != nil {
		return "", err
	}
	if deref(out.UploadId) == "" {
		return "", &store.RequestError{Op: "INITIATE", Key: key, Kind: store.ErrProtocol, Err: errors.New("no upload id in the answer")}
	}
	return *out.UploadId, nil
}

// UploadPart implements store.Writer.
func (s *Store) UploadPart(ctx context.Context, req store.PartRequest) (store.PartResult, error) {
	out, err := writeCall(ctx, s, "UPLOADPART", req.Key, func() (*oss.UploadPartResult, error) {
		return s.client.UploadPart(ctx, &oss.UploadPartRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), UploadId: oss.Ptr(req.UploadID),
			PartNumber: int32(req.Number), Body: bytes.NewReader(req.Body), ContentLength: oss.Ptr(int64(len(req.Body))),
		})
	})
	if err != nil {
		return store.PartResult{}, err
	}
	return store.PartResult(committed(out.ETag, out.HashCRC64)), nil
}

// UploadPartCopy implements store.Writer.
func (s *Store) UploadPartCopy(ctx context.Context, req store.CopyPartRequest) (store.PartResult, error) {
	out, err := writeCall(ctx, s, "UPLOADPARTCOPY", req.Key, func() (*oss.UploadPartCopyResult, error) {
		return s.client.UploadPartCopy(ctx, &oss.UploadPartCopyRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), UploadId: oss.Ptr(req.UploadID), PartNumber: int32(req.Number),
			SourceKey: oss.Ptr(req.SourceKey), IfMatch: strp(req.IfMatch),
			Range: oss.Ptr(fmt.Sprintf("bytes=%d-%d", req.Start, req.End)),
		})
	})
	if err != nil {
		return store.PartResult{}, err
	}
	return store.PartResult{ETag: deref(out.ETag)}, nil
}

// Complete implements store.Writer.
func (s *Store) Complete(ctx context.Context, req store.CompleteRequest) (store.Committed, error) {
	parts := make([]oss.UploadPart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = oss.UploadPart{PartNumber: int32(p.Number), ETag: oss.Ptr(p.ETag)}
	}
	out, err := writeCall(ctx, s, "COMPLETE", req.Key, func() (*oss.CompleteMultipartUploadResult, error) {
		return s.client.CompleteMultipartUpload(ctx, &oss.CompleteMultipartUploadRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), UploadId: oss.Ptr(req.UploadID),
			ForbidOverwrite: forbid(req.ForbidOverwrite), CompleteMultipartUpload: &oss.CompleteMultipartUpload{Parts: parts},
		})
	})
	if err != nil {
		return store.Committed{}, err
	}
	return committed(out.ETag, out.HashCRC64), nil
}

// Abort implements store.Writer.
func (s *Store) Abort(ctx context.Context, key, uploadID string) error {
	_, err := writeCall(ctx, s, "ABORT", key, func() (*oss.AbortMultipartUploadResult, error) {
		return s.client.AbortMultipartUpload(ctx, &oss.AbortMultipartUploadRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(key), UploadId: oss.Ptr(uploadID)})
	})
	return err
}

// ListMultipartUploads implements store.Writer.
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]store.InProgress, error) {
	var out []store.InProgress
	var keyMarker, idMarker *string
	for {
		page, err := writeCall(ctx, s, "LISTUPLOADS", prefix, func() (*oss.ListMultipartUploadsResult, error) {
			return s.client.ListMultipartUploads(ctx, &oss.ListMultipartUploadsRequest{
				Bucket: oss.Ptr(s.bucket), Prefix: strp(prefix), KeyMarker: keyMarker, UploadIdMarker: idMarker})
		})
		if err != nil {
			return nil, err
		}
		for _, u := range page.Uploads {
			in := store.InProgress{Key: deref(u.Key), UploadID: deref(u.UploadId)}
			if u.Initiated != nil {
				in.Initiated = *u.Initiated
			}
			out = append(out, in)
		}
		if !page.IsTruncated {
			return out, nil
		}
		keyMarker, idMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

// Copy implements store.Writer.
func (s *Store) Copy(ctx context.Context, req store.CopyRequest) (store.Committed, error) {
	out, err := writeCall(ctx, s, "COPY", req.Key, func() (*oss.CopyObjectResult, error) {
		return s.client.CopyObject(ctx, &oss.CopyObjectRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), SourceKey: oss.Ptr(req.SourceKey),
			IfMatch: strp(req.IfMatch), ForbidOverwrite: forbid(req.ForbidOverwrite),
		})
	})
	if err != nil {
		return store.Committed{}, err
	}
	return committed(out.ETag, out.HashCRC64), nil
}

// Delete implements store.Writer.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := writeCall(ctx, s, "DELETE", key, func() (*oss.DeleteObjectResult, error) {
		return s.client.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(key)})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Stat implements store.Writer: a HEAD, described for the upload engine.
func (s *Store) Stat(ctx context.Context, key string) (store.ObjectInfo, error) {
	return s.Head(ctx, key)
}

// PutSymlink implements store.Writer. The target goes URL-encoded, as
// OSS takes it (symlinkTarget decodes the answers of GetSymlink).
func (s *Store) PutSymlink(ctx context.Context, key, targetKey string, forbidOverwrite bool) (store.Committed, error) {
	out, err := writeCall(ctx, s, "PUTSYMLINK", key, func() (*oss.PutSymlinkResult, error) {
		return s.client.PutSymlink(ctx, &oss.PutSymlinkRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(key), Target: oss.Ptr(url.PathEscape(targetKey)),
			ForbidOverwrite: forbid(forbidOverwrite),
		})
	})
	if err != nil {
		return store.Committed{}, err
	}
	return store.Committed{ETag: out.Headers.Get("ETag")}, nil
}

// Versioning returns the bucket's versioning status: "" (never enabled),
// "Enabled" or "Suspended".
func (s *Store) Versioning(ctx context.Context) (string, error) {
	out, err := writeCall(ctx, s, "GETVERSIONING", "", func() (*oss.GetBucketVersioningResult, error) {
		return s.client.GetBucketVersioning(ctx, &oss.GetBucketVersioningRequest{Bucket: oss.Ptr(s.bucket)})
	})
	if err != nil {
		return "", err
	}
	return deref(out.VersionStatus), nil
}
