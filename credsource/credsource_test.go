package credsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/test/ossemu"
)

func expiring(id string, in time.Duration) credentials.Credentials {
	exp := time.Now().Add(in)
	return credentials.Credentials{AccessKeyID: id, AccessKeySecret: "secret-" + id, SecurityToken: "token-" + id, Expires: &exp}
}

// TestRenewingRenewsAheadOfExpiry: credentials living a second are fetched
// again in the background before they expire, and requests always get
// unexpired ones.
func TestRenewingRenewsAheadOfExpiry(t *testing.T) {
	var n atomic.Int64
	fetch := func(context.Context) (credentials.Credentials, error) {
		return expiring(fmt.Sprintf("AK%d", n.Add(1)), time.Second), nil
	}
	p, err := NewRenewing(context.Background(), "test", fetch, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Renewal runs in the background, with no request asking.
	for deadline := time.Now().Add(10 * time.Second); n.Load() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches in 10s without requests; want background renewals", n.Load())
		}
	}
	seen := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); len(seen) < 4 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := p.GetCredentials(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Expired() {
			t.Fatalf("served expired credentials %s", c.AccessKeyID)
		}
		seen[c.AccessKeyID] = true
	}
	if len(seen) < 4 {
		t.Fatalf("saw %d credentials; want renewals", len(seen))
	}
	if st := p.Status(); st.Source != "test" || st.Renewals < 4 || st.Expires.IsZero() {
		t.Fatalf("status %+v", st)
	}
}

// TestRenewalDoesNotBlockRequests: while a renewal is stuck, requests get
// the current (unexpired) credentials at once.
func TestRenewalDoesNotBlockRequests(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int64
	fetch := func(ctx context.Context) (credentials.Credentials, error) {
		if n.Add(1) > 1 {
			select {
			case <-release:
			case <-ctx.Done():
				return credentials.Credentials{}, ctx.Err()
			}
		}
		return expiring(fmt.Sprintf("AK%d", n.Load()), time.Hour), nil
	}
	p, err := NewRenewing(context.Background(), "test", fetch, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() { _ = p.Renew(context.Background(), time.Now()) }() // a refusal forces a renewal, which hangs
	for n.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	c, err := p.GetCredentials(context.Background())
	if err != nil || c.AccessKeyID != "AK1" {
		t.Fatalf("during a renewal: %v %v", c.AccessKeyID, err)
	}
	close(release)
}

// TestRenewCoalescesAndSkipsDone: many refused requests cost one fetch, and
// a request refused before the last renewal does not cause another.
func TestRenewCoalescesAndSkipsDone(t *testing.T) {
	var n atomic.Int64
	gate := make(chan struct{})
	fetch := func(context.Context) (credentials.Credentials, error) {
		if n.Add(1) > 1 {
			<-gate
		}
		return expiring("AK", time.Hour), nil
	}
	p, err := NewRenewing(context.Background(), "test", fetch, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	since := time.Now()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Renew(context.Background(), since); err != nil {
				t.Error(err)
			}
		}()
	}
	for n.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if got := n.Load(); got != 2 {
		t.Fatalf("%d fetches for 20 refusals; want 1 (plus the first)", got-1)
	}
	if err := p.Renew(context.Background(), since); err != nil || n.Load() != 2 {
		t.Fatalf("a refusal older than the renewal fetched again: %v, %d fetches", err, n.Load())
	}
}

