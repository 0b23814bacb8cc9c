package ossemu

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func TestPatternReaderAt(t *testing.T) {
	p := PatternReaderAt{Seed: 42, Size: 100_003}
	all := make([]byte, p.Size)
	if n, err := p.ReadAt(all, 0); n != len(all) || err != nil {
		t.Fatalf("full read: %d %v", n, err)
	}
	if !bytes.Equal(all, GenerateData(42, p.Size)) {
		t.Fatal("GenerateData differs from ReadAt")
	}
	for _, c := range []struct{ off, n int64 }{{0, 1}, {1, 7}, {3, 17}, {8, 8}, {9999, 12345}, {100_000, 3}} {
		b := make([]byte, c.n)
		if n, err := p.ReadAt(b, c.off); int64(n) != c.n || err != nil {
			t.Fatalf("ReadAt(%d,%d): %d %v", c.off, c.n, n, err)
		}
		if !bytes.Equal(b, all[c.off:c.off+c.n]) {
			t.Fatalf("ReadAt(%d,%d) differs", c.off, c.n)
		}
	}
	b := make([]byte, 10)
	if n, err := p.ReadAt(b, p.Size-4); n != 4 || err != io.EOF || !bytes.Equal(b[:4], all[p.Size-4:]) {
		t.Fatalf("read past end: %d %v", n, err)
	}
	if n, err := p.ReadAt(b, p.Size); n != 0 || err != io.EOF {
		t.Fatalf("read at end: %d %v", n, err)
	}
	if bytes.Equal(GenerateData(1, 64), GenerateData(2, 64)) {
		t.Fatal("seeds give the same data")
	}
}

