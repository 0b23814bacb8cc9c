package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/store"
	"github.com/ossmount/ossmount/vfs"
)

// Every sentinel the core can return maps to its errno, bare, wrapped in
// a RequestError (as the store returns them) and wrapped again by a caller.
func TestErrnoOfEverySentinel(t *testing.T) {
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{store.ErrNotFound, syscall.ENOENT},
		{store.ErrChanged, syscall.ESTALE},
		{vfs.ErrStale, syscall.ESTALE},
		{store.ErrAccessDenied, syscall.EACCES},
		{store.ErrArchived, syscall.EACCES},
		{vfs.ErrNotSymlink, syscall.EINVAL},
		{vfs.ErrLinkOutside, syscall.EINVAL},
		{context.Canceled, syscall.EINTR},
		{context.DeadlineExceeded, syscall.EINTR},
		{store.ErrNotModified, syscall.EIO},
		{store.ErrTransient, syscall.EIO},
		{store.ErrProtocol, syscall.EIO},
		{store.ErrRejected, syscall.EIO},
		{store.ErrEndpoint, syscall.EIO},
		{store.ErrRangeNotSatisfiable, syscall.EIO},
		{blockcache.ErrNotCached, syscall.EIO},
		{io.ErrUnexpectedEOF, syscall.EIO},
		{syscall.ENOSPC, syscall.EIO}, // a cache disk error
	} {
		forms := map[string]error{
			"bare":    c.err,
			"request": &store.RequestError{Op: "GET", Key: "k", Status: 500, Kind: c.err},
			"wrapped": fmt.Errorf("reading %q: %w", "p", &store.RequestError{Op: "GET", Key: "k", Kind: c.err}),
		}
		for form, err := range forms {
			if got := errnoOf(err); got != c.want {
				t.Errorf("%v (%s): %v, want %v", c.err, form, got, c.want)
			}
		}
	}
	// ErrStale says why: the store's cause stays reachable.
	if got := errnoOf(fmt.Errorf("%w: %w", vfs.ErrStale, store.ErrNotFound)); got != syscall.ESTALE {
		t.Errorf("stale because deleted: %v, want ESTALE", got)
	}
	if errnoOf(nil) != 0 {
		t.Error("nil is not 0")
	}
	if errors.Is(store.ErrNotFound, store.ErrChanged) {
		t.Fatal("sentinels are not distinct")
	}
}
