// Package durable holds the primitives of ossmount's durable writes
// (temporary file, fsync, rename, fsync of the directory): the cache's
// data files and its checkpoints use them.
package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// Fdatasync flushes f's data (not its metadata) to disk, retrying on EINTR.
func Fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// SyncDir flushes directory dir, so that the names created, renamed or
// removed in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