func TestGetObjectRangeAndHeaders(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(1, 1000)
	lm := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	info := f.emu.Put("bkt", "dir/obj.bin", data, WithLastModified(lm))
	sum := md5.Sum(data)
	wantETag := `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`
	wantCRC := crc64.Checksum(data, crc64.MakeTable(crc64.ECMA))
	if info.ETag != wantETag || info.CRC64 != wantCRC || info.Size != 1000 || !info.LastModified.Equal(lm.Truncate(time.Second)) || info.StorageClass != "Standard" {
		t.Fatalf("ObjectInfo %+v", info)
	}
	c := f.client()
	out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("dir/obj.bin"), Range: oss.Ptr("bytes=10-19")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "range", readAll(t, out.Body), data[10:20])
	if out.StatusCode != 206 || oss.ToString(out.ContentRange) != "bytes 10-19/1000" || out.ContentLength != 10 {
		t.Fatalf("status %d range %q length %d", out.StatusCode, oss.ToString(out.ContentRange), out.ContentLength)
	}
	if oss.ToString(out.ETag) != wantETag || oss.ToString(out.HashCRC64) != strconv.FormatUint(wantCRC, 10) ||
		!oss.ToTime(out.LastModified).Equal(lm.Truncate(time.Second)) || oss.ToString(out.StorageClass) != "Standard" {
		t.Fatalf("headers: etag %s crc %s lm %v sc %s", oss.ToString(out.ETag), oss.ToString(out.HashCRC64), out.LastModified, oss.ToString(out.StorageClass))
	}
	for k, v := range map[string]string{"Accept-Ranges": "bytes", "x-oss-object-type": "Normal", "Last-Modified": lm.Format(http.TimeFormat)} {
		if got := out.Headers.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if out.Headers.Get("x-oss-request-id") == "" || out.Headers.Get("Content-Type") == "" {
		t.Errorf("missing request id or content type: %v", out.Headers)
	}

	// Range forms, legacy and standard behaviour.
	cases := []struct {
		rng      string
		standard bool
		status   int
		from, to int // expected body = data[from:to]
	}{
		{"bytes=0-", false, 206, 0, 1000},
		{"bytes=990-", false, 206, 990, 1000},
		{"bytes=-10", false, 206, 990, 1000},
		{"bytes=999-999", false, 206, 999, 1000},
		{"bytes=0-1000", false, 200, 0, 1000},     // end out of range: whole object
		{"bytes=1000-2000", false, 200, 0, 1000},  // start out of range
		{"bytes=1000-", false, 200, 0, 1000},      // start out of range
		{"bytes=-2000", false, 200, 0, 1000},      // suffix too long
		{"byte=0-499", false, 200, 0, 1000},       // malformed
		{"bytes=5-3", false, 200, 0, 1000},        // malformed
		{"bytes=0-9,20-29", false, 206, 0, 10},    // first range only
		{"bytes=500-2000", true, 206, 500, 1000},  // clipped
		{"bytes=-2000", true, 206, 0, 1000},       // whole, as a range
		{"bytes=1000-2000", true, 416, 0, 0},      // unsatisfiable
		{"bytes=1000-", true, 416, 0, 0},          // unsatisfiable
		{"bytes=abc", true, 200, 0, 1000},         // malformed: ignored
		{"bytes=100-199", true, 206, 100, 200},    // plain
		{"bytes=0-0", true, 206, 0, 1},            // one byte
		{"bytes=999-99999", true, 206, 999, 1000}, // clipped
	}
	for _, tc := range cases {
		req := &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("dir/obj.bin"), Range: oss.Ptr(tc.rng)}
		if tc.standard {
			req.RangeBehavior = oss.Ptr("standard")
		}
		out, err := c.GetObject(ctx(t), req)
		if tc.status == 416 {
			wantCode(t, err, 416, "InvalidRange")
			continue
		}
		if err != nil {
			t.Fatalf("%s (standard=%v): %v", tc.rng, tc.standard, err)
		}
		body := readAll(t, out.Body)
		if out.StatusCode != tc.status {
			t.Fatalf("%s (standard=%v): status %d, want %d", tc.rng, tc.standard, out.StatusCode, tc.status)
		}
		sameBytes(t, tc.rng, body, data[tc.from:tc.to])
		if tc.status == 206 {
			want := fmt.Sprintf("bytes %d-%d/1000", tc.from, tc.to-1)
			if got := oss.ToString(out.ContentRange); got != want {
				t.Fatalf("%s: Content-Range %q, want %q", tc.rng, got, want)
			}
		} else if out.ContentRange != nil {
			t.Fatalf("%s: 200 with Content-Range %q", tc.rng, *out.ContentRange)
		}
	}

	// An empty object.
	f.emu.Put("bkt", "empty", nil)
	out, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("empty"), Range: oss.Ptr("bytes=0-1048575")})
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, out.Body); len(b) != 0 || out.StatusCode != 200 || oss.ToString(out.HashCRC64) != "0" {
		t.Fatalf("empty: %d bytes, status %d, crc %s", len(b), out.StatusCode, oss.ToString(out.HashCRC64))
	}
	_, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("empty"), Range: oss.Ptr("bytes=0-"), RangeBehavior: oss.Ptr("standard")})
	wantCode(t, err, 416, "InvalidRange")

	// Missing key and bucket.
	_, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("nope")})
	wantCode(t, err, 404, "NoSuchKey")
	_, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("nobucket"), Key: oss.Ptr("x")})
	wantCode(t, err, 404, "NoSuchBucket")
}

