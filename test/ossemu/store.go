package ossemu

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/crc64"
	"io"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// ACL is a bucket's canned access control list.
type ACL string

// The bucket ACLs the emulator understands.
const (
	ACLPrivate         ACL = "private"           // signed requests only
	ACLPublicRead      ACL = "public-read"       // anonymous GET/HEAD/List
	ACLPublicReadWrite ACL = "public-read-write" // anonymous writes too
)

// RestoreState is an archived object's restore status. The zero value means
// "not restored" (and no restore under way).
type RestoreState struct {
	Ongoing bool      // a RestoreObject is in progress
	Expiry  time.Time // restored and readable until Expiry (when !Ongoing)
}

// RestoreOngoing is the state of a restore in progress.
func RestoreOngoing() RestoreState { return RestoreState{Ongoing: true} }

// RestoredUntil is the state of an object restored until t.
func RestoredUntil(t time.Time) RestoreState {
	return RestoreState{Expiry: t.UTC().Truncate(time.Second)}
}

// readable reports whether a restored copy is readable at now.
func (r RestoreState) readable(now time.Time) bool {
	return !r.Ongoing && !r.Expiry.IsZero() && now.Before(r.Expiry)
}

// header is the x-oss-restore value, "" when none applies.
func (r RestoreState) header(now time.Time) string {
	switch {
	case r.Ongoing:
		return `ongoing-request="true"`
	case r.readable(now):
		return fmt.Sprintf(`ongoing-request="false", expiry-date="%s"`, r.Expiry.UTC().Format(http.TimeFormat))
	}
	return ""
}

// isArchive reports whether a storage class needs a restore before reads.
func isArchive(sc string) bool {
	switch strings.ToLower(sc) {
	case "archive", "coldarchive", "deepcoldarchive":
		return true
	}
	return false
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // with quotes, as OSS sends it: "\"HEX\""
	LastModified time.Time
	CRC64        uint64 // CRC-64/ECMA of the whole object (x-oss-hash-crc64ecma)
	StorageClass string
	ContentType  string
	Restore      RestoreState
	Metadata     map[string]string // x-oss-meta-* (lower-case names without the prefix)
	// SymlinkTarget is a symbolic link's target key ("" for other objects).
	SymlinkTarget string
}

// object is immutable once stored: changes replace the pointer.
type object struct {
	key          string
	data         io.ReaderAt
	size         int64
	etag         string // quoted
	md5          []byte // nil when the ETag was given
	lastModified time.Time
	crc64        uint64
	storageClass string
	contentType  string
	restore      RestoreState
	meta         map[string]string
	// symlinkTarget is the target key of a symbolic link (symlink.go),
	// "" for other objects.
	symlinkTarget string
}

func (o *object) info() ObjectInfo {
	var meta map[string]string
	if len(o.meta) > 0 {
		meta = make(map[string]string, len(o.meta))
		for k, v := range o.meta {
			meta[k] = v
		}
	}
	return ObjectInfo{Key: o.key, Size: o.size, ETag: o.etag, LastModified: o.lastModified, CRC64: o.crc64,
		StorageClass: o.storageClass, ContentType: o.contentType, Restore: o.restore, Metadata: meta,
		SymlinkTarget: o.symlinkTarget}
}

type bucket struct {
	name    string
	acl     ACL
	created time.Time
	objects map[string]*object
	sorted  []string // sorted keys, except those still in pending
	pending []string // keys added since the last sort
}

// ensureSorted merges pending keys into sorted. Caller holds s.mu (write).
func (b *bucket) ensureSorted() {
	if len(b.pending) == 0 {
		return
	}
	sort.Strings(b.pending)
	merged := make([]string, 0, len(b.sorted)+len(b.pending))
	i, j := 0, 0
	for i < len(b.sorted) || j < len(b.pending) {
		switch {
		case j == len(b.pending) || (i < len(b.sorted) && b.sorted[i] < b.pending[j]):
			merged = append(merged, b.sorted[i])
			i++
		default:
			if len(merged) == 0 || merged[len(merged)-1] != b.pending[j] {
				merged = append(merged, b.pending[j])
			}
			j++
		}
	}
	b.sorted, b.pending = merged, nil
}

func (b *bucket) put(o *object) {
	if _, ok := b.objects[o.key]; !ok {
		b.pending = append(b.pending, o.key)
	}
	b.objects[o.key] = o
}

func (b *bucket) remove(key string) bool {
	if _, ok := b.objects[key]; !ok {
		return false
	}
	delete(b.objects, key)
	b.ensureSorted()
	if i := sort.SearchStrings(b.sorted, key); i < len(b.sorted) && b.sorted[i] == key {
		b.sorted = append(b.sorted[:i], b.sorted[i+1:]...)
	}
	return true
}

