package main

// The operator's subcommands: stats, warm and cache. They talk to a running
// daemon through its control socket (package control); `cache` also works
// on a cache directory no daemon holds, by opening it itself.
//
// stats, warm and cache are always subcommands when they are the first
// argument: a subcommand never mounts, creates or logs anything, so a
// mistyped path gets "PATH is not inside an ossmount mount" rather than a
// mount attempt of a bucket named "stats". A bucket with such a name is
// mounted as "stats:/" (the BUCKET:/ form of the whole bucket), which works
// in fstab too.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/control"
)

const subcommandUsage = `Usage:
  ossmount stats [--json] MOUNTPOINT
  ossmount warm PATH...
  ossmount cache du     [--json] [--cache-dir DIR | MOUNTPOINT]
  ossmount cache verify [--json] [--cache-dir DIR | MOUNTPOINT]
  ossmount cache clear  [--key KEY] [--cache-dir DIR | MOUNTPOINT]
`

// cacheVerbs are the verbs of `ossmount cache`.
var cacheVerbs = []string{"du", "verify", "clear"}

// runSubcommand runs `ossmount stats|warm|cache ...` when args name one, and
// reports whether it did; otherwise args are a mount command line.
func runSubcommand(args []string) (exitCode int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	if sub := args[0]; sub == "stats" || sub == "warm" || sub == "cache" {
		if looksLikeMount(args[1:]) {
			return subFail(fmt.Errorf("%s is a subcommand, not a bucket name; to mount a bucket named %q, write it as %s:/", sub, sub, sub)), true
		}
	}
	switch args[0] {
	case "stats":
		return cmdStats(args[1:]), true
	case "warm":
		return cmdWarm(args[1:]), true
	case "cache":
		if len(args) < 2 || !slices.Contains(cacheVerbs, args[1]) {
			verb := ""
			if len(args) > 1 {
				verb = fmt.Sprintf(" %q", args[1])
			}
			return usageFail(fmt.Errorf("unknown cache command%s: use one of %s", verb, strings.Join(cacheVerbs, ", "))), true
		}
		return cmdCache(args[1], args[2:]), true
	}
	return 0, false
}

// looksLikeMount reports whether a subcommand's arguments look like a
// mount command line instead: -o OPTIONS, as mount.fuse3 passes for an
// fstab line whose source is "stats".
func looksLikeMount(args []string) bool {
	return slices.Contains(args, "-o")
}

// subFlags is a flag set that reports errors as one ossmount line.
func subFlags(name string) *flag.FlagSet {
	fl := flag.NewFlagSet("ossmount "+name, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	return fl
}

// subFail prints one error line and returns the exit status for it.
func subFail(err error) int {
	fmt.Fprintf(os.Stderr, "ossmount: %s\n", oneLine(err))
	return 1
}

func usageFail(err error) int {
	fmt.Fprintf(os.Stderr, "ossmount: %s\n%s", oneLine(err), subcommandUsage)
	return 2
}

// daemonOf finds the mount holding path and dials its daemon.
func daemonOf(path string) (c *control.Client, root, rel string, err error) {
	root, rel, socket, err := control.FindMount(path)
	if err != nil {
		return nil, "", "", err
	}
	c, err = control.Dial(socket)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s is an ossmount mount, but its daemon does not answer on %s: %w", root, socket, err)
	}
	return c, root, rel, nil
}

func cmdStats(args []string) int {
	fl := subFlags("stats")
	asJSON := fl.Bool("json", false, "")
	if err := fl.Parse(interleave(args)); err != nil {
		return usageFail(err)
	}
	if fl.NArg() != 1 {
		return usageFail(errors.New("stats takes one MOUNTPOINT"))
	}
	c, _, _, err := daemonOf(fl.Arg(0))
	if err != nil {
		return subFail(err)
	}
	snap, err := c.Stats(context.Background())
	if err != nil {
		return subFail(err)
	}
	if *asJSON {
		return printJSON(snap)
	}
	fmt.Print(snap.Format())
	return 0
}

func printJSON(v any) int {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return subFail(err)
	}
	return 0
}

