package ossemu

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"
)

// authorize checks the request's signature, or its right to go anonymous,
// and writes the 403 itself when it returns false. write marks PUT, DELETE
// and POST.
func (c *call) authorize(acl ACL, write bool) bool {
	switch c.entry.Authorization {
	case "anonymous":
		if acl == ACLPublicReadWrite || (acl == ACLPublicRead && !write) {
			return true
		}
		c.fail(http.StatusForbidden, ossError{Code: "AccessDenied"})
		return false
	case "presigned":
		c.fail(http.StatusForbidden, ossError{Code: "AccessDenied", Message: "The emulator does not accept signatures in the query string."})
		return false
	case "unknown":
		c.fail(http.StatusForbidden, ossError{Code: "AccessDenied", Message: "The emulator verifies only OSS V1 and V4 signatures; S3 clients must go anonymous (public bucket)."})
		return false
	}
	ak := accessKeyID(c.r.Header.Get("Authorization"))
	c.update(func(r *Request) { r.AccessKeyID = ak })
	e := c.s.verify(c.r, c.bucket, c.key)
	if e != nil {
		status := http.StatusForbidden
		if e.Code == "InvalidArgument" {
			status = http.StatusBadRequest
		}
		c.fail(status, *e)
		return false
	}
	return true
}

// accessKeyID extracts the AccessKeyID of a V4 or V1 Authorization header.
func accessKeyID(auth string) string {
	if rest, ok := strings.CutPrefix(auth, "OSS4-HMAC-SHA256 "); ok {
		if _, cred, ok := strings.Cut(rest, "Credential="); ok {
			ak, _, _ := strings.Cut(cred, "/")
			return ak
		}
		return ""
	}
	if rest, ok := strings.CutPrefix(auth, "OSS "); ok {
		ak, _, _ := strings.Cut(strings.TrimSpace(rest), ":")
		return ak
	}
	return ""
}

// verify checks an Authorization header (V4 or V1) by signing the received
// request again with the SDK's own signer and the secret on file.
func (s *Server) verify(r *http.Request, bucket, key string) *ossError {
	auth := r.Header.Get("Authorization")
	if rest, ok := strings.CutPrefix(auth, "OSS4-HMAC-SHA256 "); ok {
		return s.verifyV4(r, bucket, key, rest)
	}
	if rest, ok := strings.CutPrefix(auth, "OSS "); ok {
		return s.verifyV1(r, bucket, key, rest)
	}
	return &ossError{Code: "InvalidArgument", Message: "Authorization header is invalid."}
}

// RotateCredentials replaces the accepted key pairs and pinned STS tokens
// while serving, as an expiring STS credential would: requests signed with
// the old ones fail from now on.
func (s *Server) RotateCredentials(creds, tokens map[string]string) {
	s.credMu.Lock()
	defer s.credMu.Unlock()
	s.opts.Credentials, s.opts.SecurityTokens = creds, tokens
}

func (s *Server) credentialsFor(r *http.Request, ak string) (credentials.Credentials, *ossError) {
	if c, e, ok := s.temps.lookup(r, ak); ok {
		return c, e
	}
	s.credMu.RLock()
	sk, ok := s.opts.Credentials[ak]
	want, pinned := s.opts.SecurityTokens[ak]
	s.credMu.RUnlock()
	if !ok {
		return credentials.Credentials{}, &ossError{Code: "InvalidAccessKeyId", OSSAccessKeyID: ak}
	}
	token := r.Header.Get("x-oss-security-token")
	if pinned && token != want {
		return credentials.Credentials{}, &ossError{Code: "InvalidSecurityToken", OSSAccessKeyID: ak}
	}
	return credentials.Credentials{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: token}, nil
}

func (s *Server) checkSkew(t time.Time) *ossError {
	if s.opts.MaxClockSkew < 0 {
		return nil
	}
	d := time.Since(t)
	if d < 0 {
		d = -d
	}
	if d > s.opts.MaxClockSkew {
		return &ossError{Code: "RequestTimeTooSkewed"}
	}
	return nil
}

