package ossemu

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// etagMatches reports whether an If-Match / If-None-Match list names etag.
// Quotes and a weak "W/" prefix are ignored; "*" matches any object.
func etagMatches(list, etag string) bool {
	want := strings.Trim(etag, `"`)
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.Trim(t, `"`) == want {
			return true
		}
	}
	return false
}

// evalConditions applies the conditional headers in RFC 7232 order:
// If-Match, else If-Unmodified-Since; then If-None-Match, else
// If-Modified-Since. Unparsable dates are ignored. It returns 0 when the
// request proceeds, else 412 or 304 and the header that decided.
func evalConditions(h http.Header, o *object) (int, string) {
	if v := h.Get("If-Match"); v != "" {
		if !etagMatches(v, o.etag) {
			return http.StatusPreconditionFailed, "If-Match"
		}
	} else if v := h.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && o.lastModified.After(t) {
			return http.StatusPreconditionFailed, "If-Unmodified-Since"
		}
	}
	if v := h.Get("If-None-Match"); v != "" {
		if etagMatches(v, o.etag) {
			return http.StatusNotModified, "If-None-Match"
		}
	} else if v := h.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !o.lastModified.After(t) {
			return http.StatusNotModified, "If-Modified-Since"
		}
	}
	return 0, ""
}

func parseOffset(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// resolveRange interprets a Range header for an object of size bytes, as
// OSS does. Only the first range of a list counts; a malformed header is
// ignored. Without standard behaviour (x-oss-range-behavior: standard) a
// range that is out of bounds in any way is ignored too (200, whole
// object); with it, an end past the object is clipped and a start past it
// is 416.
func resolveRange(spec string, standard bool, size int64) (status int, start, length int64) {
	whole := func() (int, int64, int64) { return http.StatusOK, 0, size }
	unsatisfiable := func() (int, int64, int64) {
		if standard {
			return http.StatusRequestedRangeNotSatisfiable, 0, 0
		}
		return whole()
	}
	if spec == "" {
		return whole()
	}
	unit, set, ok := strings.Cut(spec, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return whole()
	}
	first, _, _ := strings.Cut(set, ",")
	a, b, ok := strings.Cut(strings.TrimSpace(first), "-")
	if !ok {
		return whole()
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" { // suffix: the last n bytes
		n, ok := parseOffset(b)
		if !ok {
			return whole()
		}
		if n == 0 || size == 0 {
			return unsatisfiable()
		}
		if n > size {
			if standard {
				return http.StatusPartialContent, 0, size
			}
			return whole()
		}
		return http.StatusPartialContent, size - n, n
	}
	lo, ok := parseOffset(a)
	if !ok {
		return whole()
	}
	hi := int64(-1)
	if b != "" {
		if hi, ok = parseOffset(b); !ok || hi < lo {
			return whole()
		}
	}
	if lo >= size {
		return unsatisfiable()
	}
	if hi >= size && !standard {
		return whole()
	}
	if hi < 0 || hi >= size {
		hi = size - 1
	}
	return http.StatusPartialContent, lo, hi - lo + 1
}

func setValidators(h http.Header, o *object) {
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.lastModified.Format(http.TimeFormat))
}

func objectHeaders(h http.Header, o *object, now time.Time) {
	setValidators(h, o)
	h.Set("Content-Type", o.contentType)
	h.Set("Accept-Ranges", "bytes")
	h.Set("x-oss-object-type", objectType(o))
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(o.crc64, 10))
	h.Set("x-oss-storage-class", o.storageClass)
	if isArchive(o.storageClass) {
		if v := o.restore.header(now); v != "" {
			h.Set("x-oss-restore", v)
		}
	}
	for k, v := range o.meta {
		h.Set("x-oss-meta-"+k, v)
	}
}

