package vfs

import (
	"context"
	"strconv"
	"time"
)

// Xattrs returns the extended attributes of file p: what OSS says of the
// object, and how much of it is cached. It sends a HEAD when the listing did
// not carry everything (CRC64, restore state).
func (v *FS) Xattrs(ctx context.Context, p string, e Entry) (map[string]string, error) {
	if e.IsDir {
		return map[string]string{}, nil
	}
	key := v.key(p)
	info, err := v.lister.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	x := map[string]string{
		"user.oss.etag":          info.ETag,
		"user.oss.last_modified": info.LastModified.UTC().Format(time.RFC3339),
		"user.oss.storage_class": info.StorageClass,
	}
	if x["user.oss.storage_class"] == "" {
		x["user.oss.storage_class"] = "Standard"
	}
	if info.HasCRC64 {
		x["user.oss.crc64"] = strconv.FormatUint(info.CRC64, 10)
	}
	if info.Restore != "" {
		x["user.oss.restore"] = info.Restore
	}
	var cached int64
	if ver, ok := v.cache.Cached(v.opts.Bucket, key); ok && ver.ETag == info.ETag {
		if obj, err := v.cache.Object(ver); err == nil {
			cached = obj.CachedBytes()
		}
	}
	x["user.ossmount.cached_bytes"] = strconv.FormatInt(cached, 10)
	return x, nil
}
