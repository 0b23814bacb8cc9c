package oss

import (
	"errors"
	"sync/atomic"

	"github.com/ossmount/ossmount/store"
)

// Counters of the requests the Store sends, for `ossmount stats` and the
// Prometheus metrics. They are counted where every request passes (the
// store), once per HTTP request, retries included. Write requests (PUT,
// the multipart calls, COPY, DELETE) are counted in Errors only.

// Request kinds.
const (
	OpGet  = "GET"
	OpHead = "HEAD"
	OpList = "LIST"
)

// RequestStats are cumulative request counters.
type RequestStats struct {
	Requests    map[string]int64 `json:"requests"`    // by kind: GET, HEAD, LIST
	Conditional int64            `json:"conditional"` // GETs with If-None-Match or If-Modified-Since
	NotModified int64            `json:"not_modified"`
	// NegativeLookups are HEADs answered 404: a lookup of a name that is
	// no file (shells and tools probe for absent names all the time, and
	// every directory's lookup asks once). Not errors.
	NegativeLookups int64            `json:"negative_lookups"`
	Errors          map[string]int64 `json:"errors"` // by store.ErrorKind names
}

type requestCounters struct {
	get, head, list, conditional, notModified, negative atomic.Int64
	errs                                                [store.NumErrorKinds]atomic.Int64 // indexed by store.ErrorKind
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
	if errors.Is(err, store.ErrNotModified) {
		c.notModified.Add(1)
	}
	if op == OpHead && errors.Is(err, store.ErrNotFound) {
		c.negative.Add(1)
		return
	}
	if k := store.KindOf(err); k != store.KindNone {
		c.errs[k].Add(1)
	}
}

func (c *requestCounters) snapshot() RequestStats {
	s := RequestStats{
		Requests:        map[string]int64{OpGet: c.get.Load(), OpHead: c.head.Load(), OpList: c.list.Load()},
		Conditional:     c.conditional.Load(),
		NotModified:     c.notModified.Load(),
		NegativeLookups: c.negative.Load(),
		Errors:          make(map[string]int64, store.NumErrorKinds),
	}
	for _, k := range store.ErrorKinds() {
		s.Errors[k.String()] = c.errs[k].Load()
	}
	return s
}

// RequestStats returns the counters of the requests sent so far.
func (s *Store) RequestStats() RequestStats { return s.counts.snapshot() }
