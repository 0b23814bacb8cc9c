package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/control"
)

// created are the paths a mount creates before it is live: the cache dir
// (with any parents it had to create) and, in a cache dir that existed,
// the default log file. An explicit log_file= stays: the user asked for it
// and it says why the mount failed.
type created struct{ paths []string }

func noteCreated(cfg *config.Config) *created {
	c := &created{}
	if top := firstMissing(cfg.CacheDir); top != "" {
		c.paths = append(c.paths, top)
	} else if cfg.LogFile == "" {
		logFile := filepath.Join(cfg.CacheDir, "ossmount.log")
		if _, err := os.Lstat(logFile); errors.Is(err, os.ErrNotExist) {
			c.paths = append(c.paths, logFile)
		}
	}
	return c
}

// remove deletes what was noted as created by this run.
func (c *created) remove() {
	for _, p := range c.paths {
		_ = os.RemoveAll(p)
	}
}

// firstMissing returns the topmost directory of dir's path that does not
// exist (dir itself if only it is missing), or "" if dir exists or cannot
// be checked.
func firstMissing(dir string) string {
	missing := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := os.Lstat(d)
		if err == nil {
			return missing
		}
		if !errors.Is(err, os.ErrNotExist) || d == filepath.Dir(d) {
			return ""
		}
		missing = d
	}
}

// prepareMountpoint checks the mountpoint and clears a dead FUSE mount a
// crashed daemon left there ("Transport endpoint is not connected").
//
// The probe is statfs, not stat: FUSE always sends statfs to the daemon, while
// stat of a dead mount's root succeeds from the kernel's attribute cache until
// the attributes time out.
func prepareMountpoint(mp string, nonempty bool) error {
	var sfs syscall.Statfs_t
	err := syscall.Statfs(mp, &sfs)
	if errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) {
		slog.Warn("replacing a dead mount left by a crashed daemon", "mountpoint", mp)
		if uerr := syscall.Unmount(mp, syscall.MNT_DETACH); uerr != nil {
			return fmt.Errorf("mountpoint %s has a dead mount that cannot be removed: %v", mp, uerr)
		}
	}
	_, err = os.Stat(mp)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mountpoint %s does not exist", mp)
	}
	if err != nil {
		return fmt.Errorf("mountpoint %s: %v", mp, err)
	}
	if mounted, err := isMountpoint(mp); err == nil && mounted {
		return fmt.Errorf("mountpoint %s is already mounted", mp)
	}
	f, err := os.Open(mp)
	if err != nil {
		return fmt.Errorf("mountpoint %s: %v", mp, err)
	}
	defer f.Close()
	if st, _ := f.Stat(); st != nil && !st.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	if !nonempty {
		if names, _ := f.Readdirnames(1); len(names) > 0 {
			return fmt.Errorf("mountpoint %s is not empty (use -o nonempty to mount over it)", mp)
		}
	}
	return nil
}

// isMountpoint reports whether mp is the mount point of a mounted filesystem.
func isMountpoint(mp string) (bool, error) {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return false, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == abs {
			return true, nil
		}
	}
	return false, nil
}

func unescapeMountinfo(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// cacheDirInUse fails when a running ossmount daemon serves dir.
func cacheDirInUse(dir string) error {
	c, err := control.Dial(control.SocketPath(dir))
	if err != nil {
		return nil // no daemon answers; the cache lock has the last word
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	what := "another ossmount process"
	if snap, err := c.Stats(ctx); err == nil {
		what = fmt.Sprintf("the ossmount mount of %s on %s", snap.Source, snap.Mountpoint)
	}
	return fmt.Errorf("cache_dir %s is in use by %s; give each mount its own cache_dir=", dir, what)
}
