// Package durable holds the primitives of ossmount's durable writes
// (temporary file, fsync, rename, fsync of the directory): the cache's
// data files and its checkpoints use them.
package durable

import (
	"os"
	"path/filepath"
	"strings"

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

// WriteFile replaces file p with data durably: a temporary file in p's
// directory, written, fsynced, renamed over p, then the directory
// fsynced. A crash leaves either the old file or the new one (and perhaps
// a temporary file, see IsTemp, which its owner deletes). The rename gives
// p a new inode, which is how a process re-reading p notices the change.
func WriteFile(p string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+"-*"+tempSuffix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// tempSuffix ends the names of WriteFile's temporary files.
const tempSuffix = ".tmp"

// IsTemp says whether name (a base name) is one of WriteFile's temporary
// files, left by a crash between its create and its rename.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, tempSuffix)
}