// listItem is one entry of a listing page: an object or a common prefix.
type listItem struct {
	obj    *object
	prefix string
}

func (it listItem) name() string {
	if it.obj != nil {
		return it.obj.key
	}
	return it.prefix
}

// prefixEnd returns the smallest string greater than every string starting
// with p, or "" when there is none.
func prefixEnd(p string) string {
	b := []byte(p)
	for len(b) > 0 {
		if b[len(b)-1] < 0xff {
			b[len(b)-1]++
			return string(b)
		}
		b = b[:len(b)-1]
	}
	return ""
}

// list returns up to max items (objects and common prefixes, in order) with
// the given prefix that sort after marker. A common prefix that is <= marker
// was already returned and is skipped. Caller holds s.mu (write).
func (b *bucket) list(prefix, delim, marker string, max int) (items []listItem, truncated bool) {
	b.ensureSorted()
	keys := b.sorted
	i := sort.SearchStrings(keys, prefix)
	if marker >= prefix {
		j := sort.SearchStrings(keys, marker)
		if j < len(keys) && keys[j] == marker {
			j++
		}
		i = j
	}
	for i < len(keys) && strings.HasPrefix(keys[i], prefix) {
		if len(items) >= max {
			return items, true
		}
		k := keys[i]
		if delim != "" {
			if d := strings.Index(k[len(prefix):], delim); d >= 0 {
				cp := k[:len(prefix)+d+len(delim)]
				if cp > marker {
					items = append(items, listItem{prefix: cp})
				}
				end := prefixEnd(cp)
				if end == "" {
					break
				}
				i = sort.SearchStrings(keys, end)
				continue
			}
		}
		items = append(items, listItem{obj: b.objects[k]})
		i++
	}
	return items, false
}

// PutOption adjusts an object stored with Put or PutReaderAt.
type PutOption func(*putConfig)

type putConfig struct {
	storageClass string
	contentType  string
	etag         string
	lastModified time.Time
	restore      RestoreState
	meta         map[string]string
}

// WithStorageClass sets the storage class: "Standard" (default), "IA",
// "Archive", "ColdArchive", "DeepColdArchive". The archive classes refuse
// GetObject with 403 InvalidObjectState unless restored (WithRestore).
func WithStorageClass(sc string) PutOption { return func(c *putConfig) { c.storageClass = sc } }

// WithRestore sets an archived object's restore state.
func WithRestore(r RestoreState) PutOption { return func(c *putConfig) { c.restore = r } }

// WithLastModified overrides Last-Modified (default: now); it is kept at
// second precision, like OSS.
func WithLastModified(t time.Time) PutOption { return func(c *putConfig) { c.lastModified = t } }

// WithContentType sets Content-Type (default: from the key's extension, else
// application/octet-stream).
func WithContentType(ct string) PutOption { return func(c *putConfig) { c.contentType = ct } }

// WithETag sets the ETag instead of the content MD5 (quotes are added if
// missing), as for multipart objects ("HEX-N"); PutReaderAt then skips MD5.
func WithETag(etag string) PutOption { return func(c *putConfig) { c.etag = etag } }

// WithMetadata sets user metadata, served as x-oss-meta-NAME headers.
func WithMetadata(m map[string]string) PutOption {
	return func(c *putConfig) {
		c.meta = make(map[string]string, len(m))
		for k, v := range m {
			c.meta[strings.ToLower(k)] = v
		}
	}
}

func quoteETag(e string) string {
	if strings.HasPrefix(e, `"`) && strings.HasSuffix(e, `"`) && len(e) >= 2 {
		return e
	}
	return `"` + e + `"`
}

// newObject computes an object's checksums in one pass over r.
func newObject(key string, r io.ReaderAt, size int64, opts []PutOption) (*object, error) {
	cfg := putConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	o := &object{key: key, data: r, size: size, storageClass: cfg.storageClass, contentType: cfg.contentType,
		restore: cfg.restore, meta: cfg.meta}
	if o.storageClass == "" {
		o.storageClass = "Standard"
	}
	if o.contentType == "" {
		o.contentType = mime.TypeByExtension(path.Ext(key))
		if o.contentType == "" {
			o.contentType = "application/octet-stream"
		}
	}
	o.lastModified = cfg.lastModified
	if o.lastModified.IsZero() {
		o.lastModified = time.Now()
	}
	o.lastModified = o.lastModified.UTC().Truncate(time.Second)

	crc := crc64.New(crcTable)
	var w io.Writer = crc
	h := md5.New()
	if cfg.etag == "" {
		w = io.MultiWriter(crc, h)
	}
	if _, err := io.Copy(w, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, fmt.Errorf("ossemu: reading %q: %w", key, err)
	}
	o.crc64 = crc.Sum64()
	if cfg.etag == "" {
		o.md5 = h.Sum(nil)
		o.etag = `"` + strings.ToUpper(hex.EncodeToString(o.md5)) + `"`
	} else {
		o.etag = quoteETag(cfg.etag)
	}
	return o, nil
}

