package ossemu

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// Writes: multipart uploads (Initiate, UploadPart, UploadPartCopy,
// Complete, Abort, ListMultipartUploads, ListParts), CopyObject, bucket
// versioning status, and faults on the upload path (UploadFaults). PutObject
// and DeleteObject are in objects.go.

// UploadFaults configures misbehaviour of requests that carry a body
// upward (PutObject, UploadPart). The zero value injects nothing; counts
// start over at each SetUploadFaults.
type UploadFaults struct {
	// RequestBytesPerSec caps how fast each request body is read (per
	// connection); 0 = unlimited.
	RequestBytesPerSec int64
	// ResetAfterBytes: an upload body longer than this has its connection
	// reset after this many bytes were read, for the next ResetCount
	// uploads (0 = every one while set).
	ResetAfterBytes int64
	ResetCount      int
	// FailUploadPartN: the Nth UploadPart (1-based, counted from
	// SetUploadFaults) answers 500 InternalError, and FailCount after it
	// too (0 = just that one).
	FailUploadPartN int
	FailCount       int
	// StallAfterBytes: the body read stops after this many bytes for
	// StallDuration, for the next StallCount uploads (0 = every one).
	StallAfterBytes int64
	StallDuration   time.Duration
	StallCount      int
	// CorruptPartN: the Nth UploadPart is stored with its first byte
	// flipped (the answer's CRC64 and ETag describe what was stored).
	CorruptPartN int
}

// writeState is the emulator's multipart and versioning state (the
// Server's writes field).
type writeState struct {
	once       sync.Once
	mu         sync.Mutex
	uploads    map[string]*mpUpload // upload id -> upload
	versioning map[string]string    // bucket -> "Enabled" | "Suspended"
	faults     UploadFaults
	discard    bool // keep parts' sizes and CRC64s only (SetDiscardUploadData)
	parts      int  // UploadParts seen since SetUploadFaults
	resets     int  // remaining; -1 = unlimited
	stalls     int
}

type mpUpload struct {
	bucket, key string
	id          string
	initiated   time.Time
	parts       map[int]*mpPart
}

type mpPart struct {
	data     []byte // nil when discarded
	size     int64
	etag     string
	crc64    uint64
	modified time.Time
}

func (s *Server) writeState() *writeState {
	w := &s.writes
	w.once.Do(func() { w.uploads, w.versioning = map[string]*mpUpload{}, map[string]string{} })
	return w
}

// SetUploadFaults replaces the upload fault configuration.
func (s *Server) SetUploadFaults(f UploadFaults) {
	w := s.writeState()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults, w.parts, w.resets, w.stalls = f, 0, remaining(f.ResetCount), remaining(f.StallCount)
}

// SetDiscardUploadData makes multipart uploads keep only each part's size
// and CRC64, for tests that write more than memory holds: the completed
// object has the right size, ETag and CRC64, but reading its bytes fails.
func (s *Server) SetDiscardUploadData(discard bool) {
	w := s.writeState()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.discard = discard
}

// unreadable is the data of an object whose bytes were discarded.
type unreadable struct{}

func (unreadable) ReadAt([]byte, int64) (int, error) {
	return 0, errors.New("ossemu: the bytes of this object were discarded (SetDiscardUploadData)")
}

// SetVersioning sets a bucket's versioning status ("Enabled",
// "Suspended"; "" for never enabled). Objects keep one version: only the
// status is emulated, and forbid-overwrite is ignored while it is
// "Enabled", as OSS does.
func (s *Server) SetVersioning(bucket, status string) {
	w := s.writeState()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.versioning[bucket] = status
}

// Uploads returns the multipart uploads in progress in bucket.
func (s *Server) Uploads(bucket string) []string {
	w := s.writeState()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for id, u := range w.uploads {
		if u.bucket == bucket {
			out = append(out, u.key+"#"+id)
		}
	}
	sort.Strings(out)
	return out
}

// forbidden reports whether a forbid-overwrite request must fail because
// bucket/key exists.
func (c *call) forbidden() bool {
	if !strings.EqualFold(c.r.Header.Get("x-oss-forbid-overwrite"), "true") {
		return false
	}
	w := c.s.writeState()
	w.mu.Lock()
	versioned := w.versioning[c.bucket] == "Enabled"
	w.mu.Unlock()
	if versioned || c.s.lookup(c.bucket, c.key) == nil {
		return false
	}
	c.fail(http.StatusConflict, ossError{Code: "FileAlreadyExists", Message: "The object you specified already exists and can not be overwritten."})
	return true
}

