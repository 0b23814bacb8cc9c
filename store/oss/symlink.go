package oss

import (
	"context"
	"fmt"
	"net/url"
	"time"

	sdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/ossmount/ossmount/store"
)

// symlinkTarget decodes an x-oss-symlink-target header: OSS takes and
// gives the target URL-encoded. A value that is not valid encoding is
// taken as it is.
func symlinkTarget(v string) string {
	if t, err := url.PathUnescape(v); err == nil {
		return t
	}
	return v
}

// ReadSymlink returns the target key of the symbolic link at key
// (GetSymlink) and the link's ETag. Counted as a GET.
func (s *Store) ReadSymlink(ctx context.Context, key string) (target, etag string, err error) {
	type answer struct{ target, etag string }
	a, err := retryMeta(ctx, s, "GETSYMLINK", key, func() (_ answer, err error) {
		defer func() { s.counts.record(OpGet, false, err) }()
		t0 := time.Now()
		out, err := withRenewal(ctx, s, "GETSYMLINK", key, func() (*sdk.GetSymlinkResult, error) {
			return s.client.GetSymlink(ctx, &sdk.GetSymlinkRequest{Bucket: sdk.Ptr(s.bucket), Key: sdk.Ptr(key)})
		})
		if err != nil {
			rerr := classify("GETSYMLINK", key, err)
			s.logRequest("GETSYMLINK", store.GetRequest{Key: key}, "", rerr, t0)
			return answer{}, rerr
		}
		s.log.Debug("oss request", "op", "GETSYMLINK", "key", key, "status", out.StatusCode,
			"request_id", out.Headers.Get("x-oss-request-id"), "duration", time.Since(t0))
		t := symlinkTarget(deref(out.Target))
		if t == "" {
			return answer{}, &store.RequestError{Op: "GETSYMLINK", Key: key, Status: out.StatusCode, Kind: store.ErrProtocol, Err: fmt.Errorf("no x-oss-symlink-target")}
		}
		return answer{t, deref(out.ETag)}, nil
	})
	return a.target, a.etag, err
}
