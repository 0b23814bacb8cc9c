package vfs

import (
	"context"
	"fmt"
	"github.com/ossmount/ossmount/store"
	"net/http"
	"strconv"
	"strings"
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
	if e.ETag != "" && !store.SameETag(info.ETag, e.ETag) {
		// Another version than the caller's: what the next lookup says.
		v.remember(p, entryOf(e.Name, info))
		return nil, fmt.Errorf("%w: version %s, now %s", ErrStale, e.ETag, info.ETag)
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
	if r := restoreState(x["user.oss.storage_class"], info.Restore); r != "" {
		x["user.oss.restore"] = r
	}
	var cached int64
	if ver, ok := v.cache.Cached(v.opts.Bucket, key); ok && store.SameETag(ver.ETag, info.ETag) {
		if obj, err := v.cache.Object(ver); err == nil {
			cached = obj.CachedBytes()
		}
	}
	x["user.ossmount.cached_bytes"] = strconv.FormatInt(cached, 10)
	return x, nil
}

// restoreState says in words where an archived object's restore stands,
// from its storage class and x-oss-restore header: "not restored",
// "restoring", or "restored until 2026-11-25T08:00:00Z" (the raw header if
// it cannot be read). Objects in classes that need no restore get "".
func restoreState(class, header string) string {
	switch {
	case header == "" && !strings.Contains(class, "Archive"):
		return ""
	case header == "":
		return "not restored"
	case strings.Contains(header, `ongoing-request="true"`):
		return "restoring"
	}
	if _, date, ok := strings.Cut(header, `expiry-date="`); ok {
		date, _, _ = strings.Cut(date, `"`)
		for _, layout := range []string{http.TimeFormat, time.RFC1123, time.RFC1123Z} {
			if t, err := time.Parse(layout, date); err == nil {
				return "restored until " + t.UTC().Format(time.RFC3339)
			}
		}
	}
	return header
}