// writeBucketRoute serves the bucket-level write subresources; it reports
// whether it handled the request.
func (c *call) writeBucketRoute(acl ACL, q url.Values) bool {
	switch {
	case c.r.Method == http.MethodGet && q.Has("uploads"):
		c.setOp("ListMultipartUploads")
		if c.authorize(acl, false) {
			c.listUploads(q)
		}
	case c.r.Method == http.MethodGet && q.Has("versioning"):
		c.setOp("GetBucketVersioning")
		if c.authorize(acl, false) {
			w := c.s.writeState()
			w.mu.Lock()
			st := w.versioning[c.bucket]
			w.mu.Unlock()
			c.xml(http.StatusOK, struct {
				XMLName xml.Name `xml:"VersioningConfiguration"`
				Status  string   `xml:"Status,omitempty"`
			}{Status: st})
		}
	default:
		return false
	}
	return true
}

// writeObjectRoute serves the object-level write calls other than
// PutObject and DeleteObject; it reports whether it handled the request.
func (c *call) writeObjectRoute(acl ACL, q url.Values) bool {
	r := c.r
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		c.setOp("InitiateMultipartUpload")
		if c.authorize(acl, true) && !c.forbidden() {
			c.initiate()
		}
	case r.Method == http.MethodPut && q.Has("uploadId") && r.Header.Get("x-oss-copy-source") != "":
		c.setOp("UploadPartCopy")
		if c.authorize(acl, true) {
			c.uploadPartCopy(q)
		}
	case r.Method == http.MethodPut && q.Has("uploadId"):
		c.setOp("UploadPart")
		if c.authorize(acl, true) {
			c.uploadPart(q)
		}
	case r.Method == http.MethodPost && q.Has("uploadId"):
		c.setOp("CompleteMultipartUpload")
		if c.authorize(acl, true) {
			c.complete(q)
		}
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		c.setOp("AbortMultipartUpload")
		if c.authorize(acl, true) {
			c.abort(q)
		}
	case r.Method == http.MethodGet && q.Has("uploadId"):
		c.setOp("ListParts")
		if c.authorize(acl, false) {
			c.listParts(q)
		}
	case r.Method == http.MethodPut && r.Header.Get("x-oss-copy-source") != "" && len(q) == 0:
		c.setOp("CopyObject")
		if c.authorize(acl, true) && !c.forbidden() {
			c.copyObject()
		}
	default:
		return false
	}
	return true
}

func (c *call) xml(status int, v any) {
	body, _ := xml.Marshal(v)
	body = append([]byte(xml.Header), body...)
	h := c.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

func (c *call) initiate() {
	w := c.s.writeState()
	id := strings.ToUpper(hex.EncodeToString(md5Bytes(fmt.Sprintf("%s/%s/%d/%s", c.bucket, c.key, time.Now().UnixNano(), c.entry.RequestID))))
	w.mu.Lock()
	w.uploads[id] = &mpUpload{bucket: c.bucket, key: c.key, id: id, initiated: time.Now().UTC(), parts: map[int]*mpPart{}}
	w.mu.Unlock()
	c.xml(http.StatusOK, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		UploadID string   `xml:"UploadId"`
	}{Bucket: c.bucket, Key: c.key, UploadID: id})
}

func md5Bytes(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }

func (c *call) findUpload(q url.Values) *mpUpload {
	w := c.s.writeState()
	w.mu.Lock()
	u := w.uploads[q.Get("uploadId")]
	w.mu.Unlock()
	if u == nil || u.bucket != c.bucket || u.key != c.key {
		c.fail(http.StatusNotFound, ossError{Code: "NoSuchUpload", Message: "The specified upload does not exist."})
		return nil
	}
	return u
}

func partNumber(c *call, q url.Values) (int, bool) {
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "Part number must be an integer between 1 and 10000."})
		return 0, false
	}
	return n, true
}

