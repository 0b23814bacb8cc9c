package blockcache

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/checkpoint"
)

// checkDir makes sure dir is a real directory that only we (or root) can
// write, creating it 0700 if it is missing and create is set.
func checkDir(dir string, create bool) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("blockcache: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("blockcache: %s is a symbolic link; give the real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("blockcache: %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("blockcache: %s is writable by group or others (mode %04o); chmod go-w it", dir, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("blockcache: %s is owned by uid %d, not by this user (uid %d) or root", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// ownDir makes sure dir (one of ours) exists, is a directory and is 0700.
func ownDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blockcache: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("blockcache: %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("blockcache: %w", err)
		}
	}
	return nil
}

// lockDir takes an exclusive flock on dir/lock, waiting up to wait for a
// previous process (one still flushing at unmount) to let go.
func lockDir(dir string, wait time.Duration, log *slog.Logger) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blockcache: %w", err)
	}
	deadline := time.Now().Add(wait)
	for waited := false; ; waited = true {
		var lerr error
		if err := rc.Control(func(fd uintptr) { lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) }); err != nil {
			lerr = err
		}
		switch {
		case lerr == nil:
			return f, nil
		case !errors.Is(lerr, unix.EWOULDBLOCK):
			f.Close()
			return nil, fmt.Errorf("blockcache: locking %s: %w", dir, lerr)
		case time.Now().After(deadline):
			f.Close()
			return nil, fmt.Errorf("blockcache: %s is in use by another ossmount process", dir)
		case !waited:
			log.Info("cache directory is locked by another process; waiting", "dir", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// scanned is one checkpoint found by scan.
type scanned struct {
	id, ckpt, data string
	mtime          time.Time
	v              checkpoint.Version
	blocks         map[int]uint64
}

// scan loads every valid checkpoint under objDir (see Open).
func (c *Cache) scan() error {
	shards, err := os.ReadDir(c.objDir)
	if err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	var found []*scanned
	datas := map[string]string{}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		shDir := filepath.Join(c.objDir, sh.Name())
		ents, err := os.ReadDir(shDir)
		if err != nil {
			c.log.Warn("cache: cannot read a shard directory", "dir", shDir, "err", err)
			continue
		}
		for _, e := range ents {
			name, p := e.Name(), filepath.Join(shDir, e.Name())
			id, ext, _ := strings.Cut(name, ".")
			switch {
			case strings.Contains(name, ".tmp"):
				c.remove(p)
			case !e.Type().IsRegular() || !isID(id) || id[:2] != sh.Name():
			case ext == "ckpt":
				found = append(found, &scanned{id: id, ckpt: p})
			case ext == "data":
				datas[id] = p
			}
		}
	}
	var g errgroup.Group
	g.SetLimit(max(4, runtime.GOMAXPROCS(0)))
	for _, s := range found {
		s.data = datas[s.id]
		g.Go(func() error { c.validate(s); return nil })
	}
	g.Wait()
	valid := found[:0]
	for _, s := range found {
		if s.blocks != nil {
			valid = append(valid, s)
			delete(datas, s.id)
		}
	}
	for _, p := range datas {
		c.remove(p) // orphan: no valid checkpoint
	}
	slices.SortStableFunc(valid, func(a, b *scanned) int { return a.mtime.Compare(b.mtime) })

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range valid {
		o := c.newObjectLocked(s.v, s.id)
		o.onDisk = true
		o.alloc()
		idx := make([]int, 0, len(s.blocks))
		for b := range s.blocks {
			idx = append(idx, b)
		}
		slices.Sort(idx)
		for _, b := range idx {
			_, n := s.v.BlockRange(b)
			o.state[b] = stPresent // not verified: checked on first read
			o.crc[b] = s.blocks[b]
			o.nPresent++
			o.presentBytes += n
			c.addLocked(o, b, n)
		}
	}
	if len(valid) > 0 {
		c.log.Info("cache loaded", "dir", c.dir, "objects", len(valid), "blocks", c.lru.Len(), "bytes", c.used)
	}
	return nil
}

// validate loads one checkpoint; it leaves s.blocks nil (and deletes the
// files) unless the checkpoint is valid and lists at least one block.
func (c *Cache) validate(s *scanned) {
	discard := func() {
		c.remove(s.ckpt)
		if s.data != "" {
			c.remove(s.data)
		}
	}
	fi, err := os.Stat(s.ckpt)
	if err == nil {
		s.mtime = fi.ModTime()
		s.v, err = checkpoint.ReadHeader(s.ckpt)
	}
	if err == nil && s.v.ID() != s.id {
		err = fmt.Errorf("%w: header does not match the file name", checkpoint.ErrCorrupt)
	}
	var blocks map[int]uint64
	if err == nil {
		var l *checkpoint.Log
		l, blocks, err = checkpoint.Load(s.ckpt, s.v)
		if err == nil {
			l.Close()
		}
	}
	if err != nil {
		c.log.Warn("cache: discarding a damaged checkpoint and its blocks", "file", s.ckpt, "err", err)
		discard()
		return
	}
	if s.data == "" || len(blocks) == 0 {
		discard() // nothing usable
		return
	}
	s.blocks = blocks
}

func (c *Cache) remove(p string) {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.logOnce("remove", "cache: cannot delete a file", "file", p, "err", err)
	}
}
