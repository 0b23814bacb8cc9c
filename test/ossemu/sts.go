package ossemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// TemporaryCredentials are STS-style credentials the emulator accepts
// until Expiration: a request signed with them must carry the token, and
// after Expiration it gets 403 SecurityTokenExpired, as OSS answers.
type TemporaryCredentials struct {
	AccessKeyId     string
	AccessKeySecret string
	SecurityToken   string
	Expiration      time.Time
}

// temporaryCredentials are the issued temporary credentials by AccessKeyId.
type temporaryCredentials struct {
	mu     sync.Mutex
	byAK   map[string]TemporaryCredentials
	issued []TemporaryCredentials // every one, in order
	count  atomic.Int64
}

// IssueTemporaryCredentials mints new temporary credentials valid for
// lifetime and makes the server accept them until then.
func (s *Server) IssueTemporaryCredentials(lifetime time.Duration) TemporaryCredentials {
	n := s.temps.count.Add(1)
	c := TemporaryCredentials{
		AccessKeyId:     fmt.Sprintf("STS.emu%06d%s", n, randomHex(4)),
		AccessKeySecret: "sts-secret-" + randomHex(12),
		SecurityToken:   "sts-token-" + randomHex(24),
		// OSS and STS write expirations to the second.
		Expiration: time.Now().Add(lifetime).UTC().Truncate(time.Second),
	}
	s.temps.mu.Lock()
	defer s.temps.mu.Unlock()
	if s.temps.byAK == nil {
		s.temps.byAK = map[string]TemporaryCredentials{}
	}
	s.temps.byAK[c.AccessKeyId] = c
	s.temps.issued = append(s.temps.issued, c)
	return c
}

// AllTemporaryCredentials returns every temporary credential issued so far
// (to check that none reached a log).
func (s *Server) AllTemporaryCredentials() []TemporaryCredentials {
	s.temps.mu.Lock()
	defer s.temps.mu.Unlock()
	return append([]TemporaryCredentials(nil), s.temps.issued...)
}

// ExpireTemporaryCredentials makes every temporary credential issued so
// far expire now, as if the client's clock were late: requests signed with
// them get 403 SecurityTokenExpired.
func (s *Server) ExpireTemporaryCredentials() {
	now := time.Now()
	s.temps.mu.Lock()
	defer s.temps.mu.Unlock()
	for ak, c := range s.temps.byAK {
		c.Expiration = now
		s.temps.byAK[ak] = c
	}
}

// RevokeTemporaryCredentials forgets temporary credentials: requests
// signed with them get 403 InvalidAccessKeyId.
func (s *Server) RevokeTemporaryCredentials(ak string) {
	s.temps.mu.Lock()
	defer s.temps.mu.Unlock()
	delete(s.temps.byAK, ak)
}