// readUploadBody reads a request body under the upload faults.
func (c *call) readUploadBody(isPart bool) ([]byte, bool) {
	w := c.s.writeState()
	w.mu.Lock()
	f := w.faults
	fail, corrupt := false, false
	if isPart {
		w.parts++
		n := w.parts
		fail = f.FailUploadPartN > 0 && n >= f.FailUploadPartN && n <= f.FailUploadPartN+f.FailCount
		corrupt = f.CorruptPartN > 0 && n == f.CorruptPartN
	}
	resetAt, stallAt := int64(-1), int64(-1)
	if f.ResetAfterBytes > 0 && c.r.ContentLength > f.ResetAfterBytes && w.resets != 0 {
		resetAt = f.ResetAfterBytes
		if w.resets > 0 {
			w.resets--
		}
	}
	if f.StallAfterBytes > 0 && c.r.ContentLength > f.StallAfterBytes && w.stalls != 0 {
		stallAt = f.StallAfterBytes
		if w.stalls > 0 {
			w.stalls--
		}
	}
	w.mu.Unlock()
	if fail {
		c.addFault("5xx")
		_, _ = io.Copy(io.Discard, io.LimitReader(c.r.Body, maxPutSize))
		c.fail(http.StatusInternalServerError, ossError{Code: "InternalError"})
		return nil, false
	}
	var buf bytes.Buffer
	start := time.Now()
	chunk := make([]byte, 64<<10)
	for {
		want := int64(len(chunk))
		if resetAt >= 0 {
			want = min(want, resetAt-int64(buf.Len()))
		}
		if stallAt >= 0 {
			want = min(want, stallAt-int64(buf.Len()))
		}
		if resetAt == int64(buf.Len()) {
			c.addFault("reset")
			c.hangUp()
			return nil, false
		}
		if stallAt == int64(buf.Len()) {
			c.addFault("stall")
			stallAt = -1
			if !c.sleep(f.StallDuration) {
				return nil, false
			}
			continue
		}
		n, err := c.r.Body.Read(chunk[:want])
		buf.Write(chunk[:n])
		if bps := f.RequestBytesPerSec; bps > 0 {
			due := start.Add(time.Duration(float64(buf.Len()) / float64(bps) * float64(time.Second)))
			if d := time.Until(due); d > 0 && !c.sleep(d) {
				return nil, false
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.fail(http.StatusBadRequest, ossError{Code: "IncompleteBody", Message: "The request body could not be read: " + err.Error()})
			return nil, false
		}
		if buf.Len() > maxPutSize {
			c.fail(http.StatusBadRequest, ossError{Code: "EntityTooLarge"})
			return nil, false
		}
	}
	if c.r.ContentLength >= 0 && int64(buf.Len()) != c.r.ContentLength {
		c.fail(http.StatusBadRequest, ossError{Code: "IncompleteBody"})
		return nil, false
	}
	b := buf.Bytes()
	if corrupt && len(b) > 0 {
		c.addFault("corrupt")
		b[0] ^= 0xff
	}
	return b, true
}

// storePart records part n of upload u (only its size and CRC64 while
// SetDiscardUploadData is on).
func (s *Server) storePart(u *mpUpload, n int, body []byte) *mpPart {
	p := &mpPart{data: body, size: int64(len(body)), crc64: crc64.Checksum(body, crcTable), modified: time.Now().UTC()}
	p.etag = `"` + strings.ToUpper(hex.EncodeToString(md5Bytes(string(body)))) + `"`
	w := s.writeState()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.discard {
		p.data = nil
	}
	u.parts[n] = p
	return p
}

func (c *call) uploadPart(q url.Values) {
	u := c.findUpload(q)
	if u == nil {
		return
	}
	n, ok := partNumber(c, q)
	if !ok {
		return
	}
	body, ok := c.readUploadBody(true)
	if !ok {
		return
	}
	p := c.s.storePart(u, n, body)
	h := c.w.Header()
	h.Set("ETag", p.etag)
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(p.crc64, 10))
	h.Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusOK)
}

