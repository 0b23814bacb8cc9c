package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/upload"
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
	case errors.Is(err, vfs.ErrExists), errors.Is(err, upload.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, upload.ErrNotSequential):
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
	case errors.Is(err, upload.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, vfs.ErrStale), errors.Is(err, fetcher.ErrChanged), errors.Is(err, upload.ErrSourceChanged):
		return syscall.ESTALE
	case errors.Is(err, fetcher.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, fetcher.ErrAccessDenied), errors.Is(err, fetcher.ErrArchived):
		return syscall.EACCES
	case errors.Is(err, vfs.ErrNotSymlink):
		return syscall.EINVAL
	default:
		return syscall.EIO
	}
}
