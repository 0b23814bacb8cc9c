package fetcher

import (
	"context"
	"errors"
	"sync/atomic"
)

// Counters of the requests the OSSStore sends, for `ossmount stats` and the
// Prometheus metrics. They are counted where every request passes (the
// store), once per HTTP request, retries included.

// Request kinds.
const (
	OpGet  = "GET"
	OpHead = "HEAD"
	OpList = "LIST"
)

// ErrorKinds names the error classes counted, in display order.
var ErrorKinds = []string{"not_found", "access_denied", "archived", "changed", "transient", "protocol", "rejected", "endpoint", "canceled", "other"}

// RequestStats are cumulative request counters.
type RequestStats struct {
	Requests    map[string]int64 `json:"requests"`    // by kind: GET, HEAD, LIST
	Conditional int64            `json:"conditional"` // GETs with If-None-Match or If-Modified-Since
	NotModified int64            `json:"not_modified"`
	// NegativeLookups are HEADs answered 404: a lookup of a name that is
	// no file (shells and tools probe for absent names all the time, and
	// every directory's lookup asks once). Not errors.
	NegativeLookups int64            `json:"negative_lookups"`
	Errors          map[string]int64 `json:"errors"` // by ErrorKinds
}

type requestCounters struct {
	get, head, list, conditional, notModified, negative atomic.Int64
	errs                                                [10]atomic.Int64 // indexed like ErrorKinds
}

// errorKind classifies a request error into ErrorKinds' index; -1 for
// answers that are not errors (nil, 304, 416: see ErrRangeNotSatisfiable).
func errorKind(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrNotModified), errors.Is(err, ErrRangeNotSatisfiable):
		return -1
	case errors.Is(err, ErrNotFound):
		return 0
	case errors.Is(err, ErrAccessDenied):
		return 1
	case errors.Is(err, ErrArchived):
		return 2
	case errors.Is(err, ErrChanged):
		return 3
	case errors.Is(err, ErrTransient):
		return 4
	case errors.Is(err, ErrProtocol):
		return 5
	case errors.Is(err, ErrRejected):
		return 6
	case errors.Is(err, ErrEndpoint):
		return 7
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 8
	default:
		return 9
	}
}

func (c *requestCounters) record(op string, conditional bool, err error) {
	switch op {
	case OpGet:
		c.get.Add(1)
	case OpHead:
		c.head.Add(1)
	case OpList:
		c.list.Add(1)
	}
	if conditional {
		c.conditional.Add(1)
	}
	if errors.Is(err, ErrNotModified) {
		c.notModified.Add(1)
	}
	if op == OpHead && errors.Is(err, ErrNotFound) {
		c.negative.Add(1)
		return
	}
	if k := errorKind(err); k >= 0 {
		c.errs[k].Add(1)
	}
}

func (c *requestCounters) snapshot() RequestStats {
	s := RequestStats{
		Requests:        map[string]int64{OpGet: c.get.Load(), OpHead: c.head.Load(), OpList: c.list.Load()},
		Conditional:     c.conditional.Load(),
		NotModified:     c.notModified.Load(),
		NegativeLookups: c.negative.Load(),
		Errors:          make(map[string]int64, len(ErrorKinds)),
	}
	for i, k := range ErrorKinds {
		s.Errors[k] = c.errs[i].Load()
	}
	return s
}

// RequestStats returns the counters of the requests sent so far.
func (s *OSSStore) RequestStats() RequestStats { return s.counts.snapshot() }