var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// getObject serves GetObject, or HeadObject when head is set.
func (c *call) getObject(head bool) {
	o := c.s.lookup(c.bucket, c.key)
	if o == nil {
		c.fail(http.StatusNotFound, ossError{Code: "NoSuchKey"})
		return
	}
	now := time.Now()
	h := c.w.Header()
	if status, cond := evalConditions(c.r.Header, o); status != 0 {
		if status != http.StatusNotModified || !c.proto.NotModifiedWithoutETag {
			setValidators(h, o)
		}
		if status == http.StatusNotModified {
			c.w.WriteHeader(status)
			return
		}
		c.fail(status, ossError{Code: "PreconditionFailed", Condition: cond})
		return
	}
	if head && c.proto.HeadErrorNoDetail {
		c.addFault("head-error-no-detail")
		c.w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if head {
		objectHeaders(h, o, now)
		if o.md5 != nil {
			h.Set("Content-MD5", base64.StdEncoding.EncodeToString(o.md5))
		}
		h.Set("Content-Length", strconv.FormatInt(o.size, 10))
		symlinkHeaders(h, o)
		if c.proto.AbsurdSize {
			c.addFault("absurd-size")
			h.Set("Content-Length", strconv.FormatInt(absurdSize, 10))
		}
		c.w.WriteHeader(http.StatusOK)
		return
	}
	if o = c.followSymlink(o); o == nil {
		return
	}
	if isArchive(o.storageClass) && !o.restore.readable(now) {
		c.fail(http.StatusForbidden, ossError{Code: "InvalidObjectState"})
		return
	}
	flavour := c.proto.UnsatisfiableRange
	standard := flavour != "" || strings.EqualFold(c.r.Header.Get("x-oss-range-behavior"), "standard")
	status, start, length := resolveRange(c.r.Header.Get("Range"), standard, o.size)
	if status == http.StatusRequestedRangeNotSatisfiable {
		if flavour == "minio" {
			c.fail(status, ossError{Code: "InvalidRange", Message: "The requested range is not satisfiable"})
			return
		}
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", o.size))
		c.fail(status, ossError{Code: "InvalidRange"})
		return
	}
	objectHeaders(h, o, now)
	// What Content-Range says; the protocol faults make it, the status or
	// the body length lie.
	crStart, crLength, total := start, length, o.size
	if status == http.StatusPartialContent {
		switch p := c.proto; {
		case p.IgnoreRange:
			c.addFault("ignore-range")
			status, start, length = http.StatusOK, 0, o.size
		case p.WrongContentRange:
			c.addFault("wrong-content-range")
			crStart++
		case p.LengthMismatch > 0 && length > p.LengthMismatch:
			c.addFault("length-mismatch")
			length -= p.LengthMismatch
		}
		if c.proto.AbsurdSize {
			c.addFault("absurd-size")
			total = absurdSize
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if status == http.StatusPartialContent {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", crStart, crStart+crLength-1, total))
	} else if o.md5 != nil {
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(o.md5))
	}
	if c.entry.Authorization != "anonymous" {
		q := c.r.URL.Query()
		for p, name := range responseOverrides {
			if v := q.Get(p); v != "" {
				h.Set(name, v)
			}
		}
	}
	c.w.WriteHeader(status)
	c.sendBody(o, start, length)
}

var storageClasses = map[string]string{
	"standard": "Standard", "ia": "IA", "archive": "Archive", "coldarchive": "ColdArchive", "deepcoldarchive": "DeepColdArchive",
}

// maxPutSize bounds a PutObject body held in memory.
const maxPutSize = 5 << 30

func (c *call) putObject() {
	r := c.r
	if c.forbidden() {
		return
	}
	var opts []PutOption
	if v := r.Header.Get("x-oss-storage-class"); v != "" {
		sc, ok := storageClasses[strings.ToLower(v)]
		if !ok {
			c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "Invalid storage class " + v + "."})
			return
		}
		opts = append(opts, WithStorageClass(sc))
	}
	if v := r.Header.Get("Content-Type"); v != "" {
		opts = append(opts, WithContentType(v))
	}
	meta := map[string]string{}
	for k, vs := range r.Header {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-oss-meta-"); ok && len(vs) > 0 {
			meta[name] = vs[0]
		}
	}
	if len(meta) > 0 {
		opts = append(opts, WithMetadata(meta))
	}
	body, ok := c.readUploadBody(false)
	if !ok {
		return
	}
	sum := md5.Sum(body)
	if v := r.Header.Get("Content-MD5"); v != "" && v != base64.StdEncoding.EncodeToString(sum[:]) {
		c.fail(http.StatusBadRequest, ossError{Code: "InvalidDigest"})
		return
	}
	info, err := c.s.PutReaderAtErr(c.bucket, c.key, bytes.NewReader(body), int64(len(body)), opts...)
	if err != nil {
		c.fail(http.StatusInternalServerError, ossError{Code: "InternalError", Message: err.Error()})
		return
	}
	h := c.w.Header()
	h.Set("ETag", info.ETag)
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(info.CRC64, 10))
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	h.Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusOK)
}

func (c *call) deleteObject() {
	c.s.Delete(c.bucket, c.key)
	c.w.Header().Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusNoContent)
}

type restoreRequest struct {
	Days int `xml:"Days"`
}

func (c *call) restoreObject() {
	o := c.s.lookup(c.bucket, c.key)
	if o == nil {
		c.fail(http.StatusNotFound, ossError{Code: "NoSuchKey"})
		return
	}
	if !isArchive(o.storageClass) {
		c.fail(http.StatusBadRequest, ossError{Code: "OperationNotSupported", Message: "The operation is not supported for this resource."})
		return
	}
	var req restoreRequest
	if body, _ := io.ReadAll(io.LimitReader(c.r.Body, 1<<16)); len(body) > 0 {
		_ = xml.Unmarshal(body, &req)
	}
	days := max(req.Days, 1)
	now := time.Now()
	switch {
	case o.restore.Ongoing:
		c.fail(http.StatusConflict, ossError{Code: "RestoreAlreadyInProgress", Message: "The restore operation is in progress."})
		return
	case o.restore.readable(now):
		c.s.setRestoreIf(c.bucket, c.key, o.etag, RestoredUntil(now.Add(time.Duration(days)*24*time.Hour)))
		c.w.Header().Set("Content-Length", "0")
		c.w.WriteHeader(http.StatusOK)
		return
	}
	done := func() {
		c.s.setRestoreIf(c.bucket, c.key, o.etag, RestoredUntil(time.Now().Add(time.Duration(days)*24*time.Hour)))
	}
	if d := c.s.opts.RestoreDelay; d > 0 {
		c.s.setRestoreIf(c.bucket, c.key, o.etag, RestoreOngoing())
		time.AfterFunc(d, done)
	} else {
		done()
	}
	c.w.Header().Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusAccepted)
}

// setRestoreIf changes the restore state if the object still has this ETag.
func (s *Server) setRestoreIf(bucket, key, etag string, r RestoreState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucket]
	if b == nil || b.objects[key] == nil || b.objects[key].etag != etag {
		return
	}
	cp := *b.objects[key]
	cp.restore = r
	b.objects[key] = &cp
}
