package fetcher

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
)

// Errors that say the endpoint itself is wrong are not retried; network
// hiccups are.
func TestClassifyEndpointErrors(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: "https://x/bkt", Err: err} }
	for _, c := range []struct {
		name string
		err  error
		kind error
	}{
		{"no such host", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "oss-nowhere.example", IsNotFound: true}}), ErrEndpoint},
		{"DNS timeout", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "oss.example", IsTimeout: true}}), ErrTransient},
		{"HTTP to https", wrap(http.ErrSchemeMismatch), ErrEndpoint},
		{"not TLS", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ErrEndpoint},
		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), ErrTransient},
	} {
		err := classify("LIST", "", c.err)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: classified %v, want %v", c.name, err, c.kind)
		}
		if retryable(err) != (c.kind == ErrTransient) {
			t.Errorf("%s: retryable %v", c.name, retryable(err))
		}
	}
}