// cloneForSigning copies what the signers read: method, path, raw query and
// headers (plus Host, which Go moves out of the header map).
func cloneForSigning(r *http.Request) *http.Request {
	h := r.Header.Clone()
	h.Del("Authorization")
	return &http.Request{Method: r.Method, URL: &url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery}, Header: h, Host: r.Host}
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) verifyV4(r *http.Request, bucket, key, params string) *ossError {
	var credential, additional, signature string
	for _, p := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "Credential":
			credential = v
		case "AdditionalHeaders":
			additional = v
		case "Signature":
			signature = v
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aliyun_v4_request" || signature == "" {
		return &ossError{Code: "InvalidArgument", Message: "Authorization header is invalid: want Credential=AK/DATE/REGION/oss/aliyun_v4_request and Signature."}
	}
	ak, date, region, product := scope[0], scope[1], scope[2], scope[3]
	cred, e := s.credentialsFor(r, ak)
	if e != nil {
		return e
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("x-oss-date"))
	if err != nil {
		return &ossError{Code: "AccessDenied", Message: "V4 signature requires a valid x-oss-date header.", OSSAccessKeyID: ak}
	}
	if e := s.checkSkew(t); e != nil {
		e.OSSAccessKeyID = ak
		return e
	}
	mismatch := func(msg string, sts string) *ossError {
		return &ossError{Code: "SignatureDoesNotMatch", Message: msg, OSSAccessKeyID: ak, StringToSign: sts, Signature: signature}
	}
	if date != t.Format("20060102") {
		return mismatch("The date in the credential scope does not match x-oss-date.", "")
	}
	if region != s.opts.Region {
		return mismatch("The credential scope names region \""+region+"\"; this endpoint is \""+s.opts.Region+"\".", "")
	}
	if product != "oss" {
		return mismatch("The credential scope names product \""+product+"\", want \"oss\".", "")
	}
	// The SDK's V4 signer always signs UNSIGNED-PAYLOAD.
	if v := r.Header.Get("x-oss-content-sha256"); v != "UNSIGNED-PAYLOAD" {
		return mismatch("The emulator verifies only x-oss-content-sha256: UNSIGNED-PAYLOAD (got \""+v+"\").", "")
	}
	req := cloneForSigning(r)
	var addl []string
	if additional != "" {
		addl = strings.Split(additional, ";")
		for _, h := range addl {
			if strings.EqualFold(h, "host") {
				req.Header.Set("Host", r.Host)
			}
		}
	}
	sc := &signer.SigningContext{
		Product: &product, Region: &region, Bucket: strPtr(bucket), Key: strPtr(key),
		Request: req, Credentials: &cred, Time: t, AdditionalHeaders: addl,
	}
	if err := (&signer.SignerV4{}).Sign(context.Background(), sc); err != nil {
		return mismatch("signing failed: "+err.Error(), "")
	}
	want := ""
	if i := strings.LastIndex(req.Header.Get("Authorization"), "Signature="); i >= 0 {
		want = req.Header.Get("Authorization")[i+len("Signature="):]
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(signature)) != 1 {
		return mismatch("", sc.StringToSign)
	}
	return nil
}

func (s *Server) verifyV1(r *http.Request, bucket, key, params string) *ossError {
	ak, signature, ok := strings.Cut(strings.TrimSpace(params), ":")
	if !ok || ak == "" || signature == "" {
		return &ossError{Code: "InvalidArgument", Message: "Authorization header is invalid: want \"OSS AK:SIGNATURE\"."}
	}
	cred, e := s.credentialsFor(r, ak)
	if e != nil {
		return e
	}
	t, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return &ossError{Code: "AccessDenied", Message: "V1 signature requires a valid Date header.", OSSAccessKeyID: ak}
	}
	if e := s.checkSkew(t); e != nil {
		e.OSSAccessKeyID = ak
		return e
	}
	// The canonical resource lists the signed subresources. Besides the
	// well-known ones the SDK signs, a few operations add their own: try
	// without, then with every query parameter.
	var all []string
	for k := range r.URL.Query() {
		all = append(all, k)
	}
	var sts string
	for _, sub := range [][]string{nil, all} {
		req := cloneForSigning(r)
		sc := &signer.SigningContext{Bucket: strPtr(bucket), Key: strPtr(key), Request: req, Credentials: &cred, Time: t, SubResource: sub}
		if err := (&signer.SignerV1{}).Sign(context.Background(), sc); err != nil {
			return &ossError{Code: "SignatureDoesNotMatch", Message: "signing failed: " + err.Error(), OSSAccessKeyID: ak}
		}
		if sts == "" {
			sts = sc.StringToSign
		}
		want := req.Header.Get("Authorization")
		if i := strings.LastIndex(want, ":"); i >= 0 {
			want = want[i+1:]
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(signature)) == 1 {
			return nil
		}
		if len(all) == 0 {
			break
		}
	}
	return &ossError{Code: "SignatureDoesNotMatch", OSSAccessKeyID: ak, StringToSign: sts, Signature: signature}
}
