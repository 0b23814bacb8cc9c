package credsource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// processOutput is what a credential process prints: the JSON the OSS SDK
// v2's process provider reads. Expiration is RFC 3339
// ("2026-12-29T07:45:02Z"); without it the credentials do not expire.
type processOutput struct {
	AccessKeyId     string     `json:"AccessKeyId"`
	AccessKeySecret string     `json:"AccessKeySecret"`
	SecurityToken   string     `json:"SecurityToken"`
	Expiration      *time.Time `json:"Expiration"`
}

// maxProcessOutput bounds what is kept of a credential process's stdout
// and stderr.
const maxProcessOutput = 64 << 10

// boundedBuffer keeps the first maxProcessOutput bytes written to it and
// drops the rest (the process is not blocked on a full pipe).
type boundedBuffer struct{ bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxProcessOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// ProcessFetcher runs command with /bin/sh -c in its own process group and
// reads the credentials it prints. When ctx ends first, the whole group is
// killed (a script's children too) and its pipes are abandoned after a
// second, so a hanging command costs at most the fetch bound.
func ProcessFetcher(command string) FetchFunc {
	return func(ctx context.Context) (credentials.Credentials, error) {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = time.Second
		var stdout, stderr boundedBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ctx.Err() != nil {
			return credentials.Credentials{}, fmt.Errorf("credential_process did not finish: killed: %w", ctx.Err())
		}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			return credentials.Credentials{}, fmt.Errorf("credential_process %s%s", exit.ProcessState, lastLine(stderr.String()))
		case err != nil:
			return credentials.Credentials{}, fmt.Errorf("credential_process: %w", err)
		}
		return parseProcessOutput(stdout.Bytes())
	}
}

// parseProcessOutput decodes a credential process's stdout. Its errors
// never quote the output, which holds secrets.
func parseProcessOutput(out []byte) (credentials.Credentials, error) {
	var o processOutput
	if err := json.Unmarshal(out, &o); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return credentials.Credentials{}, fmt.Errorf("credential_process printed no valid JSON (syntax error at byte %d of %d)", se.Offset, len(out))
		case errors.As(err, &te):
			return credentials.Credentials{}, fmt.Errorf("credential_process printed JSON whose field %s is not a %s", te.Field, te.Type)
		case len(bytes.TrimSpace(out)) == 0:
			return credentials.Credentials{}, errors.New("credential_process printed nothing")
		}
		// time.Time's own errors quote only the Expiration value.
		return credentials.Credentials{}, fmt.Errorf("credential_process printed bad JSON: %v", err)
	}
	if o.AccessKeyId == "" || o.AccessKeySecret == "" {
		return credentials.Credentials{}, errors.New(`credential_process printed no "AccessKeyId" or "AccessKeySecret"`)
	}
	return credentials.Credentials{AccessKeyID: o.AccessKeyId, AccessKeySecret: o.AccessKeySecret, SecurityToken: o.SecurityToken, Expires: o.Expiration}, nil
}

// lastLine is ": " and the last non-empty line of a process's stderr, cut
// to 200 bytes, or "".
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return ""
	}
	return ": " + s
}