// interleave moves flags before positional arguments so the flag package
// accepts "stats /mnt --json" as well as "stats --json /mnt".
func interleave(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case (a == "--key" || a == "--cache-dir") && i+1 < len(args):
			flags = append(flags, a, args[i+1])
			i++
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
		default:
			pos = append(pos, a)
		}
	}
	return append(append(flags, "--"), pos...)
}

func cmdWarm(args []string) int {
	fl := subFlags("warm")
	if err := fl.Parse(interleave(args)); err != nil {
		return usageFail(err)
	}
	if fl.NArg() == 0 {
		return usageFail(errors.New("warm takes one or more PATHs inside a mount"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// One request per mount, in the order the mounts first appear.
	type batch struct {
		client *control.Client
		root   string
		rels   []string
	}
	var batches []*batch
	byRoot := map[string]*batch{}
	for _, p := range fl.Args() {
		c, root, rel, err := daemonOf(p)
		if err != nil {
			return subFail(err)
		}
		b := byRoot[root]
		if b == nil {
			b = &batch{client: c, root: root}
			byRoot[root] = b
			batches = append(batches, b)
		}
		b.rels = append(b.rels, rel)
	}
	var sum warmProgress
	start := time.Now()
	for _, b := range batches {
		show := newWarmProgress(b.root)
		err := b.client.Warm(ctx, b.rels, show.event)
		show.finish()
		sum.files += show.files
		sum.total += show.total
		sum.done += show.done
		sum.cached += show.cached
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "ossmount: warm stopped; the %s fetched so far stay cached\n", control.Bytes(sum.done-sum.cached))
			return 130
		}
		if err != nil {
			return subFail(err)
		}
	}
	fmt.Fprintln(os.Stderr, sum.summary(time.Since(start)))
	return 0
}

// warmProgress shows a warm's progress: a bar with bytes, rate, ETA and the
// current file on a terminal at least minBarColumns wide; else a plain line
// at most every few seconds (logs of cron jobs stay short; a terminal that
// reports no width, as some consoles and CI ptys do, gets lines too).
// Bytes already cached are counted apart: the rate and ETA are those of
// the bytes fetched.
type warmProgress struct {
	root         string
	bar          *progressbar.ProgressBar
	columns      int
	files        int
	total        int64 // bytes of the files to warm
	done, cached int64 // bytes done, and of those already cached
	start        time.Time
	lastPrint    time.Time
}

// minBarColumns: narrower terminals get plain lines.
const minBarColumns = 40

func newWarmProgress(root string) *warmProgress {
	return &warmProgress{root: root, start: time.Now()}
}

func (w *warmProgress) event(ev control.WarmEvent) {
	if ev.Files != nil || (ev.Total > 0 && w.total == 0) {
		w.files, w.total = len(ev.Files), ev.Total
		fmt.Fprintf(os.Stderr, "warming %s, %s, under %s\n", control.Count(w.files, "file"), control.Bytes(ev.Total), w.root)
		if cols, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && cols >= minBarColumns {
			w.columns = cols
			w.bar = progressbar.NewOptions64(ev.Total,
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(), progressbar.OptionShowTotalBytes(true), progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetElapsedTime(true), progressbar.OptionFullWidth(),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionUseIECUnits(true),
				progressbar.OptionShowDescriptionAtLineEnd())
			if len(ev.Files) > 0 {
				w.bar.Describe(shorten(ev.Files[0].Path, w.columns/3))
			}
		}
		return
	}
	w.done, w.cached = ev.Done, ev.Cached
	fetched := ev.Done - ev.Cached
	if w.bar != nil {
		// The bar counts fetched bytes against what is left to fetch.
		w.bar.ChangeMax64(max(w.total-ev.Cached, 1))
		if ev.Path != "" {
			w.bar.Describe(shorten(ev.Path, w.columns/3))
		}
		_ = w.bar.Set64(fetched)
		return
	}
	if now := time.Now(); now.Sub(w.lastPrint) >= 2*time.Second || ev.End {
		w.lastPrint = now
		rate := float64(fetched) / max(now.Sub(w.start).Seconds(), 1e-3)
		eta := "?"
		if rate > 0 {
			eta = (time.Duration(float64(w.total-ev.Done)/rate) * time.Second).Round(time.Second).String()
		}
		pct := 100.0
		if w.total > 0 {
			pct = 100 * float64(ev.Done) / float64(w.total)
		}
		fmt.Fprintf(os.Stderr, "warm: %s of %s (%.0f%%): %s fetched, %s/s, %s cached already, ETA %s %s\n",
			control.Bytes(ev.Done), control.Bytes(w.total), pct, control.Bytes(fetched), control.Bytes(int64(rate)),
			control.Bytes(ev.Cached), eta, ev.Path)
	}
}

func (w *warmProgress) finish() {
	if w.bar != nil {
		_ = w.bar.Exit()
		fmt.Fprintln(os.Stderr)
	}
}

// summary is the last line of a warm that took elapsed.
func (w *warmProgress) summary(elapsed time.Duration) string {
	fetched := w.done - w.cached
	head := fmt.Sprintf("warmed %s, %s", control.Count(w.files, "file"), control.Bytes(w.done))
	if fetched == 0 {
		return head + ": all of it was cached already, nothing fetched"
	}
	secs := max(elapsed.Seconds(), 1e-3)
	line := fmt.Sprintf("%s: fetched %s in %.1fs (%s/s)", head,
		control.Bytes(fetched), elapsed.Seconds(), control.Bytes(int64(float64(fetched)/secs)))
	if w.cached > 0 {
		line += fmt.Sprintf(", %s were cached already", control.Bytes(w.cached))
	}
	return line
}

// shorten keeps the end of p (the file name) within n columns.
func shorten(p string, n int) string {
	if r := []rune(p); len(r) > n && n > 1 {
		return "…" + string(r[len(r)-n+1:])
	}
	return p
}

// cacheTarget is a cache dir reached through its daemon or opened here.
type cacheTarget struct {
	dir    string
	client *control.Client   // the daemon owning dir, if one runs
	cache  *blockcache.Cache // dir opened by this command, otherwise
}

func openCacheTarget(cacheDir string, mount string) (*cacheTarget, error) {
	if mount != "" {
		c, _, _, err := daemonOf(mount)
		if err != nil {
			return nil, err
		}
		return &cacheTarget{dir: mount, client: c}, nil
	}
	if cacheDir == "" {
		cacheDir = config.DefaultCacheDir(os.Getenv)
		if cacheDir == "" {
			return nil, errors.New("no cache dir: give --cache-dir DIR")
		}
	}
	dir, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, err
	}
	if c, err := control.Dial(control.SocketPath(dir)); err == nil {
		return &cacheTarget{dir: dir, client: c}, nil
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("cache dir %s is not a directory", dir)
	}
	// No daemon answers for it: open it ourselves (the cache's lock keeps
	// a daemon from starting on it meanwhile).
	cache, err := blockcache.Open(blockcache.Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	return &cacheTarget{dir: dir, cache: cache}, nil
}

func (t *cacheTarget) close() error {
	if t.cache != nil {
		return t.cache.Close()
	}
	return nil
}

func cmdCache(verb string, args []string) int {
	fl := subFlags("cache " + verb)
	asJSON := fl.Bool("json", false, "")
	cacheDir := fl.String("cache-dir", "", "")
	key := fl.String("key", "", "")
	if err := fl.Parse(interleave(args)); err != nil {
		return usageFail(err)
	}
	if fl.NArg() > 1 || (fl.NArg() == 1 && *cacheDir != "") {
		return usageFail(errors.New("give either --cache-dir DIR or one MOUNTPOINT"))
	}
	if *key != "" && verb != "clear" {
		return usageFail(fmt.Errorf("--key is an option of cache clear, not cache %s", verb))
	}
	t, err := openCacheTarget(*cacheDir, fl.Arg(0))
	if err != nil {
		return subFail(err)
	}
	code := 0
	switch verb {
	case "du":
		code = cacheDu(t, *asJSON)
	case "verify":
		code = cacheVerify(t, *asJSON)
	case "clear":
		code = cacheClear(t, *key, *asJSON)
	}
	if err := t.close(); err != nil && code == 0 {
		return subFail(err)
	}
	return code
}

func cacheDu(t *cacheTarget, asJSON bool) int {
	var usage []control.CachedObject
	if t.client != nil {
		var err error
		if usage, err = t.client.Usage(context.Background()); err != nil {
			return subFail(err)
		}
	} else {
		usage = control.UsageOf(t.cache.Usage())
	}
	if asJSON {
		if usage == nil {
			usage = []control.CachedObject{}
		}
		return printJSON(usage)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%10s\t%10s\t%4s\tBUCKET\tKEY\tETAG\tVERSION\n", "CACHED", "SIZE", "%")
	var cached, size int64
	for _, u := range usage {
		pct := 100.0
		if u.Size > 0 {
			pct = 100 * float64(u.CachedBytes) / float64(u.Size)
		}
		fmt.Fprintf(tw, "%10s\t%10s\t%4.0f\t%s\t%s\t%s\t%s\n", control.Bytes(u.CachedBytes), control.Bytes(u.Size), pct,
			u.Bucket, quoteKey(u.Key), u.ETag, u.ID)
		cached += u.CachedBytes
		size += u.Size
	}
	_ = tw.Flush()
	fmt.Printf("total: %s cached of %s in %s (%s)\n", control.Bytes(cached), control.Bytes(size), control.Count(len(usage), "object"), t.dir)
	return 0
}

// quoteKey shows a key on one line even if it holds control characters.
func quoteKey(k string) string {
	for _, r := range k {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return fmt.Sprintf("%q", k)
		}
	}
	return k
}

func cacheVerify(t *cacheTarget, asJSON bool) int {
	var rep control.VerifyReport
	var err error
	if !asJSON {
		fmt.Fprintf(os.Stderr, "verifying every cached block in %s ...\n", t.dir)
	}
	if t.client != nil {
		rep, err = t.client.Verify(context.Background())
	} else {
		last := time.Now()
		var r blockcache.VerifyReport
		r, err = t.cache.Verify(func(checked int64) {
			if !asJSON && time.Since(last) >= 2*time.Second {
				last = time.Now()
				fmt.Fprintf(os.Stderr, "verify: %s checked\n", control.Bytes(checked))
			}
		})
		rep = control.VerifyReportOf(r)
	}
	if err != nil {
		return subFail(err)
	}
	code := 0
	if len(rep.Bad) > 0 {
		code = 1
	}
	if asJSON {
		if rep.Bad == nil {
			rep.Bad = []control.BadBlock{}
		}
		if c := printJSON(rep); c != 0 {
			return c
		}
		return code
	}
	for _, b := range rep.Bad {
		fmt.Printf("bad block: %s block %d (etag %s): dropped, it will be fetched again\n", quoteKey(b.Key), b.Block, b.ETag)
	}
	fmt.Printf("checked %s (%s) of %s: %d bad\n", control.Count(rep.Blocks, "block"), control.Bytes(rep.Bytes), control.Count(rep.Objects, "object"), len(rep.Bad))
	return code
}

func cacheClear(t *cacheTarget, key string, asJSON bool) int {
	var res control.ClearResult
	if t.client != nil {
		var err error
		if res, err = t.client.Clear(context.Background(), key); err != nil {
			return subFail(err)
		}
	} else {
		res.Objects, res.Bytes = t.cache.Clear("", key)
	}
	if asJSON {
		if c := printJSON(res); c != 0 || key == "" || res.Objects > 0 {
			return c
		}
		return 1
	}
	if key != "" && res.Objects == 0 {
		fmt.Fprintf(os.Stderr, "ossmount: nothing cached for key %s in %s (a key is the object's name in the bucket, e.g. data/file.bin, not a path under the mountpoint; see ossmount cache du)\n", quoteKey(key), t.dir)
		return 1
	}
	what := "everything"
	if key != "" {
		what = quoteKey(key)
	}
	fmt.Printf("cleared %s: %s, %s\n", what, control.Count(res.Objects, "object version"), control.Bytes(res.Bytes))
	return 0
}

// quietLogger logs only warnings and errors, to stderr: a cache opened by a
// subcommand should not narrate its housekeeping.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
