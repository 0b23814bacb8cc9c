package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/control"
	"github.com/ossmount/ossmount/credsource"
	"github.com/ossmount/ossmount/fetcher"
	ossstore "github.com/ossmount/ossmount/store/oss"
	"github.com/ossmount/ossmount/vfs"
)

// startControl starts the daemon's control endpoint (stats, warm, cache
// commands) and, with metrics_addr, the Prometheus listener; the returned
// func stops them. It runs before the mount so a taken metrics port fails
// the mount command with one line rather than after the mount is live.
func startControl(cfg *config.Config, source string, store *ossstore.Store, core *vfs.FS, fetch *fetcher.Fetcher, cache *blockcache.Cache, creds credsource.Provider, cacheWarning string, log *slog.Logger) (stop func(), err error) {
	srv, err := control.Start(control.SocketPath(cfg.CacheDir), cfg.MetricsAddr, &control.Daemon{
		Sources: control.Sources{
			Source: source, Mountpoint: cfg.Mountpoint, CacheDir: cfg.CacheDir, Started: time.Now(),
			Store: store, Fetcher: fetch, Cache: cache, Credentials: creds, CacheWarning: cacheWarning,
		},
		FS: core, Log: log,
	})
	if err != nil {
		return nil, err
	}
	return sync.OnceFunc(srv.Close), nil
}