// lookup checks a request signed by ak against the temporary credentials;
// ok is false when ak is not one of them.
func (t *temporaryCredentials) lookup(r *http.Request, ak string) (_ credentials.Credentials, _ *ossError, ok bool) {
	t.mu.Lock()
	c, ok := t.byAK[ak]
	t.mu.Unlock()
	if !ok {
		return credentials.Credentials{}, nil, false
	}
	if r.Header.Get("x-oss-security-token") != c.SecurityToken {
		return credentials.Credentials{}, &ossError{Code: "InvalidSecurityToken", OSSAccessKeyID: ak}, true
	}
	if !time.Now().Before(c.Expiration) {
		return credentials.Credentials{}, &ossError{Code: "SecurityTokenExpired", Message: "The security token you provided has expired.", OSSAccessKeyID: ak}, true
	}
	return credentials.Credentials{AccessKeyID: ak, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}, nil, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// MetadataService is a fake ECS instance metadata service in hardened mode:
// PUT /latest/api/token gives a session token, and the credential reads
// need it (403 without). Its role's credentials are minted by the
// emulator, valid for Lifetime, fresh at every read.
type MetadataService struct {
	emu      *Server
	Role     string
	Lifetime time.Duration

	tokens    sync.Map // session token -> expiry (time.Time)
	TokenPUTs atomic.Int64
	Refused   atomic.Int64 // reads without a valid session token
	Issued    atomic.Int64
}

// NewMetadataService returns a fake metadata service whose role credentials
// emu accepts.
func NewMetadataService(emu *Server, role string, lifetime time.Duration) *MetadataService {
	return &MetadataService{emu: emu, Role: role, Lifetime: lifetime}
}

func (m *MetadataService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const credsPath = "/latest/meta-data/ram/security-credentials/"
	switch {
	case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut:
		ttl := r.Header.Get("X-aliyun-ecs-metadata-token-ttl-seconds")
		var secs int
		if _, err := fmt.Sscan(ttl, &secs); err != nil || secs < 1 || secs > 21600 {
			http.Error(w, "bad token ttl", http.StatusBadRequest)
			return
		}
		tok := randomHex(16)
		m.tokens.Store(tok, time.Now().Add(time.Duration(secs)*time.Second))
		m.TokenPUTs.Add(1)
		_, _ = w.Write([]byte(tok))
		return
	case r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, credsPath):
		http.NotFound(w, r)
		return
	}
	exp, ok := m.tokens.Load(r.Header.Get("X-aliyun-ecs-metadata-token"))
	if !ok || time.Now().After(exp.(time.Time)) {
		m.Refused.Add(1)
		http.Error(w, "metadata token required", http.StatusForbidden)
		return
	}
	switch name := strings.TrimPrefix(r.URL.Path, credsPath); name {
	case "":
		_, _ = w.Write([]byte(m.Role))
	case m.Role:
		c := m.emu.IssueTemporaryCredentials(m.Lifetime)
		m.Issued.Add(1)
		writeJSON(w, map[string]string{"Code": "Success", "AccessKeyId": c.AccessKeyId, "AccessKeySecret": c.AccessKeySecret,
			"SecurityToken": c.SecurityToken, "Expiration": c.Expiration.Format(time.RFC3339), "LastUpdated": time.Now().UTC().Format(time.RFC3339)})
	default:
		http.NotFound(w, r)
	}
}

// STSService is a fake STS that answers AssumeRoleWithOIDC for one role and
// OIDC provider with credentials the emulator accepts, valid for Lifetime.
// The OIDC token must be one of Tokens (the kubelet rotates the file).
type STSService struct {
	emu                  *Server
	RoleARN, ProviderARN string
	Lifetime             time.Duration

	mu     sync.Mutex
	tokens map[string]bool
	Calls  atomic.Int64
}

// NewSTSService returns a fake STS whose credentials emu accepts.
func NewSTSService(emu *Server, roleARN, providerARN string, lifetime time.Duration) *STSService {
	return &STSService{emu: emu, RoleARN: roleARN, ProviderARN: providerARN, Lifetime: lifetime, tokens: map[string]bool{}}
}

// AcceptToken makes tok a valid OIDC token.
func (s *STSService) AcceptToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
}

// RevokeToken makes tok invalid.
func (s *STSService) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tok)
}

func (s *STSService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Calls.Add(1)
	q := r.URL.Query()
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || q.Get("Action") != "AssumeRoleWithOIDC" || q.Get("Version") != "2015-04-01" {
		stsError(w, http.StatusBadRequest, "InvalidParameter", "want POST Action=AssumeRoleWithOIDC Version=2015-04-01")
		return
	}
	s.mu.Lock()
	valid := s.tokens[r.PostForm.Get("OIDCToken")]
	s.mu.Unlock()
	switch {
	case r.PostForm.Get("RoleArn") != s.RoleARN || r.PostForm.Get("OIDCProviderArn") != s.ProviderARN:
		stsError(w, http.StatusBadRequest, "EntityNotExist.Role", "The specified role or OIDC provider does not exist.")
		return
	case !valid:
		stsError(w, http.StatusBadRequest, "AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
		return
	case r.PostForm.Get("RoleSessionName") == "":
		stsError(w, http.StatusBadRequest, "MissingRoleSessionName", "RoleSessionName is mandatory.")
		return
	}
	c := s.emu.IssueTemporaryCredentials(s.Lifetime)
	writeJSON(w, map[string]any{"RequestId": randomHex(8), "Credentials": map[string]string{
		"AccessKeyId": c.AccessKeyId, "AccessKeySecret": c.AccessKeySecret, "SecurityToken": c.SecurityToken,
		"Expiration": c.Expiration.Format(time.RFC3339)}})
}

func stsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": randomHex(8), "Code": code, "Message": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
