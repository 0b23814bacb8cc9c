package ossemu

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

func TestSignatures(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Credentials["STSKEY"] = "sts-secret"
		o.Credentials["PINNED"] = "pinned-secret"
		o.SecurityTokens = map[string]string{"PINNED": "the-token"}
	})
	f.emu.Put("bkt", "dir/a b+c.txt", []byte("signed"))
	get := func(c *oss.Client, bucket string) error {
		out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("dir/a b+c.txt"), Range: oss.Ptr("bytes=0-2")})
		if err == nil {
			readAll(t, out.Body)
		}
		return err
	}
	list := func(c *oss.Client) error {
		_, err := c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("dir/"), Delimiter: oss.Ptr("/"),
			ContinuationToken: oss.Ptr(encodeToken("dir/")), StartAfter: oss.Ptr("d"), FetchOwner: true})
		return err
	}
	v1 := func(cfg *oss.Config) { cfg.WithSignatureVersion(oss.SignatureVersionV1) }
	extra := func(cfg *oss.Config) {
		cfg.WithAdditionalHeaders([]string{"host", "user-agent"})
	}

	for name, c := range map[string]*oss.Client{
		"V4":                    f.client(),
		"V1":                    f.client(v1),
		"V4 additional headers": f.client(extra),
		"V4 STS token":          f.clientWith(credentials.NewStaticCredentialsProvider("STSKEY", "sts-secret", "any-token")),
		"V1 STS token":          f.clientWith(credentials.NewStaticCredentialsProvider("STSKEY", "sts-secret", "any-token"), v1),
		"V4 pinned token":       f.clientWith(credentials.NewStaticCredentialsProvider("PINNED", "pinned-secret", "the-token")),
	} {
		if err := get(c, "bkt"); err != nil {
			t.Fatalf("%s GET: %v", name, err)
		}
		if err := list(c); err != nil {
			t.Fatalf("%s LIST: %v", name, err)
		}
		if _, err := c.GetBucketInfo(ctx(t), &oss.GetBucketInfoRequest{Bucket: oss.Ptr("bkt")}); err != nil {
			t.Fatalf("%s GetBucketInfo: %v", name, err)
		}
		if _, err := c.PutObject(ctx(t), &oss.PutObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("w/" + name), Body: strings.NewReader(name)}); err != nil {
			t.Fatalf("%s PUT: %v", name, err)
		}
	}
	kinds := map[string]bool{}
	for _, r := range f.emu.Requests() {
		if r.Status >= 300 {
			t.Fatalf("failed request %+v", r)
		}
		kinds[r.Authorization+" "+r.AccessKeyID] = true
	}
	for _, k := range []string{"V4 " + testAK, "V1 " + testAK, "V4 STSKEY", "V1 STSKEY", "V4 PINNED"} {
		if !kinds[k] {
			t.Fatalf("no %q request in the log (%v)", k, kinds)
		}
	}

	wrong := f.clientWith(credentials.NewStaticCredentialsProvider(testAK, "wrong-secret"))
	wantCode(t, get(wrong, "bkt"), 403, "SignatureDoesNotMatch")
	wantCode(t, list(wrong), 403, "SignatureDoesNotMatch")
	// Wrong secret on a public bucket still fails: a given signature is checked.
	f.emu.Put("pub", "dir/a b+c.txt", []byte("signed"))
	wantCode(t, get(wrong, "pub"), 403, "SignatureDoesNotMatch")
	wantCode(t, get(f.clientWith(credentials.NewStaticCredentialsProvider(testAK, "wrong-secret"), v1), "bkt"), 403, "SignatureDoesNotMatch")
	wantCode(t, get(f.clientWith(credentials.NewStaticCredentialsProvider("NOSUCHAK", testSK)), "bkt"), 403, "InvalidAccessKeyId")
	wantCode(t, get(f.clientWith(credentials.NewStaticCredentialsProvider("PINNED", "pinned-secret", "other")), "bkt"), 403, "InvalidSecurityToken")
	// HEAD errors reach the SDK through x-oss-err.
	_, err := wrong.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("dir/a b+c.txt")})
	wantCode(t, err, 403, "SignatureDoesNotMatch")
	// Wrong region in the scope.
	other := oss.NewClient(oss.LoadDefaultConfig().WithEndpoint(f.url).WithRegion("cn-beijing").
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, testSK)))
	wantCode(t, get(other, "bkt"), 403, "SignatureDoesNotMatch")
}

func TestClockSkew(t *testing.T) {
	f := newFixture(t)
	f.emu.Put("bkt", "k", []byte("x"))
	for _, v := range []oss.SignatureVersionType{oss.SignatureVersionV4, oss.SignatureVersionV1} {
		// One attempt: the SDK corrects its clock and retries on RequestTimeTooSkewed.
		c := f.client(func(cfg *oss.Config) { cfg.WithSignatureVersion(v).WithRetryMaxAttempts(1) })
		// The SDK signs with the time of an x-oss-date header given in HTTP format.
		old := map[string]string{"x-oss-date": time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}
		_, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("k"), RequestCommon: oss.RequestCommon{Headers: old}})
		wantCode(t, err, 403, "RequestTimeTooSkewed")
		recent := map[string]string{"x-oss-date": time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat)}
		out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("k"), RequestCommon: oss.RequestCommon{Headers: recent}})
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		readAll(t, out.Body)
	}
}

