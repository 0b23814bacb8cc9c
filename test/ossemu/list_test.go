package ossemu

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func TestListObjectsV2Pagination(t *testing.T) {
	f := newFixture(t)
	var all []string
	for d := 0; d < 50; d++ {
		for i := 0; i < 100; i++ {
			k := fmt.Sprintf("d%02d/f%03d", d, i)
			f.emu.Put("bkt", k, []byte(k))
			all = append(all, k)
		}
	}
	f.emu.Put("bkt", "top1", []byte("x"))
	f.emu.Put("bkt", "top2", []byte("x"))
	all = append(all, "top1", "top2")
	sort.Strings(all)
	c := f.client()

	// Flat listing, 1000 per page.
	var got []string
	pages := 0
	p := c.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), MaxKeys: 1000})
	for p.HasNext() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.KeyCount != len(page.Contents) {
			t.Fatalf("KeyCount %d with %d contents", page.KeyCount, len(page.Contents))
		}
		for _, o := range page.Contents {
			got = append(got, oss.ToString(o.Key))
			if o.Size != int64(len(oss.ToString(o.Key))) && oss.ToString(o.Key)[:3] != "top" {
				t.Fatalf("size of %s: %d", oss.ToString(o.Key), o.Size)
			}
			if o.LastModified == nil || oss.ToString(o.ETag) == "" || oss.ToString(o.StorageClass) != "Standard" || oss.ToString(o.Type) != "Normal" {
				t.Fatalf("incomplete entry %+v", o)
			}
		}
	}
	if pages != 6 || len(got) != len(all) {
		t.Fatalf("%d pages, %d keys; want 6 pages, %d keys", pages, len(got), len(all))
	}
	for i := range got {
		if got[i] != all[i] {
			t.Fatalf("key %d: %q, want %q", i, got[i], all[i])
		}
	}

	// Delimited: 50 common prefixes and 2 objects, 7 per page, in order.
	var prefixes, objects []string
	p = c.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Delimiter: oss.Ptr("/"), MaxKeys: 7})
	for p.HasNext() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(page.Contents) + len(page.CommonPrefixes); n > 7 || page.KeyCount != n {
			t.Fatalf("page of %d items, KeyCount %d", n, page.KeyCount)
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, oss.ToString(cp.Prefix))
		}
		for _, o := range page.Contents {
			objects = append(objects, oss.ToString(o.Key))
		}
	}
	if len(prefixes) != 50 || prefixes[0] != "d00/" || prefixes[49] != "d49/" || len(objects) != 2 {
		t.Fatalf("prefixes %d (%v...), objects %v", len(prefixes), prefixes[:2], objects)
	}
	seen := map[string]bool{}
	for _, p := range prefixes {
		if seen[p] {
			t.Fatalf("prefix %s listed twice", p)
		}
		seen[p] = true
	}

	// Prefix + delimiter, default max-keys (100).
	out, err := c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("d07/"), Delimiter: oss.Ptr("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 100 || out.IsTruncated || out.MaxKeys != 100 || oss.ToString(out.Prefix) != "d07/" {
		t.Fatalf("d07/: %d keys truncated=%v maxkeys=%d", len(out.Contents), out.IsTruncated, out.MaxKeys)
	}
	// start-after
	out, err = c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), StartAfter: oss.Ptr("d49/f097"), MaxKeys: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 4 || oss.ToString(out.Contents[0].Key) != "d49/f098" || oss.ToString(out.StartAfter) != "d49/f097" {
		t.Fatalf("start-after: %d keys, first %q", len(out.Contents), oss.ToString(out.Contents[0].Key))
	}
	// Bad token.
	_, err = c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), ContinuationToken: oss.Ptr("!!!")})
	wantCode(t, err, 400, "InvalidArgument")
	// No such bucket.
	_, err = c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("nob")})
	wantCode(t, err, 404, "NoSuchBucket")
}