// copySource resolves x-oss-copy-source ("/bucket/key", URL-escaped) and
// its conditions; it writes the error itself.
func (c *call) copySource() *object {
	src, err := url.PathUnescape(c.r.Header.Get("x-oss-copy-source"))
	if err != nil {
		c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "Bad copy source."})
		return nil
	}
	src, _, _ = strings.Cut(src, "?")
	b, k, ok := strings.Cut(strings.TrimPrefix(src, "/"), "/")
	if !ok {
		c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "Bad copy source."})
		return nil
	}
	o := c.s.lookup(b, k)
	if o == nil {
		c.fail(http.StatusNotFound, ossError{Code: "NoSuchKey", Key: k})
		return nil
	}
	if v := c.r.Header.Get("x-oss-copy-source-if-match"); v != "" && !etagMatches(v, o.etag) {
		c.fail(http.StatusPreconditionFailed, ossError{Code: "PreconditionFailed", Condition: "x-oss-copy-source-if-match"})
		return nil
	}
	if v := c.r.Header.Get("x-oss-copy-source-if-none-match"); v != "" && etagMatches(v, o.etag) {
		c.fail(http.StatusNotModified, ossError{Code: "NotModified"})
		return nil
	}
	return o
}

func readObject(o *object, off, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := o.data.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

func (c *call) uploadPartCopy(q url.Values) {
	u := c.findUpload(q)
	if u == nil {
		return
	}
	n, ok := partNumber(c, q)
	if !ok {
		return
	}
	o := c.copySource()
	if o == nil {
		return
	}
	start, length := int64(0), o.size
	if v := c.r.Header.Get("x-oss-copy-source-range"); v != "" {
		st, s, l := resolveRange(v, true, o.size)
		if st != http.StatusPartialContent {
			c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "Bad copy range."})
			return
		}
		start, length = s, l
	}
	body, err := readObject(o, start, length)
	if err != nil {
		c.fail(http.StatusInternalServerError, ossError{Code: "InternalError", Message: err.Error()})
		return
	}
	p := c.s.storePart(u, n, body)
	c.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(p.crc64, 10))
	c.xml(http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyPartResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{LastModified: p.modified.Format("2006-01-02T15:04:05.000Z"), ETag: p.etag})
}

type completeBody struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

func (c *call) complete(q url.Values) {
	u := c.findUpload(q)
	if u == nil {
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(c.r.Body, 4<<20))
	var req completeBody
	if err := xml.Unmarshal(raw, &req); err != nil || len(req.Parts) == 0 {
		c.fail(http.StatusBadRequest, ossError{Code: "MalformedXML", Message: "The XML you provided was not well-formed."})
		return
	}
	if c.forbidden() {
		return
	}
	w := c.s.writeState()
	w.mu.Lock()
	var data []byte
	var md5s []byte
	var size int64
	var crc uint64
	discarded := false
	prev := 0
	var bad string
	for i, p := range req.Parts {
		part := u.parts[p.PartNumber]
		switch {
		case p.PartNumber <= prev:
			bad = "InvalidPartOrder"
		case part == nil || !etagMatches(p.ETag, part.etag):
			bad = "InvalidPart"
		case i < len(req.Parts)-1 && part.size < 100<<10:
			bad = "EntityTooSmall"
		}
		if bad != "" {
			break
		}
		prev = p.PartNumber
		data = append(data, part.data...)
		discarded = discarded || (part.data == nil && part.size > 0)
		crc = oss.CRC64Combine(crc, part.crc64, uint64(part.size))
		size += part.size
		m, _ := hex.DecodeString(strings.Trim(part.etag, `"`))
		md5s = append(md5s, m...)
	}
	if bad == "" {
		delete(w.uploads, u.id)
	}
	w.mu.Unlock()
	if bad != "" {
		c.fail(http.StatusBadRequest, ossError{Code: bad, Message: "One or more of the specified parts is not valid."})
		return
	}
	etag := fmt.Sprintf("%s-%d", strings.ToUpper(hex.EncodeToString(md5Bytes(string(md5s)))), len(req.Parts))
	if discarded {
		o := &object{key: c.key, data: unreadable{}, size: size, etag: quoteETag(etag), crc64: crc,
			lastModified: time.Now().UTC().Truncate(time.Second), storageClass: "Standard", contentType: "application/octet-stream"}
		c.s.mu.Lock()
		c.s.bucketLocked(c.bucket).put(o)
		c.s.mu.Unlock()
		c.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc, 10))
		c.xml(http.StatusOK, struct {
			XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
			Bucket  string   `xml:"Bucket"`
			Key     string   `xml:"Key"`
			ETag    string   `xml:"ETag"`
		}{Bucket: c.bucket, Key: c.key, ETag: o.etag})
		return
	}
	info, err := c.s.PutReaderAtErr(c.bucket, c.key, bytes.NewReader(data), int64(len(data)), WithETag(etag))
	if err != nil {
		c.fail(http.StatusInternalServerError, ossError{Code: "InternalError", Message: err.Error()})
		return
	}
	c.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(info.CRC64, 10))
	c.xml(http.StatusOK, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}{Location: "/" + c.bucket + "/" + c.key, Bucket: c.bucket, Key: c.key, ETag: info.ETag})
}

