package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ossmount/ossmount/csi"
)

const csiUsage = `Usage:
  ossmount csi --endpoint unix:///PATH/csi.sock --node-id NODE [--cache-root DIR] [--state-dir DIR]
               [--metrics-addr HOST:PORT] [--log-level debug|info|warn|error]

Serves ossmount's CSI driver (` + csi.DriverName + `); see docs/csi.md.
`

// runCSI runs `ossmount csi ...` when args name it, and reports whether
// they did. "csi" could also be a bucket to mount: it is the subcommand
// only with --node-id, or with an --endpoint that is a unix socket (a
// mount's --endpoint is an OSS URL).
func runCSI(args []string) (exitCode int, ok bool) {
	if len(args) == 0 || args[0] != "csi" || !isCSICommandLine(args[1:]) {
		return 0, false
	}
	fl := flag.NewFlagSet("ossmount csi", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	var opts csi.Options
	fl.StringVar(&opts.Endpoint, "endpoint", "", "")
	fl.StringVar(&opts.NodeID, "node-id", "", "")
	fl.StringVar(&opts.CacheRoot, "cache-root", csi.DefaultCacheRoot, "")
	fl.StringVar(&opts.StateDir, "state-dir", csi.DefaultStateDir, "")
	fl.StringVar(&opts.MetricsAddr, "metrics-addr", "", "")
	fl.StringVar(&opts.Ossmount, "ossmount", "", "")
	level := fl.String("log-level", "info", "")
	if err := fl.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(csiUsage)
			return 0, true
		}
		fmt.Fprintf(os.Stderr, "ossmount csi: %s\n%s", oneLine(err), csiUsage)
		return 2, true
	}
	if fl.NArg() > 0 || opts.Endpoint == "" || opts.NodeID == "" {
		fmt.Fprintf(os.Stderr, "ossmount csi: --endpoint and --node-id are required, and nothing else\n%s", csiUsage)
		return 2, true
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "ossmount csi: --log-level %q: must be debug, info, warn or error\n", *level)
		return 2, true
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	opts.Version = version
	d, err := csi.New(opts)
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err = d.Run(ctx)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ossmount csi: %s\n", oneLine(err))
		return 1, true
	}
	return 0, true
}

func isCSICommandLine(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--node-id" || strings.HasPrefix(a, "--node-id=") || a == "-h" || a == "--help":
			return true
		case strings.HasPrefix(a, "--endpoint=unix:"):
			return true
		case a == "--endpoint" && i+1 < len(args) && strings.HasPrefix(args[i+1], "unix:"):
			return true
		}
	}
	return false
}