func TestHeadObject(t *testing.T) {
	f := newFixture(t)
	data := []byte("hello, head")
	f.emu.Put("bkt", "h.txt", data, WithMetadata(map[string]string{"Owner": "me"}))
	c := f.client()
	out, err := c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("h.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if out.ContentLength != int64(len(data)) || oss.ToString(out.ContentType) != "text/plain; charset=utf-8" ||
		oss.ToString(out.HashCRC64) != strconv.FormatUint(crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)), 10) ||
		out.Metadata["Owner"] != "me" && out.Headers.Get("x-oss-meta-owner") != "me" {
		t.Fatalf("head: len %d type %q crc %q meta %v", out.ContentLength, oss.ToString(out.ContentType), oss.ToString(out.HashCRC64), out.Metadata)
	}
	_, err = c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("missing")})
	wantCode(t, err, 404, "NoSuchKey") // decoded from x-oss-err
	_, err = c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("nob"), Key: oss.Ptr("missing")})
	wantCode(t, err, 404, "NoSuchBucket")
	_, err = c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("h.txt"), IfMatch: oss.Ptr(`"nope"`)})
	wantCode(t, err, 412, "PreconditionFailed")

	// On the wire: no body, x-oss-err header.
	f.emu.Put("pub", "x", data)
	resp, body := f.raw("HEAD", "/pub/missing", nil)
	if resp.StatusCode != 404 || len(body) != 0 || resp.Header.Get("x-oss-err") == "" || resp.Header.Get("x-oss-request-id") == "" {
		t.Fatalf("raw HEAD: %d body %d err-header %q", resp.StatusCode, len(body), resp.Header.Get("x-oss-err"))
	}
}

