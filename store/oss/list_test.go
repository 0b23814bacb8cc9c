package oss

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/store"
	"github.com/ossmount/ossmount/test/ossemu"
)

func newEmuStore(t *testing.T) (*ossemu.Server, *Store) {
	t.Helper()
	emu := ossemu.New(ossemu.Options{})
	u, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	emu.CreateBucket("pub", true)
	s, err := New(Config{Endpoint: u, Region: "cn-hangzhou", Bucket: "pub", Retries: 1, ReadTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return emu, s
}

func listAll(t *testing.T, s *Store, prefix string) (objects, prefixes []string, pages int, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = s.ListAll(ctx, prefix, func(p store.ListPage) error {
		pages++
		for _, o := range p.Objects {
			objects = append(objects, o.Key)
		}
		prefixes = append(prefixes, p.Prefixes...)
		return nil
	})
	return objects, prefixes, pages, err
}

// ListAll gives every key and common prefix of the emulator's bucket once,
// in order, names that need URL encoding included, and each page is the
// page List gives for the same token.
func TestListAllMatchesTheBucket(t *testing.T) {
	emu, s := newEmuStore(t)
	odd := []string{"a b", "pct%41", "plus+sign", "ü-umlaut", "amp&<lt>", "q?x=1", "tab\tc"}
	var want []string
	for i := range 2345 {
		name := fmt.Sprintf("d/f%05d", i)
		if i < len(odd) {
			name = "d/" + odd[i]
		}
		emu.Put("pub", name, []byte(name))
		want = append(want, name)
	}
	emu.Put("pub", "d/sub1/x", []byte("x"))
	emu.Put("pub", "d/sub 2/y", []byte("y"))
	emu.Put("pub", "other", []byte("z"))
	slices.Sort(want)

	emu.ResetRequests()
	objects, prefixes, pages, err := listAll(t, s, "d/")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(objects)
	if !slices.Equal(objects, want) {
		t.Fatalf("listed %d keys, want %d; first difference near %q", len(objects), len(want), firstDiff(objects, want))
	}
	slices.Sort(prefixes)
	if !slices.Equal(prefixes, []string{"d/sub 2/", "d/sub1/"}) {
		t.Fatalf("prefixes %q", prefixes)
	}
	if pages != 3 {
		t.Fatalf("%d pages, want 3 (2347 entries, 1000 a page)", pages)
	}
	lists := 0
	for _, r := range emu.Requests() {
		if r.Op == "ListObjectsV2" {
			lists++
		}
	}
	if lists != 3 {
		t.Fatalf("%d ListObjectsV2 requests, want 3 (no page asked for twice or past the end)", lists)
	}

	// Page by page with List, following the tokens: the same entries.
	var seq []string
	token := ""
	for {
		p, err := s.List(context.Background(), "d/", token, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Objects {
			seq = append(seq, o.Key)
		}
		if p.NextToken == "" {
			break
		}
		token = p.NextToken
	}
	slices.Sort(seq)
	if !slices.Equal(seq, want) {
		t.Fatalf("List page by page: %d keys, want %d", len(seq), len(want))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " / " + b[i]
		}
	}
	return "the end"
}

// A listing garbled on every answer fails as a protocol error after the
// retries; an error from the callback stops the walk and is returned.
func TestListAllErrors(t *testing.T) {
	emu, s := newEmuStore(t)
	for i := range 1500 {
		emu.Put("pub", fmt.Sprintf("k%04d", i), []byte("x"))
	}
	stop := errors.New("stop")
	calls := 0
	err := s.ListAll(context.Background(), "", func(store.ListPage) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("callback error: got %v after %d calls, want %v after 1", err, calls, stop)
	}

	emu.SetFaults(ossemu.Faults{MalformedListing: true})
	_, _, _, err = listAll(t, s, "")
	if !errors.Is(err, store.ErrProtocol) {
		t.Fatalf("malformed listing: %v, want store.ErrProtocol", err)
	}
	emu.SetFaults(ossemu.Faults{})
	objects, _, _, err := listAll(t, s, "")
	if err != nil || len(objects) != 1500 {
		t.Fatalf("after the fault: %d keys, %v", len(objects), err)
	}
}

// The next page is asked for while the current page's body is still
// arriving: the server below holds page 1's entries back until page 2 has
// been requested (or 20 s passed), after sending the head that carries the
// token. The token is URL-decoded before it is sent back.
func TestListAllAsksForTheNextPageBeforeThisOneEnds(t *testing.T) {
	page2Asked := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex // guards overlapped and gotToken, set by the handler
	var overlapped bool
	var gotToken string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<ListBucketResult><Name>b</Name><Prefix>p/</Prefix>"+
			"<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><EncodingType>url</EncodingType>")
		if tok := q.Get("continuation-token"); tok != "" {
			mu.Lock()
			gotToken = tok
			mu.Unlock()
			once.Do(func() { close(page2Asked) })
			io.WriteString(w, "<IsTruncated>false</IsTruncated>"+entry("p/page%202")+"</ListBucketResult>")
			return
		}
		io.WriteString(w, "<IsTruncated>true</IsTruncated><NextContinuationToken>tok%2B1</NextContinuationToken><KeyCount>1</KeyCount>")
		w.(http.Flusher).Flush()
		select {
		case <-page2Asked:
			mu.Lock()
			overlapped = true
			mu.Unlock()
		case <-time.After(20 * time.Second):
		}
		io.WriteString(w, entry("p/page%201")+"</ListBucketResult>")
	}))
	defer srv.Close()
	s, err := New(Config{Endpoint: srv.URL, Region: "cn-hangzhou", Bucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	objects, _, pages, err := listAll(t, s, "p/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(objects, []string{"p/page 1", "p/page 2"}) || pages != 2 {
		t.Fatalf("got %q in %d pages", objects, pages)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotToken != "tok+1" {
		t.Fatalf("continuation-token %q sent, want the decoded tok+1", gotToken)
	}
	if !overlapped {
		t.Fatal("page 2 was not requested until page 1 had ended")
	}
}

func entry(key string) string {
	return "<Contents><Key>" + key + "</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>" +
		`<ETag>"E1"</ETag><Size>7</Size><StorageClass>Standard</StorageClass></Contents>`
}

func TestDecodeListPage(t *testing.T) {
	const head = "<ListBucketResult><Name>b</Name>"
	cases := []struct {
		name       string
		body       string
		wantKeys   []string
		wantPrefix []string
		wantToken  string
		wantEarly  string // "" = early must not be called
		wantErr    bool
	}{
		{name: "token first, url encoding",
			body:     head + "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>a%2Bb</NextContinuationToken>" + entry("x%20y") + "<CommonPrefixes><Prefix>d%2F1/</Prefix></CommonPrefixes></ListBucketResult>",
			wantKeys: []string{"x y"}, wantPrefix: []string{"d/1/"}, wantToken: "a+b", wantEarly: "a+b"},
		{name: "token after the entries: no early call",
			body:     head + "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>" + entry("k") + "<NextContinuationToken>t</NextContinuationToken></ListBucketResult>",
			wantKeys: []string{"k"}, wantToken: "t"},
		{name: "token before EncodingType: no early call, decoded at the end",
			body:     head + "<IsTruncated>true</IsTruncated><NextContinuationToken>t%2B</NextContinuationToken><EncodingType>url</EncodingType>" + entry("k%25") + "</ListBucketResult>",
			wantKeys: []string{"k%"}, wantToken: "t+"},
		{name: "no EncodingType: names taken as they are",
			body:     head + "<IsTruncated>false</IsTruncated>" + entry("a%20b+c") + "</ListBucketResult>",
			wantKeys: []string{"a%20b+c"}},
		{name: "last page with a token: no next page",
			body:     head + "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><NextContinuationToken>t</NextContinuationToken>" + entry("k") + "</ListBucketResult>",
			wantKeys: []string{"k"}, wantEarly: "t"},
		{name: "truncated without a token", body: head + "<IsTruncated>true</IsTruncated>" + entry("k") + "</ListBucketResult>", wantErr: true},
		{name: "cut in the middle", body: head + "<IsTruncated>false</IsTruncated>" + entry("k")[:40], wantErr: true},
		{name: "cut between entries", body: head + "<IsTruncated>false</IsTruncated>" + entry("k"), wantErr: true},
		{name: "not a listing", body: "<Error><Code>X</Code></Error>", wantErr: true},
		{name: "empty", body: "", wantErr: true},
		{name: "bad escape", body: head + "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>" + entry("%zz") + "</ListBucketResult>", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var early []string
			page, err := decodeListPage(strings.NewReader(c.body), func(tok string) { early = append(early, tok) })
			if c.wantErr {
				if err == nil {
					t.Fatalf("no error; page %+v", page)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range page.Objects {
				keys = append(keys, o.Key)
				if o.Size != 7 || o.ETag != `"E1"` || o.StorageClass != "Standard" || o.LastModified.Year() != 2026 {
					t.Fatalf("entry %+v", o)
				}
			}
			if !slices.Equal(keys, c.wantKeys) || !slices.Equal(page.Prefixes, c.wantPrefix) || page.NextToken != c.wantToken {
				t.Fatalf("keys %q prefixes %q token %q; want %q %q %q", keys, page.Prefixes, page.NextToken, c.wantKeys, c.wantPrefix, c.wantToken)
			}
			var wantEarly []string
			if c.wantEarly != "" {
				wantEarly = []string{c.wantEarly}
			}
			if !slices.Equal(early, wantEarly) {
				t.Fatalf("early calls %q, want %q", early, wantEarly)
			}
		})
	}
}
