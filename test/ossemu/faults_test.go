package ossemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// readSome reads a GET body to its end or first error.
func readSome(t *testing.T, c *oss.Client, cx context.Context, key string) ([]byte, error) {
	t.Helper()
	out, err := c.GetObject(cx, &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr(key)})
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func TestFaultReset(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(3, 1<<20)
	f.emu.Put("bkt", "faulty/big", data)
	f.emu.Put("bkt", "other", data)
	f.emu.Put("bkt", "faulty/small", data[:1000])
	f.emu.SetFaults(Faults{ResetAfterBytes: 100_000, ResetCount: 1, KeyFilter: "faulty/"})
	c := f.client()

	// Not matched by the filter, or too short to reach the offset: untouched,
	// and not counted.
	for _, k := range []string{"other", "faulty/small"} {
		got, err := readSome(t, c, ctx(t), k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		sameBytes(t, k, got, data[:len(got)])
	}
	got, err := readSome(t, c, ctx(t), "faulty/big")
	if err == nil {
		t.Fatalf("read %d bytes without error", len(got))
	}
	if len(got) > 100_000 || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("got %d bytes before the reset (want a correct prefix of at most 100000)", len(got))
	}
	r := lastRequest(t, f.emu, "GET", "faulty/big")
	if r.BodyBytes != 100_000 || r.Fault != "reset" || r.Status != 200 {
		t.Fatalf("logged %+v", r)
	}
	// ResetCount 1: the next GET is whole; resuming with a Range works.
	got, err = readSome(t, c, ctx(t), "faulty/big")
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "after reset", got, data)

	// ResetCount 0: every GET while set.
	f.emu.SetFaults(Faults{ResetAfterBytes: 10})
	for i := 0; i < 3; i++ {
		if _, err := readSome(t, c, ctx(t), "other"); err == nil {
			t.Fatal("no reset")
		}
	}
}

func TestFaultShortBody(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(4, 100_000)
	f.emu.Put("bkt", "short", data)
	f.emu.SetFaults(Faults{ShortBodyBytes: 5000, ShortBodyCount: 1})
	c := f.client()
	got, err := readSome(t, c, ctx(t), "short")
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 5000 || !bytes.Equal(got, data[:5000]) {
		t.Fatalf("got %d bytes, err %v; want 5000 and unexpected EOF", len(got), err)
	}
	if r := lastRequest(t, f.emu, "GET", "short"); r.BodyBytes != 5000 || r.Fault != "short" {
		t.Fatalf("logged %+v", r)
	}
	got, err = readSome(t, c, ctx(t), "short")
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "second", got, data)
}

func TestFault5xx(t *testing.T) {
	f := newFixture(t)
	f.emu.Put("bkt", "k", []byte("x"))
	one := f.client(func(cfg *oss.Config) { cfg.WithRetryMaxAttempts(1) })
	f.emu.SetFaults(Faults{Status5xxEveryN: 3})
	var codes []int
	for i := 0; i < 6; i++ {
		_, err := one.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("k")})
		if err != nil {
			se := serviceError(t, err)
			if se.Code != "SlowDown" {
				t.Fatalf("code %q", se.Code)
			}
			codes = append(codes, se.StatusCode)
		} else {
			codes = append(codes, 200)
		}
	}
	if want := []int{200, 200, 503, 200, 200, 503}; !equalInts(codes, want) {
		t.Fatalf("statuses %v, want %v", codes, want)
	}
	// The SDK's own retries hide them.
	f.emu.SetFaults(Faults{Status5xxEveryN: 2, Status5xxCode: 502})
	for i := 0; i < 4; i++ {
		out, err := f.client().GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("k")})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, out.Body)
	}
	n502 := 0
	for _, r := range f.emu.Requests() {
		if r.Status == 502 {
			n502++
			if r.Fault != "5xx" || r.ErrorCode != "ServiceUnavailable" {
				t.Fatalf("logged %+v", r)
			}
		}
	}
	if n502 == 0 {
		t.Fatal("no 502 logged")
	}
	// FailNext: default 500 InternalError.
	f.emu.SetFaults(Faults{FailNext: 2})
	for i, want := range []int{500, 500, 200} {
		_, err := one.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("k")})
		if want == 200 && err != nil || want == 500 && (err == nil || serviceError(t, err).Code != "InternalError") {
			t.Fatalf("request %d: %v, want %d", i, err, want)
		}
	}
	f.emu.SetFaults(Faults{})
	if _, err := one.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("k")}); err != nil {
		t.Fatal(err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultBandwidthAndLatency(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(5, 600_000)
	f.emu.Put("bkt", "slow", data)
	f.emu.SetFaults(Faults{BytesPerSec: 8 << 20, Latency: 5 * time.Millisecond})
	got, err := readSome(t, f.client(), ctx(t), "slow")
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "shaped", got, data)
	r := lastRequest(t, f.emu, "GET", "slow")
	if r.Fault != "latency,bandwidth" || r.BodyBytes != int64(len(data)) {
		t.Fatalf("logged %+v", r)
	}
	// Ranged reads through the cap too.
	out, err := f.client().GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("slow"), Range: oss.Ptr("bytes=1000-299999")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "shaped range", readAll(t, out.Body), data[1000:300000])
}

