package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAK     = "LTAI5tTestKeyId0001"
	testSK     = "SecretKeyNeverShown0001"
	testToken  = "STSTokenNeverShownABCDEF"
	otherAK    = "LTAI5tOtherKeyId0002"
	otherSK    = "OtherSecretNeverShown02"
	stsAK      = "STS.NTestStsKeyId0003"
	testBucket = "mybucket"
)

func writeCreds(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cred")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // no umask
		t.Fatal(err)
	}
	return p
}

func TestReadCredentialsFileFormats(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    Credentials
	}{
		{"AK:SK", testAK + ":" + testSK + "\n", Credentials{testAK, testSK, ""}},
		{"no newline, CRLF, spaces", "  " + testAK + " : " + testSK + " \r\n", Credentials{testAK, testSK, ""}},
		{"BOM", "\xef\xbb\xbf" + testAK + ":" + testSK, Credentials{testAK, testSK, ""}},
		{"BUCKET:AK:SK", testBucket + ":" + testAK + ":" + testSK, Credentials{testAK, testSK, ""}},
		{"AK:SK:TOKEN", stsAK + ":" + testSK + ":" + testToken, Credentials{stsAK, testSK, testToken}},
		{"BUCKET:AK:SK:TOKEN", testBucket + ":" + stsAK + ":" + testSK + ":" + testToken, Credentials{stsAK, testSK, testToken}},
		{"comments and blanks", "# a comment: with:colons\n\n   \n\t# another\n" + testAK + ":" + testSK + "\n", Credentials{testAK, testSK, ""}},
		{"bucket line wins over an earlier generic line",
			otherAK + ":" + otherSK + "\n" + testBucket + ":" + testAK + ":" + testSK + "\n",
			Credentials{testAK, testSK, ""}},
		{"bucket line wins over a later generic line",
			testBucket + ":" + testAK + ":" + testSK + "\n" + otherAK + ":" + otherSK + "\n",
			Credentials{testAK, testSK, ""}},
		{"other bucket's lines are skipped",
			"otherbucket:" + otherAK + ":" + otherSK + "\notherbucket:" + stsAK + ":" + otherSK + ":" + testToken + "\n" + testAK + ":" + testSK + "\n",
			Credentials{testAK, testSK, ""}},
		{"first generic line wins",
			testAK + ":" + testSK + "\n" + otherAK + ":" + otherSK + "\n",
			Credentials{testAK, testSK, ""}},
		{"STS bucket line wins over generic",
			stsAK + ":" + otherSK + ":" + testToken + "\n" + testBucket + ":" + testAK + ":" + testSK + ":" + testToken + "\n",
			Credentials{testAK, testSK, testToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeCreds(t, tt.content, 0o600)
			got, err := ReadCredentialsFile(p, testBucket)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %#v (%q/%q/%q), want %q/%q/%q", got, got.AccessKeyID, got.AccessKeySecret, got.SecurityToken,
					tt.want.AccessKeyID, tt.want.AccessKeySecret, tt.want.SecurityToken)
			}
		})
	}
}