func TestAnonymousAccess(t *testing.T) {
	f := newFixture(t)
	f.emu.Put("bkt", "private.txt", []byte("secret"))
	f.emu.Put("pub", "public.txt", []byte("open"))
	anon := f.clientWith(credentials.NewAnonymousCredentialsProvider())
	_, err := anon.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("private.txt")})
	wantCode(t, err, 403, "AccessDenied")
	_, err = anon.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("private.txt")})
	wantCode(t, err, 403, "AccessDenied")
	_, err = anon.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt")})
	wantCode(t, err, 403, "AccessDenied")

	out, err := anon.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("pub"), Key: oss.Ptr("public.txt")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "anonymous public", readAll(t, out.Body), []byte("open"))
	if _, err := anon.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("pub")}); err != nil {
		t.Fatal(err)
	}
	// public-read: no anonymous writes.
	_, err = anon.PutObject(ctx(t), &oss.PutObjectRequest{Bucket: oss.Ptr("pub"), Key: oss.Ptr("new"), Body: strings.NewReader("x")})
	wantCode(t, err, 403, "AccessDenied")
	_, err = anon.DeleteObject(ctx(t), &oss.DeleteObjectRequest{Bucket: oss.Ptr("pub"), Key: oss.Ptr("public.txt")})
	wantCode(t, err, 403, "AccessDenied")
	// public-read-write: anonymous writes too.
	f.emu.CreateBucketWithACL("rwbucket", ACLPublicReadWrite)
	if _, err := anon.PutObject(ctx(t), &oss.PutObjectRequest{Bucket: oss.Ptr("rwbucket"), Key: oss.Ptr("new"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.DeleteObject(ctx(t), &oss.DeleteObjectRequest{Bucket: oss.Ptr("rwbucket"), Key: oss.Ptr("new")}); err != nil {
		t.Fatal(err)
	}
	if r := lastRequest(t, f.emu, "DELETE", "new"); r.Authorization != "anonymous" || r.Status != 204 || r.Op != "DeleteObject" {
		t.Fatalf("logged %+v", r)
	}
	// Presigned URLs are refused, not mistaken for anonymous requests.
	resp, _ := f.raw("GET", "/pub/public.txt?OSSAccessKeyId=x&Expires=1&Signature=y", nil)
	if resp.StatusCode != 403 {
		t.Fatalf("presigned: %d", resp.StatusCode)
	}
}

func TestVirtualHostedStyle(t *testing.T) {
	f := newFixture(t)
	f.emu.Put("bkt", "vh/key", []byte("virtual"))
	addr := strings.TrimPrefix(f.url, "http://")
	_, port, _ := net.SplitHostPort(addr)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	c := oss.NewClient(oss.LoadDefaultConfig().WithEndpoint("http://oss-emu.test:" + port).WithRegion("cn-hangzhou").
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, testSK)).WithHttpClient(hc))
	out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("vh/key")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "vhost", readAll(t, out.Body), []byte("virtual"))
	lo, err := c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt")})
	if err != nil || len(lo.Contents) != 1 {
		t.Fatalf("vhost list: %v", err)
	}
	r := lastRequest(t, f.emu, "GET", "vh/key")
	if r.Bucket != "bkt" {
		t.Fatalf("bucket %q", r.Bucket)
	}
}

func TestBucketCalls(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	loc, err := c.GetBucketLocation(ctx(t), &oss.GetBucketLocationRequest{Bucket: oss.Ptr("bkt")})
	if err != nil || oss.ToString(loc.LocationConstraint) != "oss-cn-hangzhou" {
		t.Fatalf("location: %v %v", err, loc)
	}
	info, err := c.GetBucketInfo(ctx(t), &oss.GetBucketInfoRequest{Bucket: oss.Ptr("pub")})
	if err != nil || oss.ToString(info.BucketInfo.Name) != "pub" || oss.ToString(info.BucketInfo.ACL) != "public-read" {
		t.Fatalf("bucket info: %v %+v", err, info)
	}
	_, err = c.GetBucketInfo(ctx(t), &oss.GetBucketInfoRequest{Bucket: oss.Ptr("nob")})
	wantCode(t, err, 404, "NoSuchBucket")
	if ok, err := c.IsBucketExist(ctx(t), "bkt"); err != nil || !ok {
		t.Fatalf("IsBucketExist: %v %v", ok, err)
	}
	if ok, err := c.IsBucketExist(ctx(t), "nob"); err != nil || ok {
		t.Fatalf("IsBucketExist(nob): %v %v", ok, err)
	}
	lb, err := c.ListBuckets(ctx(t), &oss.ListBucketsRequest{})
	if err != nil || len(lb.Buckets) != 2 || oss.ToString(lb.Buckets[0].Name) != "bkt" {
		t.Fatalf("list buckets: %v %+v", err, lb)
	}
	if _, err := c.PutBucket(ctx(t), &oss.PutBucketRequest{Bucket: oss.Ptr("made")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx(t), &oss.DeleteBucketRequest{Bucket: oss.Ptr("made")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObjectAcl(ctx(t), &oss.GetObjectAclRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("k")})
	wantCode(t, err, 400, "NotImplemented")
}
