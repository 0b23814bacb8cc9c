package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

// Credential sources that renew themselves (issue 20): a fake ECS metadata
// service and a fake STS on 127.0.0.1 mint credentials the emulator
// accepts for a few seconds only.

// credStatus is the credentials part of `ossmount stats --json`.
type credStatus struct {
	Source   string    `json:"source"`
	Expires  time.Time `json:"expires"`
	Renewals int64     `json:"renewals"`
	Failures int64     `json:"failures"`
	LastErr  string    `json:"last_error"`
}

func (e *env) credStatus() credStatus {
	e.t.Helper()
	out, errs, code := ossmountCmd(e.t, "stats", "--json", e.mnt)
	if code != 0 {
		e.t.Fatalf("ossmount stats: exit %d: %s", code, errs)
	}
	var s struct {
		Credentials credStatus `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("stats --json: %v\n%s", err, out)
	}
	return s.Credentials
}

// readAcross reads every file again and again (each open revalidates with
// a signed request; metadata_ttl=0 makes each stat and listing one too)
// until d has passed, and fails the test at the first error.
func (e *env) readAcross(files map[string][]byte, d time.Duration) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := os.ReadDir(e.mnt); err != nil {
			e.t.Fatalf("listing: %v", err)
		}
		for name, want := range files {
			got, err := os.ReadFile(e.path(name))
			if err != nil {
				e.t.Fatalf("reading %s at %s: %v", name, time.Now().Format(time.StampMilli), err)
			}
			assertSame(e.t, name, got, want)
		}
	}
}

// assertNoTemporarySecretInLog: no secret or token the fakes issued
// reached the daemon's log.
func (e *env) assertNoTemporarySecretInLog() {
	e.t.Helper()
	log, err := os.ReadFile(e.logFile)
	if err != nil {
		e.t.Fatal(err)
	}
	issued := e.emu.AllTemporaryCredentials()
	if len(issued) == 0 {
		e.t.Fatal("no temporary credentials were issued")
	}
	for _, c := range issued {
		for _, s := range []string{c.AccessKeySecret, c.SecurityToken, c.AccessKeyId} {
			if strings.Contains(string(log), s) {
				e.t.Fatalf("the log holds %q", s)
			}
		}
	}
}

func (e *env) putFiles(n int) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("f%d.bin", i)
		files[name] = pattern(int64(200+i), (i+1)*300*1024)
		e.put(name, files[name])
	}
	return files
}

// TestECSRAMRoleRenewsAcrossReads: with the instance's RAM role (name
// asked of the metadata service, every read token-protected), reads go on
// across many renewals of credentials that live three seconds, and none
// fails; stats show the source and the expiry; the log holds no secret.
func TestECSRAMRoleRenewsAcrossReads(t *testing.T) {
	e := newEnv(t)
	md := ossemu.NewMetadataService(e.emu, "reader", 3*time.Second)
	srv := httptest.NewServer(md)
	defer srv.Close()
	files := e.putFiles(3)
	addr := freePort(t)
	e.mount("credential_source=ecs_ram_role", "ecs_metadata_endpoint="+srv.URL, "metadata_ttl=0", "negative_ttl=0", "metrics_addr="+addr)
	e.readAcross(files, 10*time.Second)
	if n := md.Issued.Load(); n < 4 {
		t.Fatalf("%d credentials issued in 10s of reads; want renewals", n)
	}
	if md.Refused.Load() != 0 {
		t.Fatalf("%d metadata reads without a session token", md.Refused.Load())
	}
	st := e.credStatus()
	if st.Source != "ecs_ram_role" || st.Expires.IsZero() || st.Renewals < 4 {
		t.Fatalf("stats credentials %+v", st)
	}
	if metric(t, addr, `ossmount_credentials_info{source="ecs_ram_role"}`) != 1 || metric(t, addr, "ossmount_credentials_expiry_timestamp_seconds") < float64(st.Expires.Unix()-60) {
		t.Fatal("the metrics do not show the source and expiry")
	}
	e.unmount()
	e.assertNoTemporarySecretInLog()
}

// TestExpiredTokenMidReadRenews: the server declares the credentials
// expired while a file is being read (as when the client's clock is late);
// the refused part GET renews them and is sent again, and the read
// completes with the right bytes.
func TestExpiredTokenMidReadRenews(t *testing.T) {
	e := newEnv(t)
	md := ossemu.NewMetadataService(e.emu, "reader", time.Hour)
	srv := httptest.NewServer(md)
	defer srv.Close()
	want := pattern(77, 64*mib)
	e.put("big.bin", want)
	e.mount("credential_source=ecs_ram_role", "ram_role=reader", "ecs_metadata_endpoint="+srv.URL)
	f, err := os.Open(e.path("big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(f, got[:mib]); err != nil {
		t.Fatal(err)
	}
	e.emu.ExpireTemporaryCredentials()
	if _, err := io.ReadFull(f, got[mib:]); err != nil {
		t.Fatalf("reading on after the token expired: %v", err)
	}
	assertSame(t, "big.bin", got, want)
	expired := 0
	for _, r := range e.emu.Requests() {
		if r.ErrorCode == "SecurityTokenExpired" {
			expired++
		}
	}
	if expired == 0 {
		t.Fatal("no request was refused with SecurityTokenExpired: the test did not test")
	}
	if md.Issued.Load() < 2 {
		t.Fatalf("credentials were not renewed (%d issued)", md.Issued.Load())
	}
}

// TestRRSACredentials: a pod's RRSA setup (role ARN, OIDC provider ARN,
// token file) is exchanged at STS for credentials that live three seconds;
// reads go on across renewals, and the token file is read again at each
// one (the kubelet rotates it: STS then takes only the new token).
func TestRRSACredentials(t *testing.T) {
	e := newEnv(t)
	const role, provider = "acs:ram::1234:role/reader", "acs:ram::1234:oidc-provider/ack-rrsa"
	sts := ossemu.NewSTSService(e.emu, role, provider, 3*time.Second)
	srv := httptest.NewServer(sts)
	defer srv.Close()
	tokFile := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(tokFile, []byte("jwt-one"), 0o600))
	sts.AcceptToken("jwt-one")
	files := e.putFiles(2)
	e.extraEnv = []string{"ALIBABA_CLOUD_ROLE_ARN=" + role, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN=" + provider,
		"ALIBABA_CLOUD_OIDC_TOKEN_FILE=" + tokFile, "ALIBABA_CLOUD_STS_ENDPOINT=" + srv.URL}
	// The environment's AccessKey (set by the harness) comes first in the
	// order of precedence: pick RRSA explicitly.
	e.mount("credential_source=oidc", "metadata_ttl=0", "negative_ttl=0")
	e.readAcross(files, 4*time.Second)
	sts.AcceptToken("jwt-two")
	must(t, os.WriteFile(tokFile, []byte("jwt-two"), 0o600))
	sts.RevokeToken("jwt-one")
	calls := sts.Calls.Load()
	e.readAcross(files, 5*time.Second)
	if sts.Calls.Load()-calls < 2 {
		t.Fatalf("%d STS calls after the token rotated; want renewals", sts.Calls.Load()-calls)
	}
	if st := e.credStatus(); st.Source != "oidc" || st.Expires.IsZero() || st.Failures != 0 {
		t.Fatalf("stats credentials %+v", st)
	}
	e.unmount()
	e.assertNoTemporarySecretInLog()
}

// credProcess serves a credential process (a curl script) what the test
// wants it to print.
type credProcess struct {
	emu  *ossemu.Server
	mode atomic.Value // "good", "exit", "badjson", "hang"
	runs atomic.Int64
	srv  *httptest.Server
}

func newCredProcess(t *testing.T, emu *ossemu.Server) (*credProcess, string) {
	p := &credProcess{emu: emu}
	p.mode.Store("good")
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.runs.Add(1)
		switch p.mode.Load() {
		case "good":
			c := emu.IssueTemporaryCredentials(3 * time.Second)
			_ = json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": c.AccessKeyId, "AccessKeySecret": c.AccessKeySecret,
				"SecurityToken": c.SecurityToken, "Expiration": c.Expiration.Format(time.RFC3339)})
		case "exit":
			http.Error(w, "no such profile", http.StatusNotFound)
		case "badjson":
			_, _ = w.Write([]byte(`{"AccessKeyId": "STS.x", "AccessKeySecret": "half-a-secret`))
		case "hang":
			<-r.Context().Done()
		}
	}))
	t.Cleanup(p.srv.Close)
	script := filepath.Join(t.TempDir(), "creds.sh")
	// curl -f exits 22 on an HTTP error; the script's curl is a child the
	// daemon must kill with it when it hangs.
	must(t, os.WriteFile(script, []byte("#!/bin/sh\ncurl -sS -f "+p.srv.URL+" || { echo 'creds.sh: no credentials' >&2; exit 3; }\n"), 0o700))
	return p, script
}

