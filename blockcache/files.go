package blockcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/checkpoint"
	"github.com/ossmount/ossmount/internal/durable"
)

// acquire makes sure the object's data file (and checkpoint, if needLog)
// are open, creating them if create is set and they do not exist, and
// returns with fileMu held shared; call release when done.
func (o *Object) acquire(needLog, create bool) (release func(), err error) {
	o.fileMu.RLock()
	for o.data == nil || needLog && o.log == nil {
		o.fileMu.RUnlock()
		o.fileMu.Lock()
		err := o.openLocked(needLog, create)
		o.fileMu.Unlock()
		if err != nil {
			return nil, err
		}
		o.fileMu.RLock()
	}
	return o.fileMu.RUnlock, nil
}

// openLocked opens (or creates) the files. fileMu held exclusively.
func (o *Object) openLocked(needLog, create bool) error {
	c := o.c
	if c.closed.Load() {
		return os.ErrClosed
	}
	if !o.onDisk {
		if !create {
			return errNoFiles
		}
		// Fresh files: nothing of this version is cached, so whatever
		// may be at these paths is garbage. Checkpoint first: a crash
		// before the data file is truncated leaves an empty checkpoint.
		// Unsynced: losing a new checkpoint in a power failure costs a
		// refetch, and a stale one coming back is caught by the CRC
		// check; two fsyncs per new object would not be free.
		if err := os.Mkdir(filepath.Dir(o.dataPath), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		l, err := checkpoint.CreateUnsynced(o.ckptPath, o.v)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(o.dataPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			l.Close()
			os.Remove(o.ckptPath)
			return err
		}
		o.data, o.log, o.onDisk = f, l, true
		c.opened(o)
		return nil
	}
	wasOpen := o.data != nil
	if o.data == nil {
		f, err := os.OpenFile(o.dataPath, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		o.data = f
	}
	if needLog && o.log == nil {
		l, _, err := checkpoint.Load(o.ckptPath, o.v)
		if err != nil {
			// Damaged or gone while its blocks are in memory: rewrite it
			// from memory (which is what it must say anyway).
			c.logOnce("reckpt", "cache: rewriting a checkpoint", "file", o.ckptPath, "err", err)
			if l, err = checkpoint.Create(o.ckptPath, o.v); err == nil {
				if err = l.Compact(o.snapshot()); err != nil {
					l.Close()
				}
			}
			if err != nil {
				return err
			}
		}
		o.log = l
	}
	if !wasOpen {
		c.opened(o)
	}
	return nil
}

// removeBlocks finishes the eviction of blocks (in stEvicting): tombstones,
// then holes. The caller holds no lock.
func (o *Object) removeBlocks(blocks []int) {
	c := o.c
	rel, err := o.acquire(true, false)
	switch {
	case err == nil:
		o.ckMu.RLock()
		for _, b := range blocks {
			if err := o.log.Remove(b); err != nil {
				c.logOnce("tombstone", "cache: cannot record an eviction", "key", o.v.Key, "err", err)
			}
		}
		o.ckMu.RUnlock()
		o.dirty.Store(true)
		if !c.noPunch.Load() {
			for _, b := range blocks {
				off, n := o.v.BlockRange(b)
				if err := punch(o.data, off, n); err != nil {
					if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
						c.noPunch.Store(true)
						c.logOnce("punch", "cache: the filesystem cannot punch holes; evicting whole objects instead", "dir", c.dir)
						break
					}
					c.logOnce("punch:"+err.Error(), "cache: punching a hole failed", "key", o.v.Key, "err", err)
				}
			}
		}
		rel()
	case errors.Is(err, errNoFiles) || errors.Is(err, os.ErrClosed):
	default:
		c.logOnce("evict", "cache: cannot open files to evict", "key", o.v.Key, "err", err)
	}
	o.mu.Lock()
	for _, b := range blocks {
		if o.state[b]&stMask == stEvicting {
			o.state[b] = stAbsent
			o.nBusy--
		}
	}
	empty := o.nPresent == 0 && o.nBusy == 0
	o.mu.Unlock()
	if empty {
		o.deleteIfEmpty()
	}
}

func punch(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	if err := rc.Control(func(fd uintptr) {
		perr = unix.Fallocate(int(fd), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}); err != nil {
		return err
	}
	return perr
}

// deleteIfEmpty deletes the files of an object that has no block left.
func (o *Object) deleteIfEmpty() {
	o.fileMu.Lock()
	defer o.fileMu.Unlock()
	o.mu.Lock()
	empty := o.nPresent == 0 && o.nBusy == 0
	o.mu.Unlock()
	if empty && !o.c.closed.Load() {
		o.deleteFilesLocked()
	}
}

// deleteFilesLocked closes and deletes the files. fileMu held exclusively.
func (o *Object) deleteFilesLocked() {
	wasOpen := o.data != nil || o.log != nil
	if o.data != nil {
		o.data.Close()
		o.data = nil
	}
	if o.log != nil {
		o.log.Close()
		o.log = nil
	}
	if o.onDisk {
		o.c.remove(o.ckptPath) // first: a data file alone is an orphan
		o.c.remove(o.dataPath)
		o.onDisk = false
	}
	o.mu.Lock()
	o.gen++
	o.mu.Unlock()
	o.dirty.Store(false)
	if wasOpen {
		o.c.closedFiles(o)
	}
}

// sync makes the object's writes durable: data first, then the
// checkpoint; and compacts the checkpoint when it is mostly garbage.
func (o *Object) sync() error {
	o.fileMu.RLock()
	defer o.fileMu.RUnlock()
	if o.data == nil {
		return nil
	}
	if o.dirty.Swap(false) {
		if err := durable.Fdatasync(o.data); err != nil {
			o.dirty.Store(true)
			return err
		}
		if o.log != nil {
			if err := o.log.Sync(); err != nil {
				o.dirty.Store(true)
				return err
			}
		}
	}
	if o.log == nil {
		return nil
	}
	o.mu.Lock()
	live := o.nPresent
	o.mu.Unlock()
	if o.log.Records() <= 2*live+compactSlack {
		return nil
	}
	o.ckMu.Lock()
	defer o.ckMu.Unlock()
	snap := o.snapshot()
	// Data of every listed block first, so the compacted file, durable at
	// once, lists no block whose data is still only in memory.
	if err := durable.Fdatasync(o.data); err != nil {
		return err
	}
	return o.log.Compact(snap)
}

// closeFiles syncs and closes the files (they are reopened on demand).
// The checkpoint is compacted if it holds garbage and final is set (at
// Close), or if it is mostly garbage.
func (o *Object) closeFiles(final bool) error {
	o.fileMu.Lock()
	defer o.fileMu.Unlock()
	return o.closeFilesLocked(final)
}

// closeFilesIfUnused closes the files like closeFiles, unless a read or a
// write holds them now (closed is then false, and nothing waits).
func (o *Object) closeFilesIfUnused() (closed bool, err error) {
	if !o.fileMu.TryLock() {
		return false, nil
	}
	defer o.fileMu.Unlock()
	return true, o.closeFilesLocked(false)
}

// closeFilesLocked is closeFiles with fileMu held exclusively.
func (o *Object) closeFilesLocked(final bool) error {
	if o.data == nil && o.log == nil {
		return nil
	}
	var errs []error
	if o.data != nil && o.dirty.Load() {
		errs = append(errs, durable.Fdatasync(o.data))
	}
	if o.log != nil {
		// No append can run: they hold fileMu shared.
		snap := o.snapshot()
		if r := o.log.Records(); r > len(snap) && (final || r > 2*len(snap)+compactSlack) {
			errs = append(errs, o.log.Compact(snap))
		} else if o.dirty.Load() {
			errs = append(errs, o.log.Sync())
		}
		errs = append(errs, o.log.Close())
		o.log = nil
	}
	if o.data != nil {
		errs = append(errs, o.data.Close())
		o.data = nil
	}
	o.dirty.Store(false)
	o.c.closedFiles(o)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blockcache: closing %s: %w", o.ckptPath, err)
	}
	return nil
}
