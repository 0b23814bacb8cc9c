package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// The kinds' names are the keys of `ossmount stats --json` and the labels
// of ossmount_request_errors_total: they must not change.
func TestErrorKindNamesAndClassification(t *testing.T) {
	var names []string
	for _, k := range ErrorKinds() {
		names = append(names, k.String())
	}
	want := []string{"not_found", "access_denied", "archived", "changed", "transient", "protocol", "rejected", "endpoint", "canceled", "other"}
	if !slices.Equal(names, want) || NumErrorKinds != len(want) {
		t.Fatalf("kinds %v, want %v", names, want)
	}
	for _, c := range []struct {
		err  error
		kind ErrorKind
	}{
		{nil, KindNone}, {ErrNotModified, KindNone}, {ErrRangeNotSatisfiable, KindNone},
		{ErrNotFound, KindNotFound}, {ErrAccessDenied, KindAccessDenied}, {ErrArchived, KindArchived},
		{ErrChanged, KindChanged}, {ErrTransient, KindTransient}, {ErrProtocol, KindProtocol},
		{ErrRejected, KindRejected}, {ErrEndpoint, KindEndpoint},
		{context.Canceled, KindCanceled}, {context.DeadlineExceeded, KindCanceled},
		{fmt.Errorf("something else"), KindOther},
	} {
		for _, err := range []error{c.err, &RequestError{Op: "GET", Kind: c.err}} {
			if c.err == nil && err != nil {
				continue
			}
			if got := KindOf(err); got != c.kind {
				t.Errorf("KindOf(%v) = %v, want %v", err, got, c.kind)
			}
		}
	}
}

func TestSameETag(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{`"abc"`, `"abc"`, true}, {`"ABC"`, `"abc"`, true}, {`abc`, `"abc"`, true},
		{`"abc"`, `"abd"`, false}, {``, `"abc"`, false},
	} {
		if SameETag(c.a, c.b) != c.same {
			t.Errorf("SameETag(%s, %s) = %v", c.a, c.b, !c.same)
		}
	}
}
