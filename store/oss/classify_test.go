package oss

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/ossmount/ossmount/store"
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
		{"no such host", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "oss-nowhere.example", IsNotFound: true}}), store.ErrEndpoint},
		{"DNS timeout", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "sdk.example", IsTimeout: true}}), store.ErrTransient},
		{"HTTP to https", wrap(http.ErrSchemeMismatch), store.ErrEndpoint},
		{"not TLS", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), store.ErrEndpoint},
		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), store.ErrTransient},
	} {
		err := classify("LIST", "", c.err)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: classified %v, want %v", c.name, err, c.kind)
		}
		if store.Retryable(err) != (c.kind == store.ErrTransient) {
			t.Errorf("%s: retryable %v", c.name, store.Retryable(err))
		}
	}
}
