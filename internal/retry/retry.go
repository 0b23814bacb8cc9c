// Package retry is the one retry policy and the one stall watchdog of
// every request path: the fetcher's parts, the open's GET, and the store's
// metadata requests (HEAD, LIST, GetSymlink).
//
// The policy: a request that failed transiently is sent again after a
// jittered exponential backoff (Backoff), up to a number of attempts the
// caller counts; a body that made progress before it broke resets the
// count (a flaky link slows a read down but does not fail it while bytes
// keep arriving). The watchdog abandons a body that delivers nothing for
// the read timeout, by closing it, so that the blocked read returns.
package retry

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Backoff is the wait before attempt (1 for the first retry): doubling
// from 100 ms up to 5 s, jittered to between half and all of it so that
// many readers failing together do not retry together.
func Backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(max(attempt, 1)-1, 6)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// Wait sleeps the backoff before attempt, or until ctx is done; it
// reports whether the retry should go ahead.
func Wait(ctx context.Context, attempt int) bool {
	t := time.NewTimer(Backoff(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Do runs once, and again after each failure that retryable accepts, up
// to retries more times, waiting Backoff between attempts; onRetry (may
// be nil) hears of each failure about to be retried. It returns the last
// answer.
func Do[T any](ctx context.Context, retries int, retryable func(error) bool, onRetry func(attempt int, err error), once func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := once()
		if err == nil || !retryable(err) || attempt >= retries || ctx.Err() != nil {
			return v, err
		}
		if onRetry != nil {
			onRetry(attempt+1, err)
		}
		if !Wait(ctx, attempt+1) {
			return v, err
		}
	}
}

// Watchdog closes a body that delivers nothing for its timeout. Call
// Progress after every read that returned bytes, Stop when done with the
// body, and Stalled to tell a read error it caused from others.
type Watchdog struct {
	timeout time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

// Watch starts a watchdog over body.
func Watch(body io.Closer, timeout time.Duration) *Watchdog {
	w := &Watchdog{timeout: timeout}
	w.timer = time.AfterFunc(timeout, func() {
		w.stalled.Store(true)
		body.Close()
	})
	return w
}

// Progress says bytes arrived: the timeout starts again.
func (w *Watchdog) Progress() { w.timer.Reset(w.timeout) }

// Stop stops the watchdog.
func (w *Watchdog) Stop() { w.timer.Stop() }

// Stalled reports whether the watchdog closed the body.
func (w *Watchdog) Stalled() bool { return w.stalled.Load() }

// Explain wraps err, a read error, with the stall when the watchdog caused it.
func (w *Watchdog) Explain(err error) error {
	if err != nil && w.Stalled() {
		return fmt.Errorf("no data for %v: %w", w.timeout, err)
	}
	return err
}