// TestExpiredAndUnreachable: once the credentials expired and the source
// fails, a request gets the source's error, and a waiting one honours its
// context.
func TestExpiredAndUnreachable(t *testing.T) {
	var n atomic.Int64
	block := make(chan struct{})
	defer close(block)
	fetch := func(ctx context.Context) (credentials.Credentials, error) {
		switch n.Add(1) {
		case 1:
			return expiring("AK", 50*time.Millisecond), nil
		case 2, 3:
			return credentials.Credentials{}, errors.New("source down")
		}
		<-block
		return credentials.Credentials{}, errors.New("late")
	}
	p, err := NewRenewing(context.Background(), "test", fetch, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	time.Sleep(100 * time.Millisecond)
	for n.Load() < 3 {
		if _, err := p.GetCredentials(context.Background()); err != nil && !strings.Contains(err.Error(), "source down") {
			t.Fatalf("error %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.GetCredentials(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting request: %v; want its deadline", err)
	}
	if st := p.Status(); st.Failures < 2 || !strings.Contains(st.LastErr, "source down") {
		t.Fatalf("status %+v", st)
	}
}

// TestNoSecretInLog: the renewal log shows the masked key ID only.
func TestNoSecretInLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := expiring("STS.NVeryLongKeyID123", time.Hour)
	p, err := NewRenewing(context.Background(), "test", func(context.Context) (credentials.Credentials, error) { return c, nil }, time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	out := buf.String()
	if !strings.Contains(out, "credentials renewed") || !strings.Contains(out, "STS.****D123") {
		t.Fatalf("log lacks the renewal: %s", out)
	}
	for _, s := range []string{c.AccessKeySecret, c.SecurityToken, c.AccessKeyID} {
		if strings.Contains(out, s) {
			t.Fatalf("log holds %q: %s", s, out)
		}
	}
}

// TestECSFetcherHardened: the metadata token is fetched first and sent with
// every read; the role is discovered; the credentials and expiry are those
// the service gave.
func TestECSFetcherHardened(t *testing.T) {
	emu := ossemu.New(ossemu.Options{})
	md := ossemu.NewMetadataService(emu, "reader-role", time.Hour)
	srv := httptest.NewServer(md)
	defer srv.Close()
	for _, role := range []string{"", "reader-role"} {
		c, err := ECSFetcher(srv.URL, role, srv.Client())(context.Background())
		if err != nil {
			t.Fatalf("role %q: %v", role, err)
		}
		if !strings.HasPrefix(c.AccessKeyID, "STS.") || c.SecurityToken == "" || c.Expires == nil || time.Until(*c.Expires) < 50*time.Minute {
			t.Fatalf("role %q: %+v", role, c)
		}
	}
	if md.Refused.Load() != 0 || md.TokenPUTs.Load() != 2 {
		t.Fatalf("refused %d reads, %d token PUTs", md.Refused.Load(), md.TokenPUTs.Load())
	}
	if _, err := ECSFetcher(srv.URL, "other-role", srv.Client())(context.Background()); err == nil || !strings.Contains(err.Error(), `"other-role"`) {
		t.Fatalf("unknown role: %v", err)
	}
	// A service that gives no token (not hardened): no unprotected read.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		md.ServeHTTP(w, r)
	}))
	defer plain.Close()
	refused := md.Refused.Load()
	if _, err := ECSFetcher(plain.URL, "reader-role", plain.Client())(context.Background()); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("without a metadata token: %v", err)
	}
	if md.Refused.Load() != refused {
		t.Fatal("read the credentials without a token")
	}
}

// TestOIDCFetcherRereadsTokenFile: each fetch sends the token file's
// current contents (the kubelet rotates it).
func TestOIDCFetcherRereadsTokenFile(t *testing.T) {
	emu := ossemu.New(ossemu.Options{})
	sts := ossemu.NewSTSService(emu, "acs:ram::1:role/r", "acs:ram::1:oidc-provider/p", time.Hour)
	srv := httptest.NewServer(sts)
	defer srv.Close()
	tokFile := filepath.Join(t.TempDir(), "token")
	oc := OIDCConfig{STSEndpoint: srv.URL, RoleARN: sts.RoleARN, ProviderARN: sts.ProviderARN, TokenFile: tokFile, RoleSessionName: "s", Duration: time.Hour}
	fetch := OIDCFetcher(oc, srv.Client())
	sts.AcceptToken("jwt-1")
	must(t, os.WriteFile(tokFile, []byte("jwt-1\n"), 0o600))
	if c, err := fetch(context.Background()); err != nil || c.Expires == nil || c.SecurityToken == "" {
		t.Fatalf("first: %+v %v", c, err)
	}
	must(t, os.WriteFile(tokFile, []byte("jwt-2"), 0o600))
	if _, err := fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "AuthenticationFail.OIDCToken.Invalid") {
		t.Fatalf("with a token STS does not know: %v", err)
	}
	sts.AcceptToken("jwt-2")
	if _, err := fetch(context.Background()); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	oc.RoleARN = "acs:ram::1:role/other"
	if _, err := OIDCFetcher(oc, srv.Client())(context.Background()); err == nil || !strings.Contains(err.Error(), "EntityNotExist.Role") {
		t.Fatalf("wrong role: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cred.sh")
	must(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700))
	return p
}

