package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Conditions are the revalidation preconditions of an open.
type Conditions struct {
	IfNoneMatch     string    // cached ETag
	IfModifiedSince time.Time // cached Last-Modified (revalidate=mtime)
}

// ProbeResult answers an open: either "not modified", or the current version
// with its first block (BlockSize bytes at most) already downloaded.
type ProbeResult struct {
	NotModified bool
	Info        ObjectInfo
	First       []byte
}

// Probe sends the one request of an open: a ranged GET of the first block,
// conditional when the caller has a cached version. One round trip answers
// both "has it changed?" and "here is block 0", so a cold read's first byte
// costs no extra request. It honours ctx (the opener's) and retries
// transient failures.
func (f *Fetcher) Probe(ctx context.Context, key string, cond Conditions, blockSize int64) (ProbeResult, error) {
	req := GetRequest{Key: key, Start: 0, End: blockSize - 1, IfNoneMatch: cond.IfNoneMatch, IfModifiedSince: cond.IfModifiedSince}
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > f.cfg.Retries {
				f.errs.Add(1)
				return ProbeResult{}, lastErr
			}
			f.retries.Add(1)
			if !sleepCtx(ctx, backoff(attempt)) {
				return ProbeResult{}, ctx.Err()
			}
		}
		res, err := f.probeOnce(ctx, req)
		if err == nil {
			return res, nil
		}
		var re *RequestError
		if errors.As(err, &re) && re.Status == http.StatusRequestedRangeNotSatisfiable && req.End >= 0 {
			// A server that refuses ranges of empty objects: ask for it whole.
			req.End = -1
			continue
		}
		if !retryable(err) || ctx.Err() != nil {
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, context.Canceled) {
				f.errs.Add(1)
			}
			return ProbeResult{}, err
		}
		f.log.Warn("open GET failed, retrying", "key", key, "err", err, "attempt", attempt+1)
		lastErr = err
	}
}

func (f *Fetcher) probeOnce(ctx context.Context, req GetRequest) (ProbeResult, error) {
	if err := f.sem.Acquire(ctx, 1); err != nil {
		return ProbeResult{}, err
	}
	defer f.sem.Release(1)
	f.probes.Add(1)
	resp, err := f.store.Get(ctx, req)
	if errors.Is(err, ErrNotModified) {
		f.notModified.Add(1)
		return ProbeResult{NotModified: true}, nil
	}
	if err != nil {
		return ProbeResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent || resp.RangeStart != 0 {
		return ProbeResult{}, &RequestError{Op: "GET", Key: req.Key, Status: resp.StatusCode, RequestID: resp.RequestID,
			Kind: ErrProtocol, Err: fmt.Errorf("unexpected answer to a first-block GET (range start %d)", resp.RangeStart)}
	}
	size := resp.Info.Size
	want := size
	if req.End >= 0 {
		want = min(size, req.End+1)
	}
	if resp.StatusCode == http.StatusPartialContent && resp.ContentLength != want {
		return ProbeResult{}, &RequestError{Op: "GET", Key: req.Key, Status: resp.StatusCode, RequestID: resp.RequestID,
			Kind: ErrProtocol, Err: fmt.Errorf("Content-Length %d, expected %d", resp.ContentLength, want)}
	}
	buf := make([]byte, want)
	var stalled atomic.Bool
	timer := time.AfterFunc(f.cfg.ReadTimeout, func() { stalled.Store(true); resp.Body.Close() })
	n, err := io.ReadFull(resp.Body, buf)
	timer.Stop()
	f.bytes.Add(int64(n))
	if err != nil {
		if stalled.Load() {
			err = fmt.Errorf("no data for %v: %w", f.cfg.ReadTimeout, err)
		}
		return ProbeResult{}, &RequestError{Op: "GET", Key: req.Key, Status: resp.StatusCode, RequestID: resp.RequestID, Kind: ErrTransient, Err: err}
	}
	return ProbeResult{Info: resp.Info, First: buf}, nil
}