// TestCredentialProcess: credential_process is run again before the
// credentials it printed expire, and reads never fail across renewals;
// while it hangs or fails the mount still answers and reads go on with
// the credentials still valid, and a fixed process is picked up.
func TestCredentialProcess(t *testing.T) {
	e := newEnv(t)
	p, script := newCredProcess(t, e.emu)
	files := e.putFiles(2)
	e.mount("credential_process="+script, "credential_timeout=1s", "metadata_ttl=0", "negative_ttl=0")
	e.readAcross(files, 7*time.Second)
	if n := p.runs.Load(); n < 3 {
		t.Fatalf("credential_process ran %d times in 7s of reads with 3s credentials", n)
	}
	if st := e.credStatus(); st.Source != "process" || st.Expires.IsZero() {
		t.Fatalf("stats credentials %+v", st)
	}
	// The process hangs, then fails: renewals fail, the mount answers.
	p.mode.Store("hang")
	time.Sleep(4 * time.Second) // past the expiry of the last good credentials
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(e.mnt, &sfs); err != nil {
		t.Fatalf("statfs while credential_process hangs: %v", err)
	}
	st := e.credStatus()
	if st.Failures == 0 || !strings.Contains(st.LastErr, "did not finish") {
		t.Fatalf("stats after a hanging process: %+v", st)
	}
	p.mode.Store("good")
	e.readAcross(files, 2*time.Second)
	e.unmount()
	e.assertNoTemporarySecretInLog()
}