func TestListEncodingURL(t *testing.T) {
	f := newFixture(t)
	keys := []string{"a b/c d.txt", "plus+sign", "percent%41", "uni/中文/файл", "amp&lt<>\"'", "tab\tkey", "ctl\x01key", "q?x=1#frag", "~tilde", "dir/"}
	for _, k := range keys {
		f.emu.Put("bkt", k, []byte(k))
		f.emu.Put("pub", k, []byte(k))
	}
	sort.Strings(keys)
	c := f.client()
	// The SDK always asks for encoding-type=url and decodes.
	var got []string
	p := c.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), MaxKeys: 3})
	for p.HasNext() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if oss.ToString(page.EncodingType) != "url" {
			t.Fatalf("EncodingType %q", oss.ToString(page.EncodingType))
		}
		for _, o := range page.Contents {
			got = append(got, oss.ToString(o.Key))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(keys) {
		t.Fatalf("keys\n got %q\nwant %q", got, keys)
	}
	// Each key reads back through GetObject.
	for _, k := range keys {
		out, err := c.GetObject(ctx(t), &oss.GetObjectRequest{Bucket: oss.Ptr("bkt"), Key: oss.Ptr(k)})
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		sameBytes(t, k, readAll(t, out.Body), []byte(k))
	}
	// Prefix with special characters, delimiter.
	out, err := c.ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("uni/中"), Delimiter: oss.Ptr("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CommonPrefixes) != 1 || oss.ToString(out.CommonPrefixes[0].Prefix) != "uni/中文/" || oss.ToString(out.Prefix) != "uni/中" {
		t.Fatalf("prefix listing: %+v", out.CommonPrefixes)
	}
	// Without encoding-type the XML carries the raw keys (escaped as XML).
	resp, body := f.raw("GET", "/pub?list-type=2&prefix="+url.QueryEscape("plus+"), nil)
	var res struct {
		Contents []struct{ Key string }
	}
	if resp.StatusCode != 200 || xml.Unmarshal(body, &res) != nil || len(res.Contents) != 1 || res.Contents[0].Key != "plus+sign" {
		t.Fatalf("raw listing: %d %s", resp.StatusCode, body)
	}
	// With it, values are percent-encoded.
	_, body = f.raw("GET", "/pub?list-type=2&encoding-type=url&prefix="+url.QueryEscape("a b"), nil)
	res.Contents = nil
	if err := xml.Unmarshal(body, &res); err != nil || len(res.Contents) != 1 || res.Contents[0].Key != "a%20b/c%20d.txt" {
		t.Fatalf("encoded listing: %s", body)
	}
}

func TestListObjectsV1(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 250; i++ {
		f.emu.Put("bkt", fmt.Sprintf("v1/%03d", i), []byte("x"))
	}
	for i := 0; i < 5; i++ {
		f.emu.Put("bkt", fmt.Sprintf("v1/sub%d/x", i), []byte("x"))
	}
	c := f.client()
	n, prefixes, pages := 0, 0, 0
	p := c.NewListObjectsPaginator(&oss.ListObjectsRequest{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("v1/"), Delimiter: oss.Ptr("/"), MaxKeys: 100})
	for p.HasNext() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(page.Contents)
		prefixes += len(page.CommonPrefixes)
		if page.IsTruncated && oss.ToString(page.NextMarker) == "" {
			t.Fatal("truncated without NextMarker")
		}
		for _, o := range page.Contents {
			if o.Owner == nil || oss.ToString(o.Owner.ID) == "" {
				t.Fatal("V1 listing without Owner")
			}
		}
	}
	if n != 250 || prefixes != 5 || pages != 3 {
		t.Fatalf("%d keys, %d prefixes, %d pages", n, prefixes, pages)
	}
	// A marker that is a common prefix skips the keys under it.
	out, err := c.ListObjects(ctx(t), &oss.ListObjectsRequest{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("v1/"), Delimiter: oss.Ptr("/"), Marker: oss.Ptr("v1/sub1/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CommonPrefixes) != 3 || oss.ToString(out.CommonPrefixes[0].Prefix) != "v1/sub2/" {
		t.Fatalf("after marker: %d prefixes", len(out.CommonPrefixes))
	}
}

func TestListLargeBucketIsFast(t *testing.T) {
	f := newFixture(t)
	n := 100_000
	if raceEnabled {
		n = 20_000 // the race detector slows the SDK's XML decoding tenfold
	}
	for i := 0; i < n; i++ {
		f.emu.Put("bkt", fmt.Sprintf("many/%06d", i), nil)
	}
	start := time.Now()
	total := 0
	p := f.client().NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Prefix: oss.Ptr("many/"), MaxKeys: 1000})
	for p.HasNext() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		total += len(page.Contents)
	}
	if total != n {
		t.Fatalf("listed %d, want %d", total, n)
	}
	t.Logf("listed %d keys in %v", n, time.Since(start))
	// A delimited listing of the parent skips the 100k keys at once.
	out, err := f.client().ListObjectsV2(ctx(t), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt"), Delimiter: oss.Ptr("/")})
	if err != nil || len(out.CommonPrefixes) != 1 || len(out.Contents) != 0 || out.IsTruncated {
		t.Fatalf("delimited: %v %+v", err, out)
	}
}
