package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Credentials are an OSS AccessKey pair and, for STS, a security token.
// Every way of formatting them (String, %v, %+v, %#v, %d, slog, JSON) shows
// only the AccessKey ID's ends, never the secret or the token.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// String is e.g. "AK LTAI****abcd", "AK STS.****wxyz +STS token" or
// "anonymous".
func (c Credentials) String() string {
	if c.AccessKeyID == "" && c.AccessKeySecret == "" && c.SecurityToken == "" {
		return "anonymous"
	}
	s := "AK " + maskID(c.AccessKeyID)
	if c.SecurityToken != "" {
		s += " +STS token"
	}
	return s
}

// maskID keeps the first and last four bytes of an AccessKey ID of at least
// 12 bytes, and nothing of a shorter one.
func maskID(id string) string {
	if len(id) < 12 {
		return "****"
	}
	return id[:4] + "****" + id[len(id)-4:]
}

// GoString keeps %#v from printing the fields.
func (c Credentials) GoString() string { return "config.Credentials{" + c.String() + "}" }

// Format makes every fmt verb print String.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, c.GoString())
		return
	}
	_, _ = io.WriteString(f, c.String())
}

// LogValue makes slog print String.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON keeps encoding/json (and slog's JSON handler) from writing the
// secret.
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// Environment variables of the credentials.
const (
	EnvAccessKeyID     = "OSS_ACCESS_KEY_ID"
	EnvAccessKeySecret = "OSS_ACCESS_KEY_SECRET"
	EnvSessionToken    = "OSS_SESSION_TOKEN"
)

// ErrNoCredentials is returned by LoadCredentials when nothing provides them.
var ErrNoCredentials = errors.New("no credentials: set OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET, credentials_file=, or anonymous")

// LoadCredentials returns the credentials cfg asks for: none (zero) for
// anonymous; else those of cfg.CredentialsFile for cfg.Bucket when the
// option is given; else OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and the
// optional OSS_SESSION_TOKEN from env; else ErrNoCredentials.
func LoadCredentials(cfg *Config, env func(string) string) (Credentials, error) {
	if cfg.Anonymous {
		return Credentials{}, nil
	}
	if cfg.CredentialsFile != "" {
		return ReadCredentialsFile(cfg.CredentialsFile, cfg.Bucket)
	}
	return LoadEnvCredentials(env)
}

// LoadEnvCredentials returns OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and
// the optional OSS_SESSION_TOKEN from env, or ErrNoCredentials.
func LoadEnvCredentials(env func(string) string) (Credentials, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	id, secret := strings.TrimSpace(env(EnvAccessKeyID)), strings.TrimSpace(env(EnvAccessKeySecret))
	switch {
	case id != "" && secret != "":
		return Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: strings.TrimSpace(env(EnvSessionToken))}, nil
	case id != "":
		return Credentials{}, fmt.Errorf("%s is set but %s is not", EnvAccessKeyID, EnvAccessKeySecret)
	case secret != "":
		return Credentials{}, fmt.Errorf("%s is set but %s is not", EnvAccessKeySecret, EnvAccessKeyID)
	}
	return Credentials{}, ErrNoCredentials
}

// maxCredentialsFile bounds what ReadCredentialsFile reads.
const maxCredentialsFile = 1 << 20

// ReadCredentialsFile reads an ossfs-style credentials file and returns the
// credentials for bucket. Lines, with # comments and blank lines allowed and
// spaces around fields trimmed, are:
//
//	AK:SK                 any bucket
//	AK:SK:TOKEN           any bucket, STS
//	BUCKET:AK:SK          that bucket
//	BUCKET:AK:SK:TOKEN    that bucket, STS
//
// A three-field line is BUCKET:AK:SK when its first field is the mounted
// bucket, and AK:SK:TOKEN when its first field cannot be a bucket name (real
// AccessKey IDs have capitals: LTAI..., STS....); a three-field line for
// another bucket is skipped. A line for the bucket wins over a line for any
// bucket; otherwise the first matching line wins.
//
// The file must be a regular file that neither group nor others can access
// (mode & 077 == 0), as ossfs and s3fs require. Errors name the file and a
// line number, never its contents.
func ReadCredentialsFile(path, bucket string) (Credentials, error) {
	c, _, err := readCredentialsFile(path, bucket)
	return c, err
}

