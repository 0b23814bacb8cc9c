package ossemu

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

const (
	testAK = "LTAIemulatorAK"
	testSK = "emulator-secret"
)

type fixture struct {
	t   *testing.T
	emu *Server
	url string
}

func newFixture(t *testing.T, opts ...func(*Options)) *fixture {
	t.Helper()
	o := Options{Credentials: map[string]string{testAK: testSK}}
	for _, f := range opts {
		f(&o)
	}
	emu := New(o)
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	emu.CreateBucket("bkt", false)
	emu.CreateBucket("pub", true)
	return &fixture{t: t, emu: emu, url: url}
}

func (f *fixture) client(mods ...func(*oss.Config)) *oss.Client {
	return f.clientWith(credentials.NewStaticCredentialsProvider(testAK, testSK), mods...)
}

func (f *fixture) clientWith(p credentials.CredentialsProvider, mods ...func(*oss.Config)) *oss.Client {
	cfg := oss.LoadDefaultConfig().WithEndpoint(f.url).WithRegion("cn-hangzhou").WithCredentialsProvider(p)
	for _, m := range mods {
		m(cfg)
	}
	return oss.NewClient(cfg)
}

// raw sends a plain (anonymous unless headers say otherwise) HTTP request.
func (f *fixture) raw(method, path string, hdr map[string]string) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, body
}

func serviceError(t *testing.T, err error) *oss.ServiceError {
	t.Helper()
	var se *oss.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("want a ServiceError, got %v", err)
	}
	return se
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	se := serviceError(t, err)
	if se.StatusCode != status || (code != "" && se.Code != code) {
		t.Fatalf("got %d %s (%s), want %d %s", se.StatusCode, se.Code, se.Message, status, code)
	}
	if se.RequestID == "" {
		t.Errorf("error without request id")
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func readAll(t *testing.T, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d bytes, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: first difference at byte %d", what, i)
		}
	}
}

func lastRequest(t *testing.T, emu *Server, method, key string) Request {
	t.Helper()
	rs := emu.Requests()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Method == method && rs[i].Key == key {
			return rs[i]
		}
	}
	t.Fatalf("no %s %q in the request log", method, key)
	return Request{}
}
