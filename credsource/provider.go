// Package credsource gives the OSS client its credentials, from one source
// picked by config.Config.PickCredentialSource: static ones (environment,
// anonymous), an ossfs-style file re-read when it changes, or temporary ones
// that renew themselves (ECS instance RAM role, RRSA/OIDC,
// credential_process).
//
// Temporary credentials are held by a Renewing provider. Requests take the
// current credentials without waiting; a background goroutine fetches new
// ones ahead of their expiry (a fifth of their lifetime before it, at most
// 15 minutes) and swaps them in atomically, so renewal never blocks a read
// in flight. Only when the credentials have already expired (the source was
// unreachable for that long) does a request wait for a fetch, bounded by
// its own context. A request the server refuses as "token expired" asks
// Renew to fetch at once; renewals are coalesced, so a burst of refusals
// costs one fetch.
//
// The fetchers speak the sources' protocols directly (ecs.go, oidc.go,
// process.go) rather than through the OSS SDK's or credentials-go's
// providers: those keep the expiry to themselves (credentials-go's
// Credentials has no Expiration field, so neither a renewal schedule nor
// `ossmount stats` could know it), fix the metadata service's address
// (SDK and credentials-go) and STS's scheme (credentials-go: https only),
// send no metadata token (the SDK's ECS provider), or cannot stop a
// credential process's children when it times out (the SDK's process
// provider waits for its stdout to close). The JSON they read is the one
// those providers read.
//
// No error or log line of this package holds a secret or a token.
package credsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"golang.org/x/sync/singleflight"

	"github.com/ossmount/ossmount/config"
)

// Status is what `ossmount stats` and the metrics show of the credentials.
type Status struct {
	Source   string    `json:"source"`               // config.Source*
	Expires  time.Time `json:"expires,omitzero"`     // of the current credentials; zero: they do not expire
	Renewed  time.Time `json:"renewed,omitzero"`     // when they were fetched
	Renewals int64     `json:"renewals"`             // successful fetches since the mount
	Failures int64     `json:"failures"`             // failed fetches since the mount
	LastErr  string    `json:"last_error,omitempty"` // of the last fetch, "" after a success
}

// Provider is what the OSS client and the daemon's stats need of a source.
type Provider interface {
	credentials.CredentialsProvider
	Status() Status
}

// Renewer is a Provider whose credentials can be fetched again on demand.
type Renewer interface {
	// Renew makes sure the credentials were fetched after since (the start
	// of a request the server refused): it returns at once if they were,
	// else it fetches them (coalesced with other callers) and waits for
	// the result, or for ctx.
	Renew(ctx context.Context, since time.Time) error
}

// FetchFunc fetches one set of credentials from a source; it does not
// cache. Credentials that never expire have a nil Expires.
type FetchFunc func(ctx context.Context) (credentials.Credentials, error)

// current is one fetch's credentials.
type current struct {
	creds   credentials.Credentials
	renewed time.Time
}

// Renewing serves the credentials of a FetchFunc, renewing them in the
// background ahead of their expiry. Safe for concurrent use.
type Renewing struct {
	source  string
	fetch   FetchFunc
	timeout time.Duration // bound of one fetch
	log     *slog.Logger

	cur     atomic.Pointer[current] // nil until the first fetch succeeds
	renewal singleflight.Group      // key "": the one fetch in flight

	mu       sync.Mutex // guards the counters below; never held across a fetch
	renewals int64
	failures int64
	lastErr  string

	stop chan struct{}
	done chan struct{}
}

// renewMargin is how long before expiry a renewal starts: a fifth of the
// credentials' lifetime (STS credentials live 15 minutes to 12 hours), at
// most 15 minutes.
func renewMargin(lifetime time.Duration) time.Duration {
	return min(lifetime/5, 15*time.Minute)
}