func TestConditionalHeaders(t *testing.T) {
	f := newFixture(t)
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	data := []byte("conditional body")
	info := f.emu.Put("bkt", "c", data, WithLastModified(lm))
	etag, bare := info.ETag, strings.Trim(info.ETag, `"`)
	before, after, same := lm.Add(-time.Hour).Format(http.TimeFormat), lm.Add(time.Hour).Format(http.TimeFormat), lm.Format(http.TimeFormat)
	const invalid = "not a date"
	c := f.client()
	type cond struct{ im, inm, ims, ius string }
	cases := []struct {
		name   string
		c      cond
		status int
	}{
		{"if-match ok", cond{im: etag}, 200},
		{"if-match unquoted", cond{im: bare}, 200},
		{"if-match star", cond{im: "*"}, 200},
		{"if-match list", cond{im: `"x", ` + etag}, 200},
		{"if-match mismatch", cond{im: `"0123"`}, 412},
		{"if-none-match match", cond{inm: etag}, 304},
		{"if-none-match unquoted", cond{inm: bare}, 304},
		{"if-none-match star", cond{inm: "*"}, 304},
		{"if-none-match other", cond{inm: `"0123"`}, 200},
		{"ims not modified (same)", cond{ims: same}, 304},
		{"ims not modified (after)", cond{ims: after}, 304},
		{"ims modified", cond{ims: before}, 200},
		{"ims invalid", cond{ims: invalid}, 200},
		{"ius unmodified", cond{ius: same}, 200},
		{"ius modified", cond{ius: before}, 412},
		{"ius invalid", cond{ius: invalid}, 200},
		{"if-match ok overrides ius", cond{im: etag, ius: before}, 200},
		{"if-match bad with ius ok", cond{im: `"x"`, ius: after}, 412},
		{"inm mismatch overrides ims", cond{inm: `"x"`, ims: after}, 200},
		{"inm match with ims modified", cond{inm: etag, ims: before}, 304},
		{"if-match ok and inm match", cond{im: etag, inm: etag}, 304},
		{"if-match bad and inm match", cond{im: `"x"`, inm: etag}, 412},
		{"ius modified and inm match", cond{ius: before, inm: etag}, 412},
		{"ims+ius both hold", cond{ims: before, ius: after}, 200},
		{"ims fails, ius holds", cond{ims: after, ius: after}, 304},
	}
	p := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for _, tc := range cases {
		req := &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("c"), IfMatch: p(tc.c.im), IfNoneMatch: p(tc.c.inm),
			IfModifiedSince: p(tc.c.ims), IfUnmodifiedSince: p(tc.c.ius), Range: oss.Ptr("bytes=0-3")}
		out, err := c.GetObject(ctx(t), req)
		if tc.status == 200 {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			sameBytes(t, tc.name, readAll(t, out.Body), data[:4])
			continue
		}
		se := serviceError(t, err)
		if se.StatusCode != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.name, se.StatusCode, tc.status)
		}
		if tc.status == 412 && se.Code != "PreconditionFailed" {
			t.Fatalf("%s: code %q", tc.name, se.Code)
		}
		if tc.status == 304 && se.Headers.Get("ETag") != etag {
			t.Fatalf("%s: 304 without ETag", tc.name)
		}
		// The same through HEAD.
		_, err = c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("c"), IfMatch: p(tc.c.im), IfNoneMatch: p(tc.c.inm),
			IfModifiedSince: p(tc.c.ims), IfUnmodifiedSince: p(tc.c.ius)})
		if se := serviceError(t, err); se.StatusCode != tc.status {
			t.Fatalf("%s (HEAD): status %d, want %d", tc.name, se.StatusCode, tc.status)
		}
	}
	// 304 on the wire: no body, validators present.
	f.emu.Put("pub", "c", data, WithLastModified(lm))
	resp, body := f.raw("GET", "/pub/c", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != etag || resp.Header.Get("Last-Modified") != same {
		t.Fatalf("304: status %d body %d etag %q lm %q", resp.StatusCode, len(body), resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
	}
	// 412 on the wire: OSS error XML.
	resp, body = f.raw("GET", "/pub/c", map[string]string{"If-Match": `"zz"`})
	if resp.StatusCode != 412 || !bytes.Contains(body, []byte("<Code>PreconditionFailed</Code>")) || !bytes.Contains(body, []byte("<RequestId>")) {
		t.Fatalf("412: %d %s", resp.StatusCode, body)
	}
}

func TestArchiveObjects(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	data := []byte("frozen")
	f.emu.Put("bkt", "cold", data, WithStorageClass("Archive"))
	_, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("cold")})
	wantCode(t, err, 403, "InvalidObjectState")
	h, err := c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("cold")})
	if err != nil {
		t.Fatal(err)
	}
	if oss.ToString(h.StorageClass) != "Archive" || h.Restore != nil {
		t.Fatalf("head: class %q restore %v", oss.ToString(h.StorageClass), h.Restore)
	}

	f.emu.Put("bkt", "thawing", data, WithStorageClass("ColdArchive"), WithRestore(RestoreOngoing()))
	_, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("thawing")})
	wantCode(t, err, 403, "InvalidObjectState")
	h, err = c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("thawing")})
	if err != nil || oss.ToString(h.Restore) != `ongoing-request="true"` {
		t.Fatalf("ongoing: %v %q", err, oss.ToString(h.Restore))
	}

	exp := time.Now().Add(48 * time.Hour)
	f.emu.Put("bkt", "thawed", data, WithStorageClass("Archive"), WithRestore(RestoredUntil(exp)))
	out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("thawed")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "restored", readAll(t, out.Body), data)
	if r := oss.ToString(out.Restore); !strings.HasPrefix(r, `ongoing-request="false", expiry-date="`) {
		t.Fatalf("restored header %q", r)
	}

	// An expired restore is archived again.
	f.emu.Put("bkt", "refrozen", data, WithStorageClass("Archive"), WithRestore(RestoredUntil(time.Now().Add(-time.Hour))))
	_, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("refrozen")})
	wantCode(t, err, 403, "InvalidObjectState")

	// RestoreObject through the SDK, then the object reads.
	if _, err := c.RestoreObject(ctx(t), &oss.RestoreObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("cold")}); err != nil {
		t.Fatal(err)
	}
	out, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("cold")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "after restore", readAll(t, out.Body), data)
	if info, _ := f.emu.Object("bkt", "cold"); info.Restore.Expiry.IsZero() {
		t.Fatal("restore state not recorded")
	}
	// Not archived: RestoreObject is refused.
	f.emu.Put("bkt", "warm", data)
	_, err = c.RestoreObject(ctx(t), &oss.RestoreObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("warm")})
	wantCode(t, err, 400, "OperationNotSupported")
}

