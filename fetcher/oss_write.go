package fetcher

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/ossmount/ossmount/upload"
)

// The write calls of OSSStore: it implements upload.Store. Each request is
// sent again after transient failures (retryMeta: its body is a byte slice
// read anew each time); errors are classified like the reads' and, where
// the upload engine must tell them apart, also wrap upload's sentinels.
//
// The SDK's own CRC64 check of uploads is turned off (NewOSSStore): the
// engine computes every part's CRC64 anyway (it needs them for the
// combined CRC64 of the object), compares each with the server's and sends
// a damaged part again itself, so checking twice would only cost CPU.

var _ upload.Store = (*OSSStore)(nil)

// writeErr classifies an SDK error of a write call.
func writeErr(op, key string, err error) error {
	rerr := classify(op, key, err)
	var se *oss.ServiceError
	if !errors.As(err, &se) {
		return rerr
	}
	switch {
	case se.StatusCode == http.StatusConflict && se.Code == "FileAlreadyExists":
		return fmt.Errorf("%w: %w", upload.ErrExists, rerr)
	case se.Code == "NoSuchUpload":
		return fmt.Errorf("%w: %w", upload.ErrNoSuchUpload, rerr)
	case se.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", upload.ErrSourceChanged, rerr)
	case se.StatusCode == http.StatusNotFound && se.Code == "NoSuchKey":
		return fmt.Errorf("%w: %w", upload.ErrNotFound, rerr)
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
func committed(etag, crc *string) upload.Committed {
	c := upload.Committed{ETag: deref(etag)}
	c.CRC64, c.HasCRC64 = crcOf(crc)
	return c
}

// writeCall runs one write request with renewal and retries, logging it at
// debug level.
func writeCall[T any](ctx context.Context, s *OSSStore, op, key string, once func() (T, error)) (T, error) {
	t0 := time.Now()
	v, err := retryMeta(ctx, s, op, key, func() (T, error) {
		v, err := withRenewal(ctx, s, op, key, once)
		if err != nil {
			return v, writeErr(op, key, err)
		}
		return v, nil
	})
	s.counts.record(op, false, err)
	s.log.Debug("oss request", "op", op, "key", key, "duration", time.Since(t0), "err", err)
	return v, err
}

// Put implements upload.Store.
func (s *OSSStore) Put(ctx context.Context, req upload.PutRequest) (upload.Committed, error) {
	sum := md5.Sum(req.Body)
	out, err := writeCall(ctx, s, "PUT", req.Key, func() (*oss.PutObjectResult, error) {
		return s.client.PutObject(ctx, &oss.PutObjectRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), Body: bytes.NewReader(req.Body),
			ContentLength: oss.Ptr(int64(len(req.Body))), ContentMD5: oss.Ptr(base64.StdEncoding.EncodeToString(sum[:])),
			ForbidOverwrite: forbid(req.ForbidOverwrite),
		})
	})
	if err != nil {
		return upload.Committed{}, err
	}
	return committed(out.ETag, out.HashCRC64), nil
}

// InitiateMultipart implements upload.Store.
func (s *OSSStore) InitiateMultipart(ctx context.Context, key string, forbidOverwrite bool) (string, error) {
	out, err := writeCall(ctx, s, "INITIATE", key, func() (*oss.InitiateMultipartUploadResult, error) {
		return s.client.InitiateMultipartUpload(ctx, &oss.InitiateMultipartUploadRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(key), ForbidOverwrite: forbid(forbidOverwrite),
		})
	})
	if err != nil {
		return "", err
	}
	if deref(out.UploadId) == "" {
		return "", &RequestError{Op: "INITIATE", Key: key, Kind: ErrProtocol, Err: errors.New("no upload id in the answer")}
	}
	return *out.UploadId, nil
}

// UploadPart implements upload.Store.
func (s *OSSStore) UploadPart(ctx context.Context, req upload.PartRequest) (upload.PartResult, error) {
	out, err := writeCall(ctx, s, "UPLOADPART", req.Key, func() (*oss.UploadPartResult, error) {
		return s.client.UploadPart(ctx, &oss.UploadPartRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), UploadId: oss.Ptr(req.UploadID),
			PartNumber: int32(req.Number), Body: bytes.NewReader(req.Body), ContentLength: oss.Ptr(int64(len(req.Body))),
		})
	})
	if err != nil {
		return upload.PartResult{}, err
	}
	return upload.PartResult(committed(out.ETag, out.HashCRC64)), nil
}