// TestProcessFetcher: the JSON of SDK v2's process provider; exit codes,
// bad JSON and a hanging command give clear errors that quote no secret.
func TestProcessFetcher(t *testing.T) {
	const secret = "proc-secret-never-shown"
	good := script(t, `echo '{"AccessKeyId":"STS.proc","AccessKeySecret":"`+secret+`","SecurityToken":"tok","Expiration":"2031-12-29T07:45:02Z"}'`)
	c, err := ProcessFetcher(good)(context.Background())
	if err != nil || c.AccessKeyID != "STS.proc" || c.AccessKeySecret != secret || c.SecurityToken != "tok" || c.Expires == nil || c.Expires.Year() != 2031 {
		t.Fatalf("good: %+v %v", c, err)
	}
	long := script(t, `echo '{"AccessKeyId":"LTAIlong","AccessKeySecret":"s"}'`)
	if c, err := ProcessFetcher(long)(context.Background()); err != nil || c.Expires != nil {
		t.Fatalf("long-term keys: %+v %v", c, err)
	}
	cases := []struct {
		name, body, want string
	}{
		{"exit code", "echo 'role not found' >&2; exit 3", "exit status 3: role not found"},
		{"bad JSON", `echo '{"AccessKeyId":"a","AccessKeySecret":"` + secret + `",'`, "no valid JSON"},
		{"not JSON", `echo "` + secret + `"`, "no valid JSON"},
		{"nothing", "true", "printed no"},
		{"no secret", `echo '{"AccessKeyId":"a"}'`, `no "AccessKeyId" or "AccessKeySecret"`},
		{"bad expiration", `echo '{"AccessKeyId":"a","AccessKeySecret":"b","Expiration":"tomorrow"}'`, "bad JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ProcessFetcher(script(t, c.body))(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v; want %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
	t.Run("hanging", func(t *testing.T) {
		// The script's child keeps stdout open after the script is killed.
		pidFile := filepath.Join(t.TempDir(), "pid")
		hang := script(t, "sleep 600 &\necho $! > "+pidFile+"\nwait\necho never")
		p, err := NewRenewing(context.Background(), config.SourceProcess, ProcessFetcher(hang), 300*time.Millisecond, nil)
		if err == nil {
			p.Close()
			t.Fatal("a hanging credential_process gave credentials")
		}
		if !strings.Contains(err.Error(), "did not finish") || !strings.Contains(err.Error(), "credential_timeout") {
			t.Fatalf("hanging: %v", err)
		}
		pid, err := os.ReadFile(pidFile)
		must(t, err)
		// The child was killed with the script: gone, or a zombie.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
			if err != nil || strings.Contains(string(stat), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hanging command's child %s still runs: %s", pid, stat)
			}
		}
	})
}

// TestPickAndNew: the documented order of precedence, and a forced source.
func TestPickAndNew(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	rrsa := map[string]string{config.EnvRoleARN: "r", config.EnvOIDCProviderARN: "p", config.EnvOIDCTokenFile: "/t"}
	both := map[string]string{config.EnvAccessKeyID: "LTAIk", config.EnvAccessKeySecret: "s", config.EnvRoleARN: "r", config.EnvOIDCProviderARN: "p", config.EnvOIDCTokenFile: "/t", config.EnvECSMetadata: "role"}
	cases := []struct {
		cfg  config.Config
		env  map[string]string
		want string
	}{
		{config.Config{Anonymous: true, CredentialsFile: "/f"}, both, config.SourceAnonymous},
		{config.Config{CredentialsFile: "/f", CredentialProcess: "x", RAMRole: "r"}, both, config.SourceFile},
		{config.Config{CredentialProcess: "x", RAMRole: "r"}, both, config.SourceProcess},
		{config.Config{RAMRole: "r"}, both, config.SourceECSRAMRole},
		{config.Config{}, both, config.SourceEnv},
		{config.Config{}, rrsa, config.SourceOIDC},
		{config.Config{}, map[string]string{config.EnvECSMetadata: "role"}, config.SourceECSRAMRole},
		{config.Config{}, nil, ""},
		{config.Config{CredentialSource: config.SourceOIDC, CredentialsFile: "/f"}, both, config.SourceOIDC},
	}
	for i, c := range cases {
		if got := c.cfg.PickCredentialSource(env(c.env)); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
	if _, err := New(context.Background(), &config.Config{}, env(nil), nil); !errors.Is(err, config.ErrNoCredentials) {
		t.Errorf("nothing configured: %v", err)
	}
	if _, err := New(context.Background(), &config.Config{CredentialSource: config.SourceOIDC}, env(map[string]string{config.EnvRoleARN: "r"}), nil); err == nil ||
		!strings.Contains(err.Error(), config.EnvOIDCProviderARN) || !strings.Contains(err.Error(), config.EnvOIDCTokenFile) {
		t.Errorf("oidc without its environment: %v", err)
	}
	for _, tc := range []struct{ opt, env, want string }{
		{"http://127.0.0.1:1", "", "http://127.0.0.1:1"},
		{"", "sts-vpc.cn-x.example.com", "https://sts-vpc.cn-x.example.com"},
		{"", "", "https://sts.aliyuncs.com"},
	} {
		if got := stsEndpoint(tc.opt, env(map[string]string{config.EnvSTSEndpoint: tc.env})); got != tc.want {
			t.Errorf("stsEndpoint(%q, %q) = %q, want %q", tc.opt, tc.env, got, tc.want)
		}
	}
}