func TestReadCredentialsFileErrors(t *testing.T) {
	secretContent := func(s string) string { return s }
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"group readable", testAK + ":" + testSK, 0o640, "is readable by group or others (mode 0640); run: chmod 600 "},
		{"world readable", testAK + ":" + testSK, 0o644, "(mode 0644); run: chmod 600 "},
		{"group writable", testAK + ":" + testSK, 0o620, "(mode 0620)"},
		{"only another bucket", "otherbucket:" + otherAK + ":" + otherSK, 0o600, `no credentials for bucket "mybucket"`},
		{"only comments", "# nothing\n", 0o600, `no credentials for bucket "mybucket"`},
		{"empty", "", 0o600, "no credentials"},
		{"one field", secretContent(testSK), 0o600, "line 1: expected AK:SK"},
		{"five fields", "a:b:c:d:e", 0o600, "line 1: expected"},
		{"empty secret", testAK + ":", 0o600, "line 1: empty"},
		{"empty id", "\n:" + testSK, 0o600, "line 2: empty"},
		{"4 fields empty token", testBucket + ":" + testAK + ":" + testSK + ":", 0o600, "line 1: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeCreds(t, tt.content, tt.mode)
			_, err := ReadCredentialsFile(p, testBucket)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, p, tt.want)
			}
			for _, secret := range []string{testSK, otherSK, testToken, testAK} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the file's contents: %v", err)
				}
			}
		})
	}
	t.Run("exact permission message", func(t *testing.T) {
		p := writeCreds(t, testAK+":"+testSK, 0o644)
		_, err := ReadCredentialsFile(p, testBucket)
		want := fmt.Sprintf("credentials file %s is readable by group or others (mode 0644); run: chmod 600 %s", p, p)
		if err == nil || err.Error() != want {
			t.Fatalf("got %v\nwant %s", err, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope")
		_, err := ReadCredentialsFile(p, testBucket)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		p := t.TempDir()
		if err := os.Chmod(p, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := ReadCredentialsFile(p, testBucket)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLoadCredentials(t *testing.T) {
	file := writeCreds(t, testAK+":"+testSK+":"+testToken, 0o600)
	envCreds := envOf(map[string]string{EnvAccessKeyID: otherAK, EnvAccessKeySecret: otherSK})
	tests := []struct {
		name string
		cfg  Config
		env  func(string) string
		want Credentials
		err  string
	}{
		{"anonymous", Config{Bucket: testBucket, Anonymous: true}, envCreds, Credentials{}, ""},
		{"file beats env", Config{Bucket: testBucket, CredentialsFile: file}, envCreds, Credentials{testAK, testSK, testToken}, ""},
		{"env", Config{Bucket: testBucket}, envCreds, Credentials{otherAK, otherSK, ""}, ""},
		{"env with STS token", Config{Bucket: testBucket}, envOf(map[string]string{EnvAccessKeyID: stsAK, EnvAccessKeySecret: otherSK, EnvSessionToken: testToken}),
			Credentials{stsAK, otherSK, testToken}, ""},
		{"nothing", Config{Bucket: testBucket}, noEnv, Credentials{},
			"no credentials: set OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET, credentials_file=, or anonymous"},
		{"nil env", Config{Bucket: testBucket}, nil, Credentials{}, "no credentials"},
		{"only the id", Config{Bucket: testBucket}, envOf(map[string]string{EnvAccessKeyID: otherAK}), Credentials{}, "OSS_ACCESS_KEY_SECRET is not"},
		{"only the secret", Config{Bucket: testBucket}, envOf(map[string]string{EnvAccessKeySecret: otherSK}), Credentials{}, "OSS_ACCESS_KEY_ID is not"},
		{"bad file beats good env", Config{Bucket: testBucket, CredentialsFile: file + ".missing"}, envCreds, Credentials{}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadCredentials(&tt.cfg, tt.env)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestLoadCredentialsFromParsedConfig(t *testing.T) {
	asRoot(t)
	file := writeCreds(t, testBucket+":"+testAK+":"+testSK, 0o600)
	c := mustParse(t, []string{testBucket + ":/data", "/m", "-o", "credentials_file=" + file}, noEnv)
	got, err := LoadCredentials(c, envOf(map[string]string{EnvAccessKeyID: otherAK, EnvAccessKeySecret: otherSK}))
	if err != nil || got.AccessKeyID != testAK {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestCredentialsNeverPrinted(t *testing.T) {
	c := Credentials{AccessKeyID: testAK, AccessKeySecret: testSK, SecurityToken: testToken}
	if got := c.String(); got != "AK LTAI****0001 +STS token" {
		t.Errorf("String() = %q", got)
	}
	if got := (Credentials{AccessKeyID: "short", AccessKeySecret: testSK}).String(); got != "AK ****" {
		t.Errorf("String() of a short id = %q", got)
	}
	if got := (Credentials{}).String(); got != "anonymous" {
		t.Errorf("String() of zero = %q", got)
	}
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%10v"} {
		fmt.Fprintf(&buf, verb+"\n", c)
		fmt.Fprintf(&buf, verb+"\n", &c)
	}
	fmt.Fprintf(&buf, "%v\n", []Credentials{c})
	fmt.Fprintf(&buf, "%+v\n", struct{ C Credentials }{c})
	j, _ := json.Marshal(map[string]any{"c": c})
	buf.Write(j)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "creds", c, "ptr", &c)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "creds", c)
	out := buf.String()
	for _, secret := range []string{testSK, testToken, testAK} {
		if strings.Contains(out, secret) {
			t.Fatalf("formatting shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "LTAI****0001") {
		t.Fatalf("formatting lost the masked id:\n%s", out)
	}
}

func TestConfigStringHasNoSecret(t *testing.T) {
	asRoot(t)
	file := writeCreds(t, testAK+":"+testSK, 0o600)
	c := mustParse(t, []string{testBucket, "/m", "-o", "endpoint=https://ak:" + testSK + "@oss-cn-hangzhou.aliyuncs.com,credentials_file=" + file}, envOf(map[string]string{
		EnvAccessKeyID: testAK, EnvAccessKeySecret: testSK, EnvSessionToken: testToken}))
	s := c.String()
	for _, secret := range []string{testSK, testToken, testAK} {
		if strings.Contains(s, secret) {
			t.Fatalf("Config.String() shows %q: %s", secret, s)
		}
	}
	if !strings.Contains(s, "credentials_file="+file) {
		t.Errorf("Config.String() lacks the credentials file name: %s", s)
	}
}

// fakeClock is a settable clock for FileProvider.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestFileProviderReload(t *testing.T) {
	p := writeCreds(t, testBucket+":"+stsAK+":"+testSK+":tokenA", 0o600)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	fp := NewFileProvider(p, testBucket)
	fp.now = clock.now
	get := func() Credentials {
		t.Helper()
		c, err := fp.Get()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := get(); c.SecurityToken != "tokenA" {
		t.Fatalf("first Get: %q", c.SecurityToken)
	}
	// Rewrite the file (new STS credentials) with a new mtime.
	if err := os.WriteFile(p, []byte(testBucket+":"+stsAK+":"+otherSK+":tokenB-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	// Within the second the file is not looked at.
	clock.add(500 * time.Millisecond)
	if c := get(); c.SecurityToken != "tokenA" {
		t.Fatalf("re-read within the interval: %q", c.SecurityToken)
	}
	clock.add(600 * time.Millisecond)
	if c := get(); c.SecurityToken != "tokenB-longer" || c.AccessKeySecret != otherSK {
		t.Fatalf("not re-read after a change: %q", c.SecurityToken)
	}

	// Same size, only the mtime changes: re-read.
	if err := os.WriteFile(p, []byte(testBucket+":"+stsAK+":"+otherSK+":tokenC-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := future.Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Second)
	if c := get(); c.SecurityToken != "tokenC-longer" {
		t.Fatalf("same size, new mtime not re-read: %q", c.SecurityToken)
	}

	// Replaced by rename (new inode).
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(stsAK+":"+testSK+":tokenD\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Second)
	if c := get(); c.SecurityToken != "tokenD" {
		t.Fatalf("renamed-over file not re-read: %q", c.SecurityToken)
	}

	// A broken rewrite keeps the last good credentials, reports the error,
	// and the file is read again once it is fixed.
	if err := os.WriteFile(p, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Second)
	if c := get(); c.SecurityToken != "tokenD" {
		t.Fatalf("broken file: got %q, want the last good credentials", c.SecurityToken)
	}
	if fp.LastError() == nil {
		t.Error("LastError is nil after a failed re-read")
	}
	if err := os.WriteFile(p, []byte(stsAK+":"+testSK+":tokenE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Second)
	if c := get(); c.SecurityToken != "tokenE" {
		t.Fatalf("fixed file not re-read: %q", c.SecurityToken)
	}
	if fp.LastError() != nil {
		t.Errorf("LastError = %v after a good read", fp.LastError())
	}

	// Made readable by others: the credentials in memory stay, the error shows.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Second)
	if c := get(); c.SecurityToken != "tokenE" {
		t.Fatalf("after chmod: %q", c.SecurityToken)
	}
	if err := fp.LastError(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("LastError after chmod 644 = %v", err)
	}
}

func TestFileProviderFirstReadErrors(t *testing.T) {
	p := writeCreds(t, testAK+":"+testSK, 0o644)
	fp := NewFileProvider(p, testBucket)
	if _, err := fp.Get(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Get of a group-readable file = %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	// No good read yet: the next Get reads again at once.
	if c, err := fp.Get(); err != nil || c.AccessKeyID != testAK {
		t.Fatalf("Get after chmod 600 = %v, %v", c, err)
	}
	if _, err := NewFileProvider(p+".missing", testBucket).Get(); err == nil {
		t.Fatal("Get of a missing file succeeded")
	}
}

func TestFileProviderConcurrent(t *testing.T) {
	p := writeCreds(t, testAK+":"+testSK, 0o600)
	fp := NewFileProvider(p, testBucket)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if c, err := fp.Get(); err != nil || c.AccessKeyID != testAK {
					t.Errorf("Get = %v, %v", c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
