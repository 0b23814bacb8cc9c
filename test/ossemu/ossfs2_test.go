package ossemu

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// These tests speak to the emulator the way ossfs 2.0 (aliyun/ossfs v2.0.x,
// whose OSS client is PhotonLibOS's ecosystem/oss.cpp) does, so that
// `make bench` can mount it: every URL is virtual-hosted
// (http://BUCKET.ENDPOINT/KEY), sent in absolute form to the emulator
// configured as its --http_proxy, and signed with OSS V1 (no region) or V4
// (--oss_region). The signatures are computed here the way Photon computes
// them, not with the Go SDK the emulator verifies with, so a difference
// between the two shows up as a failure.

// ossfs2Style describes one request as ossfs 2.0 builds it.
type ossfs2Style struct {
	method, bucket, object string
	query                  [][2]string // in dictionary order, values already escaped (as Photon keeps them)
	header                 map[string]string
	region                 string // "" signs V1, else V4
	secret                 string
}

// photonEscape is Photon's url_escape: unreserved characters stay, '/'
// stays unless escapeSlash, everything else is %XX.
func photonEscape(s string, escapeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-._~", c) >= 0,
			c == '/' && !escapeSlash:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

func joinQuery(q [][2]string) string {
	var parts []string
	for _, kv := range q {
		if kv[1] == "" {
			parts = append(parts, kv[0])
		} else {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, "&")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// sign adds Date/x-oss-date, x-oss-content-sha256 (V4) and Authorization
// as Photon's BasicAuthenticator does.
func (o ossfs2Style) sign(h http.Header, now time.Time) {
	for k, v := range o.header {
		h.Set(k, v)
	}
	ossHeaders := func(v4 bool) string {
		var names []string
		for k := range o.header {
			names = append(names, strings.ToLower(k))
		}
		if v4 {
			names = append(names, "x-oss-content-sha256", "x-oss-date")
		}
		var lines []string
		for _, n := range names {
			if strings.HasPrefix(n, "x-oss") || (v4 && (n == "content-type" || n == "content-md5")) {
				lines = append(lines, n+":"+h.Get(n)+"\n")
			}
		}
		sort.Strings(lines)
		return strings.Join(lines, "")
	}
	if o.region == "" {
		date := now.UTC().Format(http.TimeFormat)
		h.Set("Date", date)
		resource := "/" + o.bucket + "/" + o.object
		var sub [][2]string
		for _, kv := range o.query {
			switch kv[0] { // Photon's list of signed subresources
			case "append", "continuation-token", "delete", "objectMeta", "partNumber", "position", "symlink", "uploadId", "uploads", "x-oss-batch-get":
				sub = append(sub, kv)
			}
		}
		if len(sub) > 0 {
			resource += "?" + joinQuery(sub)
		}
		sts := o.method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + date + "\n" + ossHeaders(false) + resource
		mac := hmac.New(sha1.New, []byte(o.secret))
		mac.Write([]byte(sts))
		h.Set("Authorization", "OSS "+testAK+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		return
	}
	iso := now.UTC().Format("20060102T150405Z")
	h.Set("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
	h.Set("x-oss-date", iso)
	canonical := o.method + "\n/" + o.bucket + "/" + photonEscape(o.object, false) + "\n" + joinQuery(o.query) + "\n" +
		ossHeaders(true) + "\n\nUNSIGNED-PAYLOAD"
	sum := sha256.Sum256([]byte(canonical))
	scope := iso[:8] + "/" + o.region + "/oss/aliyun_v4_request"
	sts := "OSS4-HMAC-SHA256\n" + iso + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := hmacSHA256(hmacSHA256(hmacSHA256(hmacSHA256([]byte("aliyun_v4"+o.secret), iso[:8]), o.region), "oss"), "aliyun_v4_request")
	h.Set("Authorization", "OSS4-HMAC-SHA256 Credential="+testAK+"/"+scope+",Signature="+hex.EncodeToString(hmacSHA256(key, sts)))
}

// do sends the request through the emulator as an HTTP proxy, so it
// arrives in absolute form (GET http://BUCKET.127.0.0.1:PORT/KEY) with the
// virtual-hosted Host.
func (o ossfs2Style) do(t *testing.T, f *fixture) (*http.Response, []byte) {
	t.Helper()
	proxy, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + o.bucket + "." + proxy.Host + "/" + photonEscape(o.object, false)
	if len(o.query) > 0 {
		u += "?" + joinQuery(o.query)
	}
	req, err := http.NewRequest(o.method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.sign(req.Header, time.Now())
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestOssfs2AbsoluteFormVirtualHostedSigned(t *testing.T) {
	for _, region := range []string{"", "cn-hangzhou"} {
		name := "V4"
		if region == "" {
			name = "V1"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			const key = "dir/a b+c.txt"
			f.emu.Put("bkt", key, []byte("0123456789"))
			for i := 0; i < 5; i++ {
				f.emu.Put("bkt", "list/k"+string(rune('0'+i)), []byte("x"))
			}
			o := ossfs2Style{method: "GET", bucket: "bkt", object: key, region: region, secret: testSK,
				header: map[string]string{"Range": "bytes=2-5"}}
			resp, body := o.do(t, f)
			if resp.StatusCode != 206 || string(body) != "2345" {
				t.Fatalf("ranged GET: %d %q", resp.StatusCode, body)
			}
			r := lastRequest(t, f.emu, "GET", key)
			if r.Bucket != "bkt" || r.Authorization != name || r.AccessKeyID != testAK {
				t.Fatalf("logged %+v", r)
			}
			o.method, o.header = "HEAD", nil
			if resp, _ := o.do(t, f); resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "10" {
				t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
			}

			// ListObjectsV2, two keys a page, as ossfs 2.0 walks a directory.
			var keys []string
			token := ""
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatal("listing does not end")
				}
				q := [][2]string{{"continuation-token", photonEscape(token, true)}, {"delimiter", "%2F"}, {"list-type", "2"},
					{"max-keys", "2"}, {"prefix", photonEscape("list/", true)}}
				if token == "" {
					q = q[1:]
				}
				lo := ossfs2Style{method: "GET", bucket: "bkt", query: q, region: region, secret: testSK}
				resp, body := lo.do(t, f)
				if resp.StatusCode != 200 {
					t.Fatalf("list page %d: %d %s", pages, resp.StatusCode, body)
				}
				var res struct {
					Contents []struct {
						Key, LastModified, Type string
					}
					NextContinuationToken string
				}
				if err := xml.Unmarshal(body, &res); err != nil {
					t.Fatal(err)
				}
				for _, c := range res.Contents {
					// ossfs 2.0 refuses a listing whose entries lack Type,
					// and parses LastModified with its milliseconds.
					if c.Type != "Normal" || !listTime.MatchString(c.LastModified) {
						t.Fatalf("listed %+v", c)
					}
					keys = append(keys, c.Key)
				}
				if n := strings.Count(string(body), "<Contents>"); n != strings.Count(string(body), "<Type>Normal</Type>") {
					t.Fatalf("page %d: %d <Contents>, not all with <Type>Normal</Type>: %s", pages, n, body)
				}
				if token = res.NextContinuationToken; token == "" {
					break
				}
			}
			if strings.Join(keys, ",") != "list/k0,list/k1,list/k2,list/k3,list/k4" {
				t.Fatalf("listed %v", keys)
			}

			// The check is real: another secret is refused.
			o.method, o.secret = "GET", "not-the-secret"
			if resp, body := o.do(t, f); resp.StatusCode != 403 || !strings.Contains(string(body), "SignatureDoesNotMatch") {
				t.Fatalf("wrong secret: %d %s", resp.StatusCode, body)
			}
		})
	}
}

var listTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$`)