// retryDelay is the wait before another attempt after n failed fetches in
// a row: 1s, 2s, 4s ... 30s.
func retryDelay(n int) time.Duration {
	return min(time.Second<<min(n-1, 5), 30*time.Second)
}

// NewRenewing fetches the first credentials (failing if it cannot, so a
// wrong setup fails the mount) and starts renewing them. Close stops it.
func NewRenewing(ctx context.Context, source string, fetch FetchFunc, timeout time.Duration, log *slog.Logger) (*Renewing, error) {
	if log == nil {
		log = slog.Default()
	}
	p := &Renewing{source: source, fetch: fetch, timeout: timeout, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	if err := p.Renew(ctx, time.Now()); err != nil {
		return nil, err
	}
	go p.loop()
	return p, nil
}

// Close stops the background renewal.
func (p *Renewing) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// GetCredentials implements credentials.CredentialsProvider: the current
// credentials, or, once they have expired, those of a fetch it waits for.
func (p *Renewing) GetCredentials(ctx context.Context) (credentials.Credentials, error) {
	if c := p.cur.Load(); c != nil && !c.creds.Expired() {
		return c.creds, nil
	}
	if err := p.Renew(ctx, time.Now()); err != nil {
		return credentials.Credentials{}, err
	}
	return p.cur.Load().creds, nil
}

// Renew implements Renewer.
func (p *Renewing) Renew(ctx context.Context, since time.Time) error {
	if c := p.cur.Load(); c != nil && c.renewed.After(since) && !c.creds.Expired() {
		return nil
	}
	ch := p.renewal.DoChan("", func() (any, error) { return nil, p.renewOnce() })
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s credentials: %w", p.source, ctx.Err())
	}
}

// renewOnce fetches, under the fetch bound and detached from any caller,
// and swaps the result in.
func (p *Renewing) renewOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	c, err := p.fetch(ctx)
	if err == nil && !c.HasKeys() {
		err = errors.New("no AccessKeyId or AccessKeySecret")
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (no answer within credential_timeout %s)", err, p.timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failures++
		p.lastErr = err.Error()
		p.log.Warn("fetching credentials failed", "source", p.source, "err", err)
		return fmt.Errorf("%s credentials: %w", p.source, err)
	}
	p.renewals++
	p.lastErr = ""
	p.cur.Store(&current{creds: c, renewed: time.Now()})
	var exp any = "never"
	if c.Expires != nil {
		exp = c.Expires.UTC()
	}
	// credentials.Credentials is the SDK's type, which formats its fields;
	// config.Credentials formats as the masked key ID only.
	p.log.Info("credentials renewed", "source", p.source, "credentials", config.Credentials{AccessKeyID: c.AccessKeyID, SecurityToken: c.SecurityToken}, "expires", exp)
	return nil
}

// loop renews ahead of expiry, and retries with backoff after failures.
func (p *Renewing) loop() {
	defer close(p.done)
	failed := 0
	for {
		c := p.cur.Load()
		if c.creds.Expires == nil {
			return // they never expire
		}
		wait := time.Until(c.creds.Expires.Add(-renewMargin(c.creds.Expires.Sub(c.renewed))))
		if failed > 0 {
			wait = retryDelay(failed)
		}
		t := time.NewTimer(wait)
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if p.cur.Load() != c {
			failed = 0 // renewed meanwhile (Renew after a refusal)
			continue
		}
		if err := p.Renew(context.Background(), time.Now()); err != nil {
			failed++
		} else {
			failed = 0
		}
	}
}

// Status implements Provider.
func (p *Renewing) Status() Status {
	p.mu.Lock()
	s := Status{Source: p.source, Renewals: p.renewals, Failures: p.failures, LastErr: p.lastErr}
	p.mu.Unlock()
	if c := p.cur.Load(); c != nil {
		s.Renewed = c.renewed
		if c.creds.Expires != nil {
			s.Expires = *c.creds.Expires
		}
	}
	return s
}
