package main

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/store"
)

// The check of the bucket at mount says what to do about a failure.
func TestBucketErrorMessages(t *testing.T) {
	cfg := &config.Config{Bucket: "bkt", Endpoint: "https://127.0.0.1:9000"}
	anon := *cfg
	anon.Anonymous = true
	denied := &store.RequestError{Op: "LIST", Status: 403, Code: "AccessDenied", Kind: store.ErrAccessDenied}
	dns := &store.RequestError{Op: "LIST", Kind: store.ErrEndpoint, Err: &url.Error{Op: "Get", URL: "https://oss-nowhere.example/bkt",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "oss-nowhere.example", IsNotFound: true}}}}
	scheme := &store.RequestError{Op: "LIST", Kind: store.ErrEndpoint, Err: &url.Error{Op: "Get", URL: "https://127.0.0.1:9000/bkt", Err: http.ErrSchemeMismatch}}
	for _, c := range []struct {
		err  error
		cfg  *config.Config
		want string
	}{
		{denied, &anon, `access denied to bucket "bkt" (AccessDenied) for an anonymous mount: the bucket is not public-read; give credentials instead of anonymous (OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, or credentials_file=)`},
		{denied, cfg, `access denied to bucket "bkt" (AccessDenied): check the credentials`},
		{dns, cfg, `endpoint https://127.0.0.1:9000: no such host "oss-nowhere.example" (DNS)`},
		{scheme, cfg, `endpoint https://127.0.0.1:9000 answers plain HTTP, not HTTPS: use endpoint=http://127.0.0.1:9000 (an endpoint without a scheme means https://)`},
	} {
		if got := bucketError(c.err, c.cfg).Error(); !strings.Contains(got, c.want) {
			t.Errorf("%v:\n got %s\nwant %s", c.err, got, c.want)
		}
	}
}

func TestFirstMissing(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ path, want string }{
		{dir, ""},
		{filepath.Join(dir, "a"), filepath.Join(dir, "a")},
		{filepath.Join(dir, "a", "b", "c"), filepath.Join(dir, "a")},
	} {
		if got := firstMissing(c.path); got != c.want {
			t.Errorf("firstMissing(%s) = %q, want %q", c.path, got, c.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := firstMissing(filepath.Join(dir, "f", "x")); got != "" {
		t.Errorf("below a file: %q, want \"\" (not a missing directory)", got)
	}
}
