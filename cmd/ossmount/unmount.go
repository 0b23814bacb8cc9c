package main

import (
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/fetcher"
)

// unmountRetry is how often a busy mount is tried again after a signal.
const unmountRetry = 200 * time.Millisecond

// unmountOnSignal unmounts on the first signal: at once if nothing uses
// the mount, else as soon as the last open file (or working directory) in
// it goes, trying again every unmountRetry; the files stay readable
// meanwhile. A second signal detaches the mount lazily (umount -l): it
// leaves the namespace at once, the files open in it are still served,
// and the daemon exits when the last one closes. served is closed once
// the mount is gone (server.Wait returned).
func unmountOnSignal(sigs <-chan os.Signal, served <-chan struct{}, server *fuse.Server, mountpoint string, log *slog.Logger) {
	var s os.Signal
	select {
	case s = <-sigs:
	case <-served:
		return
	}
	log.Info("signal: unmounting", "signal", s.String())
	if err := server.Unmount(); err == nil {
		return
	}
	log.Warn("mount busy: unmounting as soon as its open files are closed (a second signal detaches it now)",
		"signal", s.String(), "mountpoint", mountpoint)
	t := time.NewTicker(unmountRetry)
	defer t.Stop()
	for {
		select {
		case <-served:
			return
		case s = <-sigs:
			log.Info("signal: detaching the busy mount (lazy unmount)", "signal", s.String())
			if err := lazyUnmount(mountpoint); err != nil {
				log.Error("lazy unmount failed", "err", err)
				continue
			}
			// Detached: the path may get another mount, which is not
			// ours to unmount; wait for the open files to close.
			t.Stop()
		case <-t.C:
			if tryUnmount(server, mountpoint) == nil {
				return
			}
		}
	}
}

// tryUnmount makes one attempt to unmount: umount(2) as root, else
// fusermount3 -u (through go-fuse, which tries a few times).
func tryUnmount(server *fuse.Server, mountpoint string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(mountpoint, 0)
	}
	return server.Unmount()
}

// lazyUnmount detaches the mount from the namespace (umount -l).
func lazyUnmount(mountpoint string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(mountpoint, syscall.MNT_DETACH)
	}
	return exec.Command("fusermount3", "-u", "-z", mountpoint).Run()
}

// serve serves the mount until it is unmounted (by fusermount -u, or by a
// signal: unmountOnSignal), then stops the control socket, the fetches and
// the cache, in that order.
func serve(server *fuse.Server, mountpoint string, stopControl func(), fetch *fetcher.Fetcher, cache *blockcache.Cache, log *slog.Logger) {
	served := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go unmountOnSignal(sigs, served, server, mountpoint, log)
	server.Wait()
	close(served)
	signal.Stop(sigs)
	stopControl() // no warm may run while the cache closes
	fetch.Close()
	if err := cache.Close(); err != nil {
		log.Error("flushing cache checkpoints", "err", err)
	}
}