func (c *call) abort(q url.Values) {
	u := c.findUpload(q)
	if u == nil {
		return
	}
	w := c.s.writeState()
	w.mu.Lock()
	delete(w.uploads, u.id)
	w.mu.Unlock()
	c.w.Header().Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusNoContent)
}

func (c *call) listUploads(q url.Values) {
	type up struct {
		Key       string `xml:"Key"`
		UploadID  string `xml:"UploadId"`
		Initiated string `xml:"Initiated"`
	}
	prefix := q.Get("prefix")
	w := c.s.writeState()
	w.mu.Lock()
	var ups []up
	for _, u := range w.uploads {
		if u.bucket == c.bucket && strings.HasPrefix(u.key, prefix) {
			ups = append(ups, up{Key: u.key, UploadID: u.id, Initiated: u.initiated.Format("2006-01-02T15:04:05.000Z")})
		}
	}
	w.mu.Unlock()
	sort.Slice(ups, func(i, j int) bool { return ups[i].Key+ups[i].UploadID < ups[j].Key+ups[j].UploadID })
	c.xml(http.StatusOK, struct {
		XMLName     xml.Name `xml:"ListMultipartUploadsResult"`
		Bucket      string   `xml:"Bucket"`
		Prefix      string   `xml:"Prefix"`
		IsTruncated bool     `xml:"IsTruncated"`
		Uploads     []up     `xml:"Upload"`
	}{Bucket: c.bucket, Prefix: prefix, Uploads: ups})
}

func (c *call) listParts(q url.Values) {
	u := c.findUpload(q)
	if u == nil {
		return
	}
	type part struct {
		PartNumber   int    `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
		HashCrc64    uint64 `xml:"HashCrc64ecma"`
	}
	w := c.s.writeState()
	w.mu.Lock()
	var parts []part
	for n, p := range u.parts {
		parts = append(parts, part{PartNumber: n, LastModified: p.modified.Format("2006-01-02T15:04:05.000Z"), ETag: p.etag, Size: p.size, HashCrc64: p.crc64})
	}
	w.mu.Unlock()
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	c.xml(http.StatusOK, struct {
		XMLName     xml.Name `xml:"ListPartsResult"`
		Bucket      string   `xml:"Bucket"`
		Key         string   `xml:"Key"`
		UploadID    string   `xml:"UploadId"`
		IsTruncated bool     `xml:"IsTruncated"`
		Parts       []part   `xml:"Part"`
	}{Bucket: c.bucket, Key: c.key, UploadID: u.id, Parts: parts})
}

func (c *call) copyObject() {
	o := c.copySource()
	if o == nil {
		return
	}
	body, err := readObject(o, 0, o.size)
	if err != nil {
		c.fail(http.StatusInternalServerError, ossError{Code: "InternalError", Message: err.Error()})
		return
	}
	info, err := c.s.PutReaderAtErr(c.bucket, c.key, bytes.NewReader(body), int64(len(body)), WithETag(o.etag), WithContentType(o.contentType))
	if err != nil {
		c.fail(http.StatusInternalServerError, ossError{Code: "InternalError", Message: err.Error()})
		return
	}
	c.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(info.CRC64, 10))
	c.xml(http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{LastModified: info.LastModified.Format("2006-01-02T15:04:05.000Z"), ETag: info.ETag})
}

// ObjectData returns a copy of bucket/key's bytes.
func (s *Server) ObjectData(bucket, key string) ([]byte, bool) {
	o := s.lookup(bucket, key)
	if o == nil {
		return nil, false
	}
	b, err := readObject(o, 0, o.size)
	return b, err == nil
}
