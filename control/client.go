package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/vfs"
)

// ErrNotOssmount: the path is not inside a live ossmount mount.
var ErrNotOssmount = errors.New("is not inside an ossmount mount")

// Client talks to one daemon's control socket.
type Client struct {
	socket string
	http   *http.Client
}

// Dial returns a client of the daemon listening on socket, after checking
// that something answers there.
func Dial(socket string) (*Client, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, err
	}
	conn.Close()
	// No keep-alive: a client makes a few requests (a scrape, a command),
	// and an idle connection kept open would hold an fd and goroutines in
	// both processes for as long as the client lives.
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}, nil
}

// FindMount returns the root of the ossmount mount holding path, the path
// relative to that root, and the daemon's socket (from the root's
// user.ossmount.control attribute).
func FindMount(path string) (root, rel, socket string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", "", err
	}
	if _, err := os.Stat(abs); err != nil {
		if pe := (*os.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return "", "", "", fmt.Errorf("%s: %w", path, err)
	}
	for dir := abs; ; dir = filepath.Dir(dir) {
		buf := make([]byte, 4096)
		n, xerr := unix.Getxattr(dir, vfs.ControlXattr, buf)
		if xerr == nil {
			rel, _ := filepath.Rel(dir, abs)
			if rel == "." {
				rel = ""
			}
			return dir, rel, string(buf[:n]), nil
		}
		if dir == "/" {
			return "", "", "", fmt.Errorf("%s %w", path, ErrNotOssmount)
		}
	}
}

// send makes one request (body as JSON, if any) and returns the response
// when it is a 200; any other status becomes an error with the daemon's
// message. The caller closes the body.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://ossmount"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("daemon at %s: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("daemon: %s", strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// do sends a request and decodes its JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// Stats returns the daemon's figures.
func (c *Client) Stats(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	return s, c.do(ctx, "GET", "/v1/stats", nil, &s)
}

// Usage lists the daemon's cached objects.
func (c *Client) Usage(ctx context.Context) ([]CachedObject, error) {
	var u []CachedObject
	return u, c.do(ctx, "GET", "/v1/cache/du", nil, &u)
}

// Verify has the daemon check every cached block.
func (c *Client) Verify(ctx context.Context) (VerifyReport, error) {
	var r VerifyReport
	return r, c.do(ctx, "POST", "/v1/cache/verify", nil, &r)
}

// Clear has the daemon drop key (every key when "").
func (c *Client) Clear(ctx context.Context, key string) (ClearResult, error) {
	var r ClearResult
	return r, c.do(ctx, "POST", "/v1/cache/clear?key="+url.QueryEscape(key), nil, &r)
}

// Warm asks the daemon to warm paths (relative to its mount root) and calls
// onEvent for each event until the end. Cancelling ctx stops the daemon.
func (c *Client) Warm(ctx context.Context, paths []string, onEvent func(WarmEvent)) error {
	resp, err := c.send(ctx, "POST", "/v1/warm", WarmRequest{Paths: paths})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // the plan line lists every file
	for sc.Scan() {
		var ev WarmEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("daemon sent %q: %w", sc.Text(), err)
		}
		onEvent(ev)
		if ev.End {
			if ev.Error != "" {
				return errors.New(ev.Error)
			}
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("daemon ended the warm request early: %w", syscall.ECONNRESET)
}