// bucketLocked returns a bucket, creating a private one if needed. Caller holds
// s.mu (write).
func (s *Server) bucketLocked(name string) *bucket {
	b := s.buckets[name]
	if b == nil {
		b = &bucket{name: name, acl: ACLPrivate, created: time.Now().UTC().Truncate(time.Second), objects: map[string]*object{}}
		s.buckets[name] = b
	}
	return b
}

// CreateBucket creates a bucket (or changes an existing one's ACL).
// public = public-read: anonymous GET, HEAD and listing are allowed.
func (s *Server) CreateBucket(name string, public bool) {
	acl := ACLPrivate
	if public {
		acl = ACLPublicRead
	}
	s.CreateBucketWithACL(name, acl)
}

// CreateBucketWithACL creates a bucket with the given ACL (or changes an
// existing one's ACL).
func (s *Server) CreateBucketWithACL(name string, acl ACL) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucketLocked(name).acl = acl
}

// DeleteBucket removes a bucket and all its objects.
func (s *Server) DeleteBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.buckets, name)
}

// Put stores a copy of data as bucket/key (creating a private bucket if
// needed) and returns what a HEAD would describe.
func (s *Server) Put(bucket, key string, data []byte, opts ...PutOption) ObjectInfo {
	cp := bytes.Clone(data)
	if cp == nil {
		cp = []byte{}
	}
	info, err := s.PutReaderAtErr(bucket, key, bytes.NewReader(cp), int64(len(cp)), opts...)
	if err != nil {
		panic(err) // a bytes.Reader cannot fail
	}
	return info
}

// PutReaderAt stores an object served from r (never copied: r must stay
// valid and unchanged). Its CRC64 and MD5 are computed once, here. It panics
// if r fails; PutReaderAtErr returns the error instead.
func (s *Server) PutReaderAt(bucket, key string, r io.ReaderAt, size int64, opts ...PutOption) ObjectInfo {
	info, err := s.PutReaderAtErr(bucket, key, r, size, opts...)
	if err != nil {
		panic(err)
	}
	return info
}

// PutReaderAtErr is PutReaderAt returning read errors.
func (s *Server) PutReaderAtErr(bucket, key string, r io.ReaderAt, size int64, opts ...PutOption) (ObjectInfo, error) {
	o, err := newObject(key, r, size, opts)
	if err != nil {
		return ObjectInfo{}, err
	}
	s.mu.Lock()
	s.bucketLocked(bucket).put(o)
	s.mu.Unlock()
	return o.info(), nil
}

// Delete removes bucket/key if it exists.
func (s *Server) Delete(bucket, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[bucket]; b != nil {
		b.remove(key)
	}
}

// Object describes bucket/key.
func (s *Server) Object(bucket, key string) (ObjectInfo, bool) {
	o := s.lookup(bucket, key)
	if o == nil {
		return ObjectInfo{}, false
	}
	return o.info(), true
}

// SetRestore changes an object's restore state (e.g. to finish a restore)
// without changing its ETag or Last-Modified. It reports whether the object
// exists.
func (s *Server) SetRestore(bucket, key string, r RestoreState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucket]
	if b == nil || b.objects[key] == nil {
		return false
	}
	cp := *b.objects[key]
	cp.restore = r
	b.objects[key] = &cp
	return true
}

// Keys returns the sorted keys of a bucket that start with prefix.
func (s *Server) Keys(bucket, prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucket]
	if b == nil {
		return nil
	}
	b.ensureSorted()
	i := sort.SearchStrings(b.sorted, prefix)
	var out []string
	for ; i < len(b.sorted) && strings.HasPrefix(b.sorted[i], prefix); i++ {
		out = append(out, b.sorted[i])
	}
	return out
}

func (s *Server) lookup(bucket, key string) *object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if b := s.buckets[bucket]; b != nil {
		return b.objects[key]
	}
	return nil
}

func (s *Server) bucketACL(name string) (ACL, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if b := s.buckets[name]; b != nil {
		return b.acl, true
	}
	return "", false
}