// TestCredentialProcessFailuresFailTheMount: a process that exits non-zero,
// prints bad JSON or hangs fails the mount with one line that says so
// (quoting no secret), and no mount is left.
func TestCredentialProcessFailuresFailTheMount(t *testing.T) {
	for _, c := range []struct{ mode, want string }{
		{"exit", "exit status 3: creds.sh: no credentials"},
		{"badjson", "no valid JSON"},
		{"hang", "did not finish"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			e := newEnv(t)
			p, script := newCredProcess(t, e.emu)
			p.mode.Store(c.mode)
			cmd := execOssmount(e, "credential_process="+script, "credential_timeout=1s")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(string(out), c.want) || strings.Contains(string(out), "half-a-secret") {
				t.Fatalf("mount: %v, output %q; want a failure naming %q", err, out, c.want)
			}
			if isMounted(e.mnt) {
				t.Fatal("mounted")
			}
		})
	}
}

// execOssmount is the command mount runs, in the foreground, with no
// AccessKey in the environment, for a test that expects it to fail.
func execOssmount(e *env, opts ...string) *exec.Cmd {
	o := []string{"endpoint=" + e.url, "region=cn-hangzhou", "cache_dir=" + e.cacheDir, "log_file=" + e.logFile}
	cmd := exec.Command(*ossmountBin, testBucket, e.mnt, "-f", "-o", strings.Join(append(o, opts...), ","))
	cmd.Env = append(os.Environ(), e.extraEnv...)
	return cmd
}