func TestPutDeleteOverHTTP(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	data := GenerateData(9, 300_000)
	put, err := c.PutObject(ctx(t), &oss.PutObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("up/loaded.bin"), Body: bytes.NewReader(data),
		StorageClass: oss.StorageClassIA, Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err) // the SDK also checks the CRC64 it computed against ours
	}
	info, ok := f.emu.Object("bkt", "up/loaded.bin")
	if !ok || info.Size != int64(len(data)) || info.ETag != oss.ToString(put.ETag) || info.StorageClass != "IA" || info.Metadata["k"] != "v" {
		t.Fatalf("stored %+v (put etag %s)", info, oss.ToString(put.ETag))
	}
	out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("up/loaded.bin")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "get after put", readAll(t, out.Body), data)
	if _, err := c.DeleteObject(ctx(t), &oss.DeleteObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("up/loaded.bin")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.emu.Object("bkt", "up/loaded.bin"); ok {
		t.Fatal("still there after delete")
	}
	// Deleting a missing key is fine (204), like OSS.
	if _, err := c.DeleteObject(ctx(t), &oss.DeleteObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("never")}); err != nil {
		t.Fatal(err)
	}
	// Overwrite keeps the listing consistent.
	f.emu.Put("bkt", "a", []byte("1"))
	f.emu.Put("bkt", "a", []byte("22"))
	f.emu.Delete("bkt", "a")
	f.emu.Put("bkt", "a", []byte("333"))
	if keys := f.emu.Keys("bkt", ""); len(keys) != 1 || keys[0] != "a" {
		t.Fatalf("keys %v", keys)
	}
	// forbid-overwrite
	_, err = c.PutObject(ctx(t), &oss.PutObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("a"), Body: strings.NewReader("x"), ForbidOverwrite: oss.Ptr("true")})
	wantCode(t, err, 409, "FileAlreadyExists")
}

// How an unsatisfiable range is answered, per server flavour: OSS by
// default ignores it (200, the whole object); OSS under
// x-oss-range-behavior: standard and MinIO answer 416 InvalidRange, OSS
// with a Content-Range naming the size, MinIO without. And 304s may come
// without an ETag.
func TestUnsatisfiableRangeFlavours(t *testing.T) {
	f := newFixture(t)
	f.emu.Put("pub", "empty", nil)
	f.emu.Put("pub", "five", []byte("12345"))
	for _, c := range []struct {
		flavour, key, rng string
		status            int
		contentRange      string
	}{
		{"", "empty", "bytes=0-99", 200, ""},
		{"", "five", "bytes=5-9", 200, ""},
		{"standard", "empty", "bytes=0-99", 416, "bytes */0"},
		{"standard", "five", "bytes=5-9", 416, "bytes */5"},
		{"standard", "five", "bytes=3-9", 206, "bytes 3-4/5"},
		{"minio", "empty", "bytes=0-99", 416, ""},
		{"minio", "five", "bytes=3-9", 206, "bytes 3-4/5"},
	} {
		f.emu.SetFaults(Faults{UnsatisfiableRange: c.flavour})
		resp, body := f.raw("GET", "/pub/"+c.key, map[string]string{"Range": c.rng})
		if resp.StatusCode != c.status || resp.Header.Get("Content-Range") != c.contentRange {
			t.Errorf("%q %s %s: %d Content-Range %q, want %d %q (%s)", c.flavour, c.key, c.rng,
				resp.StatusCode, resp.Header.Get("Content-Range"), c.status, c.contentRange, body)
		}
		if c.status == 416 && !bytes.Contains(body, []byte("<Code>InvalidRange</Code>")) {
			t.Errorf("%q %s: 416 without InvalidRange: %s", c.flavour, c.key, body)
		}
	}
	etag := f.emu.Put("pub", "five", []byte("12345")).ETag
	for _, without := range []bool{false, true} {
		f.emu.SetFaults(Faults{NotModifiedWithoutETag: without})
		resp, _ := f.raw("GET", "/pub/five", map[string]string{"If-None-Match": etag})
		if resp.StatusCode != 304 || (resp.Header.Get("ETag") == "") != without {
			t.Errorf("304 (NotModifiedWithoutETag %v): %d ETag %q", without, resp.StatusCode, resp.Header.Get("ETag"))
		}
	}
}
