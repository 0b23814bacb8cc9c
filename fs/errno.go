package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/ossmount/ossmount/store"
	"github.com/ossmount/ossmount/vfs"
)

// errnoOf is the one place where errors of the core become errnos. It
// matches sentinels with errors.Is, never strings. Anything unrecognised,
// including every cache disk error, is EIO.
func errnoOf(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case errors.Is(err, vfs.ErrReadOnly):
		return syscall.EROFS
	case errors.Is(err, vfs.ErrExists), errors.Is(err, store.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, vfs.ErrNotSequential):
		return syscall.EINVAL
	case errors.Is(err, vfs.ErrNotEmpty):
		return syscall.ENOTEMPTY
	case errors.Is(err, vfs.ErrCrossDevice):
		return syscall.EXDEV
	case errors.Is(err, vfs.ErrNotAllowed):
		return syscall.EPERM
	case errors.Is(err, vfs.ErrIsDir):
		return syscall.EISDIR
	case errors.Is(err, vfs.ErrBusy):
		return syscall.EBUSY
	case errors.Is(err, vfs.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, vfs.ErrStale), errors.Is(err, store.ErrChanged), errors.Is(err, store.ErrSourceChanged):
		return syscall.ESTALE
	case errors.Is(err, store.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, store.ErrAccessDenied), errors.Is(err, store.ErrArchived):
		return syscall.EACCES
	case errors.Is(err, vfs.ErrNotSymlink), errors.Is(err, vfs.ErrLinkOutside):
		return syscall.EINVAL
	default:
		return syscall.EIO
	}
}

// errno maps err (the core's answer to op on path p) with errnoOf, and
// logs every EIO it is about to return, with its cause and the OSS request
// id when a request failed: an EIO is the one errno that says nothing by
// itself, so none reaches a program without a line that explains it.
func (m *mount) errno(op, p string, err error) syscall.Errno {
	e := errnoOf(err)
	if e == syscall.EIO {
		attrs := []any{"op", op, "path", p, "err", err}
		if re := (*store.RequestError)(nil); errors.As(err, &re) && re.RequestID != "" {
			attrs = append(attrs, "request_id", re.RequestID)
		}
		m.opts.Logger.Error("returning EIO", attrs...)
	}
	return e
}