func TestFaultStall(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(6, 50_000)
	f.emu.Put("bkt", "stall", data)
	f.emu.SetFaults(Faults{StallAfterBytes: 1000, StallDuration: 50 * time.Millisecond, StallCount: 1})
	c := f.client()
	got, err := readSome(t, c, ctx(t), "stall")
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "after stall", got, data)
	if r := lastRequest(t, f.emu, "GET", "stall"); r.Fault != "stall" || r.BodyBytes != int64(len(data)) {
		t.Fatalf("logged %+v", r)
	}
	// A stall without end: the client gives up; it had every byte before
	// the stall.
	f.emu.SetFaults(Faults{StallAfterBytes: 1000})
	cx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out, err := c.GetObject(cx, &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("stall")})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(out.Body, buf); err != nil || !bytes.Equal(buf, data[:1000]) {
		t.Fatalf("before the stall: %v", err)
	}
	rest, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err == nil || len(rest) != 0 {
		t.Fatalf("after the stall: %d bytes, err %v", len(rest), err)
	}
	// The handler notices the client left.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := lastRequest(t, f.emu, "GET", "stall")
		if r.Duration > 0 {
			if r.BodyBytes != 1000 {
				t.Fatalf("logged %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stalled handler did not end after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRequestLog(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(7, 5000)
	info := f.emu.Put("bkt", "logged/obj", data)
	f.emu.ResetRequests()
	c := f.client()
	out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("logged/obj"), Range: oss.Ptr("bytes=100-199"),
		RangeBehavior: oss.Ptr("standard"), IfNoneMatch: oss.Ptr(`"other"`), IfModifiedSince: oss.Ptr("Mon, 02 Jan 2006 15:04:05 GMT")})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, out.Body)
	_, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("logged/obj"), IfMatch: oss.Ptr(info.ETag)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("nope")})
	wantCode(t, err, 404, "NoSuchKey")
	if _, err := c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("logged/")}); err != nil {
		t.Fatal(err)
	}
	rs := f.emu.Requests()
	if len(rs) != 4 {
		t.Fatalf("%d requests logged: %+v", len(rs), rs)
	}
	g := rs[0]
	if g.Method != "GET" || g.Op != "GetObject" || g.Bucket != "bkt" || g.Key != "logged/obj" || g.Range != "bytes=100-199" ||
		g.RangeBehavior != "standard" || g.IfNoneMatch != `"other"` || g.IfModifiedSince == "" || g.Authorization != "V4" ||
		g.AccessKeyID != testAK || g.Status != 206 || g.BodyBytes != 100 || g.RequestID != out.Headers.Get("x-oss-request-id") ||
		g.Time.IsZero() || g.Fault != "" || !strings.Contains(g.UserAgent, "alibabacloud") {
		t.Fatalf("GET entry %+v", g)
	}
	if rs[1].IfMatch != info.ETag || rs[1].Status != 200 || rs[1].BodyBytes != 5000 {
		t.Fatalf("second entry %+v", rs[1])
	}
	if h := rs[2]; h.Method != "HEAD" || h.Status != 404 || h.ErrorCode != "NoSuchKey" || h.BodyBytes != 0 {
		t.Fatalf("HEAD entry %+v", h)
	}
	if l := rs[3]; l.Op != "ListObjectsV2" || l.Key != "" || !strings.Contains(l.RawQuery, "list-type=2") || l.Status != 200 {
		t.Fatalf("LIST entry %+v", l)
	}
	f.emu.ResetRequests()
	if n := len(f.emu.Requests()); n != 0 {
		t.Fatalf("%d entries after reset", n)
	}

	// Bounded.
	small := New(Options{MaxRequestLog: 10})
	small.CreateBucket("pub", true)
	small.Put("pub", "k", nil)
	u, err := small.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	for i := 0; i < 40; i++ {
		resp, err := http.Get(u + "/pub/k?i=" + strings.Repeat("x", i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	rs = small.Requests()
	if len(rs) < 10 || len(rs) > 12 || rs[len(rs)-1].RawQuery != "i="+strings.Repeat("x", 39) {
		t.Fatalf("bounded log: %d entries", len(rs))
	}
}

func TestS3StyleAnonymous(t *testing.T) {
	f := newFixture(t)
	data := GenerateData(8, 4096)
	f.emu.Put("pub", "dir/s3.bin", data)
	f.emu.Put("pub", "top.txt", []byte("top"))
	s3h := map[string]string{"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": "20240101T000000Z", "User-Agent": "rclone/v1.60"}
	rh := map[string]string{"Range": "bytes=10-19"}
	for k, v := range s3h {
		rh[k] = v
	}
	resp, body := f.raw("GET", "/pub/dir/s3.bin?x-id=GetObject", rh)
	if resp.StatusCode != 206 || !bytes.Equal(body, data[10:20]) || resp.Header.Get("Content-Range") != "bytes 10-19/4096" {
		t.Fatalf("ranged GET: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, _ = f.raw("HEAD", "/pub/dir/s3.bin", s3h)
	if resp.StatusCode != 200 || resp.ContentLength != 4096 || resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("HEAD: %d len %d", resp.StatusCode, resp.ContentLength)
	}
	resp, body = f.raw("GET", "/pub/?list-type=2&prefix=&delimiter=%2F&max-keys=1000&encoding-type=url&fetch-owner=false", s3h)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Prefix>dir/</Prefix>")) || !bytes.Contains(body, []byte("<Key>top.txt</Key>")) ||
		!bytes.Contains(body, []byte(`<ETag>"`)) {
		t.Fatalf("list v2: %d %s", resp.StatusCode, body)
	}
	resp, body = f.raw("GET", "/pub?delimiter=/&max-keys=1000&prefix=dir/", s3h)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Key>dir/s3.bin</Key>")) {
		t.Fatalf("list v1: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.raw("HEAD", "/pub", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD bucket: %d", resp.StatusCode)
	}
	// An AWS signature is not verified: refused with a clear message.
	resp, body = f.raw("GET", "/pub/top.txt", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"})
	if resp.StatusCode != 403 || !bytes.Contains(body, []byte("anonymous")) {
		t.Fatalf("AWS signature: %d %s", resp.StatusCode, body)
	}
}

func TestControlAPI(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.EnableControl = true })
	f.emu.Put("pub", "k", []byte("x"))
	req, _ := http.NewRequest("PUT", f.url+"/_emu/faults", strings.NewReader(`{"latency":"1ms","BytesPerSec":"1MiB","resetAfterBytes":100,"KeyFilter":"zz","FailNext":1}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := f.emu.Faults(); resp.StatusCode != 200 || got.Latency != time.Millisecond || got.BytesPerSec != 1<<20 || got.ResetAfterBytes != 100 || got.KeyFilter != "zz" || got.FailNext != 1 {
		t.Fatalf("faults %d %+v", resp.StatusCode, got)
	}
	req, _ = http.NewRequest("PUT", f.url+"/_emu/faults", strings.NewReader(`{"bogus":1}`))
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("bad faults: %v %d", err, resp.StatusCode)
	}
	resp.Body.Close()
	f.raw("GET", "/pub/k", nil)
	resp, body := f.raw("GET", "/_emu/requests", nil)
	var rs []Request
	if err := json.Unmarshal(body, &rs); err != nil || resp.StatusCode != 200 || len(rs) != 1 || rs[0].Key != "k" || rs[0].Status != 200 {
		t.Fatalf("requests: %v %s", err, body)
	}
	resp, _ = f.raw("DELETE", "/_emu/requests", nil)
	if resp.StatusCode != 204 || len(f.emu.Requests()) != 0 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	// Without EnableControl, /_emu/ is just a (missing) bucket.
	g := newFixture(t)
	resp, _ = g.raw("GET", "/_emu/requests", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("control without EnableControl: %d", resp.StatusCode)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "123": 123, "32MB": 32_000_000, "32MiB": 32 << 20, "32M": 32 << 20, "32mb/s": 32_000_000,
		"1.5K": 1536, "2GiB": 2 << 30, "10KB": 10_000, "7B": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "12XB", "-5"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

// Every field of Faults goes through the control API's JSON: the sample
// sets each one (checked by reflection, so a new field must be added here
// and to UnmarshalJSON), and a round trip keeps them all.
func TestFaultsJSONRoundTrip(t *testing.T) {
	in := Faults{Latency: time.Millisecond, BytesPerSec: 1 << 20, ResetAfterBytes: 3, ResetCount: 4,
		Status5xxEveryN: 5, Status5xxCode: 503, FailNext: 6, StallAfterBytes: 7, StallDuration: time.Second,
		StallCount: 8, ShortBodyBytes: 9, ShortBodyCount: 10, WrongContentRange: true, LengthMismatch: 11,
		IgnoreRange: true, AbsurdSize: true, HeadErrorNoDetail: true, MalformedListing: true, DuplicateListing: true,
		HugeHeaderBytes: 12, NegativeListingSize: true, Down: true, ExtraBodyBytes: 13, KeyFilter: "k/",
		UnsatisfiableRange: "minio", NotModifiedWithoutETag: true}
	rv := reflect.ValueOf(in)
	for i := 0; i < rv.NumField(); i++ {
		if rv.Field(i).IsZero() {
			t.Fatalf("the sample leaves Faults.%s unset", rv.Type().Field(i).Name)
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Faults
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
}
