package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ossmount/ossmount/internal/retry"
	"github.com/ossmount/ossmount/store"
)

// Conditions are the revalidation preconditions of an open.
type Conditions struct {
	IfNoneMatch     string    // cached ETag
	IfModifiedSince time.Time // cached Last-Modified (revalidate=mtime)
	// ETag is the ETag of the cached version the conditions stand for. A
	// 304 that names another ETag is not believed (If-Modified-Since has
	// one-second resolution: an object replaced within the cached
	// version's second is "not modified" since then): the open asks again
	// without conditions.
	ETag string
}

// ProbeResult answers an open: either "not modified", or the current version
// with its first bytes (as many as asked, at most) already downloaded.
type ProbeResult struct {
	NotModified bool
	Info        store.ObjectInfo
	First       []byte
}

// Probe sends the one request of an open: a ranged GET of the first
// firstBytes, conditional when the caller has a cached version. One round
// trip answers both "has it changed?" and "here is block 0", so a cold
// read's first byte costs no extra request. It honours ctx (the opener's)
// and retries transient failures. A body cut short is resumed from the
// bytes received, pinned to the version it started with by If-Match, and
// progress resets the retry count, as for parts: a flaky link slows an open
// down but does not fail it while bytes keep arriving.
//
// firstBytes 0 says the caller expects an empty object: the GET carries no
// Range, which an empty object cannot satisfy, and keeps no body bytes
// should the object have grown meanwhile. A server that answers a range
// with 416 (x-oss-range-behavior: standard, MinIO) has just said the
// object is empty: the GET is sent again at once without a Range, which is
// not a retry. Without the 416, OSS answers such a range with 200 and the
// whole (empty) object.
func (f *Fetcher) Probe(ctx context.Context, key string, cond Conditions, firstBytes int64) (ProbeResult, error) {
	first := store.GetRequest{Key: key, Start: 0, End: firstBytes - 1, IfNoneMatch: cond.IfNoneMatch, IfModifiedSince: cond.IfModifiedSince}
	req := first
	var (
		lastErr error
		partial *ProbeResult // what arrived of the first block so far
	)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > f.cfg.Retries {
				f.errs.Add(1)
				return ProbeResult{}, lastErr
			}
			f.retries.Add(1)
			if !retry.Wait(ctx, attempt) {
				return ProbeResult{}, ctx.Err()
			}
		}
		res, err := f.probeOnce(ctx, req, firstBytes, partial)
		if err == nil && res.NotModified && cond.ETag != "" && res.Info.ETag != "" && !store.SameETag(res.Info.ETag, cond.ETag) {
			f.log.Info("304 names another version than the cached one; fetching it", "key", key,
				"cached_etag", cond.ETag, "etag", res.Info.ETag)
			first.IfNoneMatch, first.IfModifiedSince = "", time.Time{}
			req = first
			res, err = f.probeOnce(ctx, req, firstBytes, nil)
		}
		if errors.Is(err, store.ErrRangeNotSatisfiable) && partial == nil && req.End >= 0 {
			first.End = -1 // the object is empty: ask for it whole
			req = first
			res, err = f.probeOnce(ctx, req, firstBytes, nil)
		}
		if err == nil {
			return res, nil
		}
		if partial != nil {
			err = shorterThanVersion(err)
		}
		if partial != nil && errors.Is(err, store.ErrChanged) && ctx.Err() == nil {
			// Replaced between two pieces of its first block: start over.
			partial, req, lastErr = nil, first, err
			continue
		}
		if !store.Retryable(err) || ctx.Err() != nil {
			if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, context.Canceled) {
				f.errs.Add(1)
			}
			return ProbeResult{}, err
		}
		if pe := (*probePartial)(nil); errors.As(err, &pe) {
			if partial == nil || int64(len(pe.res.First)) > int64(len(partial.First)) {
				attempt = 0 // progress
			}
			partial = &pe.res
			req = store.GetRequest{Key: key, Start: int64(len(partial.First)), End: int64(cap(partial.First)) - 1, IfMatch: partial.Info.ETag}
		}
		f.log.Warn("open GET failed, retrying", "key", key, "err", err, "attempt", attempt+1)
		lastErr = err
	}
}

// probePartial is a first-block GET whose body broke off: the answer's
// metadata and the bytes that arrived (First has the full block's capacity).
type probePartial struct {
	res ProbeResult
	err error
}

func (p *probePartial) Error() string { return p.err.Error() }
func (p *probePartial) Unwrap() error { return p.err }

// probeOnce sends one GET of the first limit bytes, or, with partial, of
// the rest of them.
func (f *Fetcher) probeOnce(ctx context.Context, req store.GetRequest, limit int64, partial *ProbeResult) (ProbeResult, error) {
	if err := f.sem.Acquire(ctx, 1); err != nil {
		return ProbeResult{}, err
	}
	defer f.sem.Release(1)
	f.probes.Add(1)
	resp, err := f.store.Get(ctx, req)
	if errors.Is(err, store.ErrNotModified) && partial == nil {
		f.notModified.Add(1)
		res := ProbeResult{NotModified: true}
		if re := (*store.RequestError)(nil); errors.As(err, &re) {
			res.Info.ETag = re.ETag
		}
		return res, nil
	}
	if err != nil {
		return ProbeResult{}, err
	}
	defer resp.Body.Close()
	bad := func(format string, args ...any) error {
		return &store.RequestError{Op: "GET", Key: req.Key, Status: resp.StatusCode, RequestID: resp.RequestID,
			Kind: store.ErrProtocol, Err: fmt.Errorf(format, args...)}
	}
	var buf []byte
	if partial == nil {
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent || resp.RangeStart != 0 {
			return ProbeResult{}, bad("unexpected answer to a first-block GET (range start %d)", resp.RangeStart)
		}
		want := min(resp.Info.Size, limit)
		if resp.StatusCode == http.StatusPartialContent && resp.ContentLength != want {
			return ProbeResult{}, bad("Content-Length %d, expected %d", resp.ContentLength, want)
		}
		buf = make([]byte, 0, want)
		partial = &ProbeResult{Info: resp.Info}
	} else {
		buf = partial.First
		if resp.StatusCode != http.StatusPartialContent || resp.RangeStart != req.Start || resp.Info.Size != partial.Info.Size ||
			resp.ContentLength != req.End-req.Start+1 {
			return ProbeResult{}, bad("unexpected answer resuming a first-block GET at %d (status %d, range start %d, length %d, size %d)",
				req.Start, resp.StatusCode, resp.RangeStart, resp.ContentLength, resp.Info.Size)
		}
	}
	wd := retry.Watch(resp.Body, f.cfg.ReadTimeout)
	n, err := io.ReadFull(resp.Body, buf[len(buf):cap(buf)])
	wd.Stop()
	f.bytes.Add(int64(n))
	buf = buf[:len(buf)+n]
	if err != nil {
		err = wd.Explain(err)
		return ProbeResult{}, &probePartial{res: ProbeResult{Info: partial.Info, First: buf},
			err: &store.RequestError{Op: "GET", Key: req.Key, Status: resp.StatusCode, RequestID: resp.RequestID, Kind: store.ErrTransient, Err: err}}
	}
	return ProbeResult{Info: partial.Info, First: buf}, nil
}