// UploadPartCopy implements upload.Store.
func (s *OSSStore) UploadPartCopy(ctx context.Context, req upload.CopyPartRequest) (upload.PartResult, error) {
	out, err := writeCall(ctx, s, "UPLOADPARTCOPY", req.Key, func() (*oss.UploadPartCopyResult, error) {
		return s.client.UploadPartCopy(ctx, &oss.UploadPartCopyRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), UploadId: oss.Ptr(req.UploadID), PartNumber: int32(req.Number),
			SourceKey: oss.Ptr(req.SourceKey), IfMatch: strp(req.IfMatch),
			Range: oss.Ptr(fmt.Sprintf("bytes=%d-%d", req.Start, req.End)),
		})
	})
	if err != nil {
		return upload.PartResult{}, err
	}
	return upload.PartResult{ETag: deref(out.ETag)}, nil
}

// Complete implements upload.Store.
func (s *OSSStore) Complete(ctx context.Context, req upload.CompleteRequest) (upload.Committed, error) {
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
		return upload.Committed{}, err
	}
	return committed(out.ETag, out.HashCRC64), nil
}

// Abort implements upload.Store.
func (s *OSSStore) Abort(ctx context.Context, key, uploadID string) error {
	_, err := writeCall(ctx, s, "ABORT", key, func() (*oss.AbortMultipartUploadResult, error) {
		return s.client.AbortMultipartUpload(ctx, &oss.AbortMultipartUploadRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(key), UploadId: oss.Ptr(uploadID)})
	})
	return err
}

// ListMultipartUploads implements upload.Store.
func (s *OSSStore) ListMultipartUploads(ctx context.Context, prefix string) ([]upload.InProgress, error) {
	var out []upload.InProgress
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
			in := upload.InProgress{Key: deref(u.Key), UploadID: deref(u.UploadId)}
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

// Copy implements upload.Store.
func (s *OSSStore) Copy(ctx context.Context, req upload.CopyRequest) (upload.Committed, error) {
	out, err := writeCall(ctx, s, "COPY", req.Key, func() (*oss.CopyObjectResult, error) {
		return s.client.CopyObject(ctx, &oss.CopyObjectRequest{
			Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(req.Key), SourceKey: oss.Ptr(req.SourceKey),
			IfMatch: strp(req.IfMatch), ForbidOverwrite: forbid(req.ForbidOverwrite),
		})
	})
	if err != nil {
		return upload.Committed{}, err
	}
	return committed(out.ETag, out.HashCRC64), nil
}

// Delete implements upload.Store.
func (s *OSSStore) Delete(ctx context.Context, key string) error {
	_, err := writeCall(ctx, s, "DELETE", key, func() (*oss.DeleteObjectResult, error) {
		return s.client.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(s.bucket), Key: oss.Ptr(key)})
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Stat implements upload.Store: a HEAD, described for the upload engine.
func (s *OSSStore) Stat(ctx context.Context, key string) (upload.Object, error) {
	info, err := s.Head(ctx, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return upload.Object{}, fmt.Errorf("%w: %w", upload.ErrNotFound, err)
		}
		return upload.Object{}, err
	}
	return upload.Object{Key: key, Size: info.Size, ETag: info.ETag, LastModified: info.LastModified, CRC64: info.CRC64, HasCRC64: info.HasCRC64}, nil
}

// Versioning returns the bucket's versioning status: "" (never enabled),
// "Enabled" or "Suspended".
func (s *OSSStore) Versioning(ctx context.Context) (string, error) {
	out, err := writeCall(ctx, s, "GETVERSIONING", "", func() (*oss.GetBucketVersioningResult, error) {
		return s.client.GetBucketVersioning(ctx, &oss.GetBucketVersioningRequest{Bucket: oss.Ptr(s.bucket)})
	})
	if err != nil {
		return "", err
	}
	return deref(out.VersionStatus), nil
}
