package ossemu

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Symbolic links (PutSymlink, GetSymlink). A link is an object of type
// Symlink whose target is another key of the bucket. As on OSS:
//   - PUT ?symlink with x-oss-symlink-target (URL-encoded) creates it
//     (x-oss-forbid-overwrite: 409 FileAlreadyExists if the key exists);
//     GET ?symlink answers the target in that header, and 400 NotSymlink
//     for an object that is not a link;
//   - HEAD of the link describes the link (x-oss-object-type: Symlink,
//     x-oss-symlink-target); GET of it serves the target object (404
//     SymlinkTargetNotExist when there is none);
//   - listings show it with <Type>Symlink</Type> and, here, the size the
//     target had when the link was made (not the link's own), so that a
//     client that takes the listed size for the link's is caught.

// PutSymlink stores a symbolic link at key to target (a key of the same
// bucket, which need not exist).
func (s *Server) PutSymlink(bucket, key, target string) ObjectInfo {
	o := s.newSymlink(bucket, key, target)
	s.mu.Lock()
	s.bucketLocked(bucket).put(o)
	s.mu.Unlock()
	return o.info()
}

func (s *Server) newSymlink(bucket, key, target string) *object {
	var size int64
	if t := s.lookup(bucket, target); t != nil {
		size = t.size
	}
	sum := md5.Sum([]byte("symlink\x00" + target))
	return &object{key: key, data: strings.NewReader(""), size: size, etag: `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`,
		lastModified: time.Now().UTC().Truncate(time.Second), storageClass: "Standard", contentType: "application/octet-stream",
		symlinkTarget: target}
}

// objectType is the object's x-oss-object-type and listing Type.
func objectType(o *object) string {
	if o.symlinkTarget != "" {
		return "Symlink"
	}
	return "Normal"
}

// symlinkHeaders adds a link's target to its HEAD answer.
func symlinkHeaders(h http.Header, o *object) {
	if o.symlinkTarget != "" {
		h.Set("x-oss-symlink-target", url.PathEscape(o.symlinkTarget))
		h.Set("Content-Length", "0")
	}
}

// followSymlink returns what a GET of o serves: o, or its link's target
// (nil, after answering 404, when the target does not exist).
func (c *call) followSymlink(o *object) *object {
	if o.symlinkTarget == "" {
		return o
	}
	t := c.s.lookup(c.bucket, o.symlinkTarget)
	if t == nil || t.symlinkTarget != "" {
		c.fail(http.StatusNotFound, ossError{Code: "SymlinkTargetNotExist", Message: "The symlink target object does not exist."})
		return nil
	}
	return t
}

// symlink serves PUT and GET ?symlink.
func (c *call) symlink(acl ACL) {
	switch c.r.Method {
	case http.MethodPut:
		c.setOp("PutSymlink")
		if !c.authorize(acl, true) || c.forbidden() {
			return
		}
		raw := c.r.Header.Get("x-oss-symlink-target")
		target, err := url.PathUnescape(raw)
		if raw == "" || err != nil {
			c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "x-oss-symlink-target is missing or not URL-encoded."})
			return
		}
		o := c.s.newSymlink(c.bucket, c.key, target)
		c.s.mu.Lock()
		c.s.bucketLocked(c.bucket).put(o)
		c.s.mu.Unlock()
		c.w.Header().Set("ETag", o.etag)
		c.w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		c.setOp("GetSymlink")
		if !c.authorize(acl, false) {
			return
		}
		o := c.s.lookup(c.bucket, c.key)
		switch {
		case o == nil:
			c.fail(http.StatusNotFound, ossError{Code: "NoSuchKey"})
		case o.symlinkTarget == "":
			c.fail(http.StatusBadRequest, ossError{Code: "NotSymlink", Message: "The specified object is not a symlink."})
		default:
			h := c.w.Header()
			setValidators(h, o)
			h.Set("x-oss-symlink-target", url.PathEscape(o.symlinkTarget))
			h.Set("Content-Length", strconv.Itoa(0))
			c.w.WriteHeader(http.StatusOK)
		}
	default:
		c.fail(http.StatusMethodNotAllowed, ossError{Code: "MethodNotAllowed"})
	}
}
