package csi

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
)

const usage = `Usage:
  ossmount csi --endpoint unix:///PATH/csi.sock --node-id NODE [--cache-root DIR] [--state-dir DIR]
               [--metrics-addr HOST:PORT] [--log-level debug|info|warn|error]

Serves ossmount's CSI driver (` + DriverName + `); see docs/csi.md.
`

// IsCommandLine reports whether args (after "csi") are the CSI command's.
// "ossmount csi ..." could also mount a bucket named csi: it is the CSI
// command only with --node-id, --help, or an --endpoint that is a unix
// socket (a mount's --endpoint is an OSS URL).
func IsCommandLine(args []string) bool {
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

// Main runs `ossmount csi ARGS...` until SIGTERM or SIGINT and returns the
// exit status. version is the binary's.
func Main(args []string, version string) int {
	fl := flag.NewFlagSet("ossmount csi", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	opts := Options{Version: version}
	fl.StringVar(&opts.Endpoint, "endpoint", "", "")
	fl.StringVar(&opts.NodeID, "node-id", "", "")
	fl.StringVar(&opts.CacheRoot, "cache-root", DefaultCacheRoot, "")
	fl.StringVar(&opts.StateDir, "state-dir", DefaultStateDir, "")
	fl.StringVar(&opts.MetricsAddr, "metrics-addr", "", "")
	fl.StringVar(&opts.Ossmount, "ossmount", "", "")
	level := fl.String("log-level", "info", "")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "ossmount csi: %s\n", strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " "))
		if code == 2 {
			fmt.Fprint(os.Stderr, usage)
		}
		return code
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(usage)
			return 0
		}
		return fail(2, "%v", err)
	}
	if fl.NArg() > 0 || opts.Endpoint == "" || opts.NodeID == "" {
		return fail(2, "--endpoint and --node-id are required, and nothing else")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fail(2, "--log-level %q: must be debug, info, warn or error", *level)
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	d, err := New(opts)
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err = d.Run(ctx)
	}
	if err != nil {
		return fail(1, "%v", err)
	}
	return 0
}
