package store

import (
	"context"
	"errors"
)

// ErrorKind is the class a request error is counted under (the request
// counters of `ossmount stats` and the Prometheus metrics).
type ErrorKind int

// The error kinds, in display order. KindNone is no error: success, and
// the answers that are not failures (304, 416: see ErrRangeNotSatisfiable).
const (
	KindNone ErrorKind = iota - 1
	KindNotFound
	KindAccessDenied
	KindArchived
	KindChanged
	KindTransient
	KindProtocol
	KindRejected
	KindEndpoint
	KindCanceled
	KindOther
	numKinds
)

var kindNames = [numKinds]string{"not_found", "access_denied", "archived", "changed", "transient", "protocol", "rejected", "endpoint", "canceled", "other"}

// String is the kind's name in stats and metrics labels.
func (k ErrorKind) String() string {
	if k < 0 || k >= numKinds {
		return "none"
	}
	return kindNames[k]
}

// ErrorKinds returns every kind but KindNone, in display order.
func ErrorKinds() []ErrorKind {
	ks := make([]ErrorKind, numKinds)
	for i := range ks {
		ks[i] = ErrorKind(i)
	}
	return ks
}

// NumErrorKinds is how many kinds ErrorKinds returns: the size of an array
// indexed by kind.
const NumErrorKinds = int(numKinds)

// KindOf classifies a request error.
func KindOf(err error) ErrorKind {
	switch {
	case err == nil, errors.Is(err, ErrNotModified), errors.Is(err, ErrRangeNotSatisfiable):
		return KindNone
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoSuchUpload):
		return KindNotFound
	case errors.Is(err, ErrExists):
		return KindRejected
	case errors.Is(err, ErrSourceChanged):
		return KindChanged
	case errors.Is(err, ErrAccessDenied):
		return KindAccessDenied
	case errors.Is(err, ErrArchived):
		return KindArchived
	case errors.Is(err, ErrChanged):
		return KindChanged
	case errors.Is(err, ErrTransient):
		return KindTransient
	case errors.Is(err, ErrProtocol):
		return KindProtocol
	case errors.Is(err, ErrRejected):
		return KindRejected
	case errors.Is(err, ErrEndpoint):
		return KindEndpoint
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return KindCanceled
	default:
		return KindOther
	}
}
