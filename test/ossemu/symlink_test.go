package ossemu

import (
	"net/url"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// TestSymlinks: PutSymlink and GetSymlink through the SDK, HEAD and GET of
// a link, and the listing's Type.
func TestSymlinks(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.emu.Put("bkt", "dir/target file", []byte("target bytes"))
	if _, err := c.PutSymlink(ctx(t), &oss.PutSymlinkRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("ln"),
		Target: oss.Ptr(url.PathEscape("dir/target file"))}); err != nil {
		t.Fatal(err)
	}
	f.emu.PutSymlink("bkt", "dangling", "no/such")
	g, err := c.GetSymlink(ctx(t), &oss.GetSymlinkRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("ln")})
	if err != nil || oss.ToString(g.Target) != url.PathEscape("dir/target file") || oss.ToString(g.ETag) == "" {
		t.Fatalf("GetSymlink: %v %v", oss.ToString(g.Target), err)
	}
	_, err = c.GetSymlink(ctx(t), &oss.GetSymlinkRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("dir/target file")})
	wantCode(t, err, 400, "NotSymlink")
	h, err := c.HeadObject(ctx(t), &oss.HeadObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("ln")})
	if err != nil || h.Headers.Get("x-oss-object-type") != "Symlink" || h.Headers.Get("x-oss-symlink-target") != url.PathEscape("dir/target file") {
		t.Fatalf("HEAD of the link: %v %v", h, err)
	}
	o, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("ln")})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "GET through the link", readAll(t, o.Body), []byte("target bytes"))
	_, err = c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("dangling")})
	wantCode(t, err, 404, "SymlinkTargetNotExist")
	l, err := c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Delimiter: oss.Ptr("/")})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, o := range l.Contents {
		types[oss.ToString(o.Key)] = oss.ToString(o.Type)
	}
	if types["ln"] != "Symlink" || types["dangling"] != "Symlink" || len(l.CommonPrefixes) != 1 {
		t.Fatalf("listing types %v", types)
	}
	// forbid-overwrite: 409 FileAlreadyExists on an existing key, link or not.
	for _, k := range []string{"ln", "dir/target file"} {
		_, err = c.PutSymlink(ctx(t), &oss.PutSymlinkRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr(k), Target: oss.Ptr("other"), ForbidOverwrite: oss.Ptr("true")})
		wantCode(t, err, 409, "FileAlreadyExists")
	}
	if _, err := c.PutSymlink(ctx(t), &oss.PutSymlinkRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr("new"), Target: oss.Ptr("other"), ForbidOverwrite: oss.Ptr("true")}); err != nil {
		t.Fatalf("forbid-overwrite PutSymlink of a new key: %v", err)
	}
	// Anonymous writes are refused like any PUT.
	_, err = f.clientWith(credentials.NewAnonymousCredentialsProvider()).PutSymlink(ctx(t), &oss.PutSymlinkRequest{Bucket: oss.Ptr("pub"), Key: oss.Ptr("x"), Target: oss.Ptr("y")})
	wantCode(t, err, 403, "AccessDenied")
}