func readCredentialsFile(path, bucket string) (Credentials, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Credentials{}, nil, fmt.Errorf("credentials file %s does not exist", path)
		}
		return Credentials{}, nil, fmt.Errorf("credentials file %s: %v", path, unwrapPathErr(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Credentials{}, nil, fmt.Errorf("credentials file %s: %v", path, unwrapPathErr(err))
	}
	if !st.Mode().IsRegular() {
		return Credentials{}, nil, fmt.Errorf("credentials file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, nil, fmt.Errorf("credentials file %s is readable by group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
	if err != nil {
		return Credentials{}, nil, fmt.Errorf("credentials file %s: %v", path, unwrapPathErr(err))
	}
	if len(data) > maxCredentialsFile {
		return Credentials{}, nil, fmt.Errorf("credentials file %s is larger than 1 MiB", path)
	}
	c, err := parseCredentials(data, bucket)
	if err != nil {
		return Credentials{}, nil, fmt.Errorf("credentials file %s: %v", path, err)
	}
	return c, st, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseCredentials picks bucket's credentials from a credentials file's
// contents. Its errors never quote the contents.
func parseCredentials(data []byte, bucket string) (Credentials, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	var generic, specific *Credentials
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, ":")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		var lineBucket string
		var c Credentials
		switch len(fields) {
		case 2:
			c = Credentials{AccessKeyID: fields[0], AccessKeySecret: fields[1]}
		case 3:
			switch {
			case fields[0] == bucket:
				lineBucket = fields[0]
				c = Credentials{AccessKeyID: fields[1], AccessKeySecret: fields[2]}
			case ValidBucketName(fields[0]):
				continue // BUCKET:AK:SK of another bucket
			default:
				c = Credentials{AccessKeyID: fields[0], AccessKeySecret: fields[1], SecurityToken: fields[2]}
			}
		case 4:
			lineBucket = fields[0]
			c = Credentials{AccessKeyID: fields[1], AccessKeySecret: fields[2], SecurityToken: fields[3]}
			if lineBucket == "" || c.SecurityToken == "" {
				return Credentials{}, fmt.Errorf("line %d: empty field (expected BUCKET:AK:SK:TOKEN)", n+1)
			}
		default:
			return Credentials{}, fmt.Errorf("line %d: expected AK:SK, BUCKET:AK:SK or either with :TOKEN (found %d fields)", n+1, len(fields))
		}
		if c.AccessKeyID == "" || c.AccessKeySecret == "" {
			return Credentials{}, fmt.Errorf("line %d: empty AccessKey ID or secret", n+1)
		}
		switch {
		case lineBucket == "":
			if generic == nil {
				generic = &c
			}
		case lineBucket == bucket:
			if specific == nil {
				specific = &c
			}
		}
	}
	if specific != nil {
		return *specific, nil
	}
	if generic != nil {
		return *generic, nil
	}
	return Credentials{}, fmt.Errorf("no credentials for bucket %q (expected a line AK:SK or %s:AK:SK)", bucket, bucket)
}

// FileProvider serves the credentials of a credentials file and re-reads the
// file when it changes (its size, modification time or inode), so that
// rewritten STS credentials are picked up without a remount. The file is
// looked at (one stat) at most once per second. Safe for concurrent use.
type FileProvider struct {
	path, bucket string
	interval     time.Duration // between stats; 1s
	now          func() time.Time

	mu      sync.Mutex
	creds   Credentials
	have    bool        // creds holds a good read
	info    os.FileInfo // of the read that gave creds
	checked time.Time   // last stat
	lastErr error       // of the last read
}

// LastError is the error of the last read of the file, nil if it
// succeeded: Get hides a failed re-read behind the previous credentials, and
// a caller may want to log it.
func (p *FileProvider) LastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Recheck makes the next Get look at the file (a request was refused: the
// file may have been rewritten within the last second).
func (p *FileProvider) Recheck() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checked = time.Time{}
}

// FileCredentialsProvider is another name of FileProvider.
type FileCredentialsProvider = FileProvider

// NewFileProvider returns a provider of bucket's credentials in the file at
// path. It reads nothing until Get.
func NewFileProvider(path, bucket string) *FileProvider {
	return &FileProvider{path: path, bucket: bucket, interval: time.Second, now: time.Now}
}

// Get returns the current credentials. The first call reads the file; later
// calls stat it at most once per second and re-read it when it changed. If a
// re-read fails (the file is being rewritten, or was made readable by
// others) while good credentials are known, those are returned and the file
// is read again at the next check; without good credentials the error is
// returned.
func (p *FileProvider) Get() (Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.have && now.Sub(p.checked) < p.interval && !now.Before(p.checked) {
		return p.creds, nil
	}
	p.checked = now
	if p.have {
		if st, err := os.Stat(p.path); err == nil && sameFile(st, p.info) {
			return p.creds, nil
		}
	}
	c, st, err := readCredentialsFile(p.path, p.bucket)
	p.lastErr = err
	if err != nil {
		if p.have {
			p.info = nil // read again at the next check
			return p.creds, nil
		}
		return Credentials{}, err
	}
	p.creds, p.info, p.have = c, st, true
	return c, nil
}

// sameFile reports whether st describes the same unchanged file as prev.
func sameFile(st, prev os.FileInfo) bool {
	return prev != nil && os.SameFile(st, prev) && st.Size() == prev.Size() &&
		st.ModTime().Equal(prev.ModTime()) && st.Mode() == prev.Mode()
}
