// Command ossmount mounts an Alibaba Cloud OSS bucket (or a prefix of it) as
// a read-only directory. See the README and `ossmount --help`.
//
// Daemonizing: Go cannot fork, so the command re-executes itself with
// OSSMOUNT_DAEMON=1 in a new session and waits on a pipe (fd 3) for the
// child to say "ok" once the kernel serves the mount, or why it could not.
// The parent exits 0 only after "ok", so `mount -a` and fstab see the real
// outcome; a failing child exits by itself, leaving no process or mount.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/control"
	"github.com/ossmount/ossmount/credsource"
	"github.com/ossmount/ossmount/fetcher"
	ossfs "github.com/ossmount/ossmount/fs"
	"github.com/ossmount/ossmount/store"
	ossstore "github.com/ossmount/ossmount/store/oss"
	"github.com/ossmount/ossmount/upload"
	"github.com/ossmount/ossmount/vfs"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const daemonEnv = "OSSMOUNT_DAEMON"

func main() {
	args := os.Args[1:]
	if code, ok := runCSI(args); ok {
		os.Exit(code)
	}
	if code, ok := runSubcommand(args); ok {
		os.Exit(code)
	}
	cfg, err := config.Parse(args, os.Getenv)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Print(config.Usage())
		return
	case errors.Is(err, config.ErrVersion):
		fmt.Println("ossmount", version)
		return
	case err != nil:
		fail(err)
	}
	if err := cfg.Validate(); err != nil {
		fail(err)
	}
	if !cfg.Foreground && os.Getenv(daemonEnv) == "" {
		// cfg.Args: every path made absolute, since the daemon runs in /.
		os.Exit(parent(cfg.Args()))
	}
	var ready io.WriteCloser
	if os.Getenv(daemonEnv) != "" {
		ready = os.NewFile(3, "ready")
	}
	if err := run(cfg, ready); err != nil {
		if ready != nil {
			fmt.Fprintf(ready, "error: %s\n", oneLine(err))
			ready.Close()
			os.Exit(1)
		}
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "ossmount: %s\n", oneLine(err))
	os.Exit(1)
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// parent starts the daemon and relays its verdict.
func parent(args []string) int {
	exe, err := os.Executable()
	if err != nil {
		fail(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		fail(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		fail(fmt.Errorf("starting daemon: %w", err))
	}
	w.Close()
	rd := bufio.NewReader(r)
	line, _ := rd.ReadString('\n')
	line = strings.TrimSpace(line)
	for strings.HasPrefix(line, "warning: ") {
		fmt.Fprintf(os.Stderr, "ossmount: %s\n", line)
		line, _ = rd.ReadString('\n')
		line = strings.TrimSpace(line)
	}
	if line == "ok" {
		_ = cmd.Process.Release()
		return 0
	}
	_ = cmd.Wait()
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		fmt.Fprintf(os.Stderr, "ossmount: %s\n", msg)
	} else {
		fmt.Fprintf(os.Stderr, "ossmount: daemon exited before the mount was ready (%s)\n", cmd.ProcessState)
	}
	return 1
}

// run mounts and serves until unmounted. ready (nil in the foreground) gets
// "ok" once the mount is live.
func run(cfg *config.Config, ready io.WriteCloser) (err error) {
	// A mount that fails leaves nothing behind: what this run creates
	// before it knows (the cache dir, the log in it) goes again.
	created := noteCreated(cfg)
	defer func() {
		if err != nil {
			created.remove()
		}
	}()
	log, closeLog, err := setupLogging(cfg, ready != nil)
	if err != nil {
		return err
	}
	defer closeLog()
	slog.SetDefault(log)

	credCtx, cancelCred := context.WithTimeout(context.Background(), cfg.CredentialTimeout+time.Second)
	creds, err := credsource.New(credCtx, cfg, os.Getenv, log)
	cancelCred()
	if err != nil {
		return err
	}
	defer credsource.Close(creds)
	if err := prepareMountpoint(cfg.Mountpoint, cfg.Nonempty); err != nil {
		return err
	}
	// Another daemon serving this cache dir answers on its socket: say so
	// now, rather than after the cache lock's wait for a daemon that is
	// only finishing its unmount.
	if err := cacheDirInUse(cfg.CacheDir); err != nil {
		return err
	}
	store, err := ossstore.New(ossstore.Config{
		Endpoint: cfg.Endpoint, Region: cfg.Region, Bucket: cfg.Bucket, PathStyle: cfg.PathStyle,
		Credentials: credsource.SDK(creds), Parallel: cfg.Parallel, ReadTimeout: cfg.ReadTimeout, Retries: cfg.Retries, Logger: log,
	})
	if err != nil {
		return err
	}
	empty, err := checkBucket(store, cfg)
	if err != nil {
		return err
	}
	if empty && cfg.Prefix != "" {
		warnAtMount(cfg, ready, log, fmt.Sprintf("prefix %q holds no object in bucket %q: the mount is empty until objects are put under it", cfg.Prefix, cfg.Bucket))
	}
	cache, err := blockcache.Open(blockcache.Options{Dir: cfg.CacheDir, MaxBytes: cfg.CacheSize, MinFree: cfg.MinFree, Logger: log})
	if err != nil {
		return fmt.Errorf("cache dir %s: %w", cfg.CacheDir, err)
	}
	window, cacheWarning := readaheadWindow(cfg, cache)
	if cacheWarning != "" {
		warnAtMount(cfg, ready, log, cacheWarning)
	}
	fetch := fetcher.New(store, fetcher.Config{
		PartSize: cfg.PartSize, Parallel: cfg.Parallel, Retries: cfg.Retries, ReadTimeout: cfg.ReadTimeout, Logger: log,
		MaxReadahead: window, AheadRoom: cache.AheadRoom,
	})
	core := vfs.New(vfs.Options{
		Bucket: cfg.Bucket, Prefix: cfg.Prefix, BlockSize: cfg.BlockSize, Revalidate: cfg.Revalidate,
		MetadataTTL: cfg.MetadataTTL, NegativeTTL: cfg.NegativeTTL, Logger: log,
		ControlSocket: control.SocketPath(cfg.CacheDir),
	}, store, fetch, cache)
	if cfg.ReadWrite {
		if err := enableWrites(cfg, store, core, log); err != nil {
			cache.Close()
			return err
		}
	}
	fsName := cfg.Bucket
	if cfg.Prefix != "" {
		fsName += ":/" + strings.TrimSuffix(cfg.Prefix, "/")
	}
	stopControl, err := startControl(cfg, fsName, store, core, fetch, cache, creds, cacheWarning, log)
	if err != nil {
		cache.Close()
		return err
	}
	defer stopControl()
	server, err := ossfs.Mount(cfg.Mountpoint, core, ossfs.Options{
		UID: cfg.UID, GID: cfg.GID, FileMode: cfg.FileMode, DirMode: cfg.DirMode,
		AttrTTL: cfg.MetadataTTL, NegativeTTL: cfg.NegativeTTL, FsName: fsName,
		AllowOther: cfg.AllowOther, AllowRoot: cfg.AllowRoot, DefaultPerms: cfg.DefaultPermissions, Debug: cfg.DebugFUSE,
		Passthrough: cfg.Passthrough, Logger: log,
	})
	if err != nil {
		cache.Close()
		return fmt.Errorf("mounting %s: %w", cfg.Mountpoint, err)
	}
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
		cache.Close()
		return fmt.Errorf("mounting %s: %w", cfg.Mountpoint, err)
	}
	setKernelReadahead(cfg.Mountpoint, cfg.KernelReadahead, log)
	log.Info("mounted", "source", fsName, "mountpoint", cfg.Mountpoint, "version", version, "config", cfg.String())
	if ready != nil {
		detach(ready)
	}

	serve(server, cfg.Mountpoint, stopControl, fetch, cache, log)
	log.Info("unmounted", "mountpoint", cfg.Mountpoint)
	return nil
}

// warnAtMount logs a warning about the mount and shows it to whoever
// started it: the parent prints it when the daemon detaches, and in the
// foreground it goes to stderr when the log goes elsewhere.
func warnAtMount(cfg *config.Config, ready io.Writer, log *slog.Logger, warn string) {
	log.Warn(warn)
	switch {
	case ready != nil:
		fmt.Fprintf(ready, "warning: %s\n", warn) // the parent prints it
	case cfg.LogFile != "": // in the foreground, logging elsewhere than stderr
		fmt.Fprintf(os.Stderr, "ossmount: warning: %s\n", warn)
	}
}

// detach tells the parent the mount is ready, and points the daemon's
// standard files at /dev/null: nothing may write to the terminal the
// parent came from.
func detach(ready io.WriteCloser) {
	fmt.Fprintln(ready, "ok")
	ready.Close()
	if devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		_ = syscall.Dup2(int(devnull.Fd()), 0)
		_ = syscall.Dup2(int(devnull.Fd()), 1)
		_ = syscall.Dup2(int(devnull.Fd()), 2)
	}
}

// readaheadWindow returns the readahead window cap per file: the default
// for parallel × part_size, cut to half of what the cache can hold when
// that is less than two windows (blocks read ahead are held in the cache
// until read), with a warning that says so.
func readaheadWindow(cfg *config.Config, cache *blockcache.Cache) (int64, string) {
	full := fetcher.DefaultMaxReadahead(cfg.Parallel, cfg.PartSize)
	capacity, bounded := cache.Capacity()
	window, fits := fetcher.WindowFor(full, capacity, cfg.BlockSize)
	if !bounded || fits {
		return full, ""
	}
	cut := "reads ahead are cut to " + control.Bytes(window) + " per file"
	if window < 0 {
		cut = "files are not read ahead"
	}
	return window, fmt.Sprintf("the cache can hold %s (cache_size %s, or the free space of %s less min_free %s), "+
		"less than two readahead windows of %s: %s; raise cache_size or lower min_free",
		control.Bytes(capacity), control.Bytes(cfg.CacheSize), cfg.CacheDir, control.Bytes(cfg.MinFree),
		control.Bytes(full), cut)
}

// enableWrites makes the mount writable: the upload engine, its journal in
// the cache dir (whose orphans, uploads a killed daemon left, are aborted
// now), and what the bucket's versioning means for create-only writes.
func enableWrites(cfg *config.Config, store *ossstore.Store, core *vfs.FS, log *slog.Logger) error {
	journal, err := upload.OpenJournal(vfs.JournalDir(cfg.CacheDir), log)
	if err != nil {
		return err
	}
	engine := upload.New(store, upload.Options{PartSize: cfg.UploadPartSize, Parallel: cfg.UploadParallel, Journal: journal, Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch n, others, err := engine.AbortOrphans(ctx, cfg.Prefix); {
	case err != nil:
		log.Warn("cannot abort the uploads a previous mount left unfinished; the next mount tries again", "err", err)
	default:
		if n > 0 {
			log.Info("aborted uploads a previous mount left unfinished", "count", n)
		}
		if others > 0 {
			log.Info("multipart uploads in progress under the mounted prefix that this cache dir did not start: left alone (an OSS lifecycle rule can expire unfinished uploads)", "count", others)
		}
	}
	switch status, err := store.Versioning(ctx); {
	case err != nil:
		log.Debug("bucket versioning status unknown", "err", err)
	case status == "Enabled":
		log.Warn("bucket versioning is enabled: OSS ignores forbid-overwrite there, so a file created under a key someone else created meanwhile becomes its newest version (the other stays as a noncurrent version) instead of failing with EEXIST")
	}
	// Written files are seeded into the cache from a spool file, copied
	// at close: up to a quarter of the cache, 1 GiB at most.
	seed := int64(1 << 30)
	if cfg.CacheSize > 0 {
		seed = min(seed, cfg.CacheSize/4)
	}
	core.EnableWrites(vfs.WriteConfig{Store: store, Engine: engine, AllowOverwrite: cfg.AllowOverwrite, AllowDelete: cfg.AllowDelete,
		SpoolDir: vfs.SpoolDir(cfg.CacheDir), SeedLimit: seed})
	return nil
}

// setKernelReadahead sets the mount's readahead in the kernel (its backing
// device info's read_ahead_kb). FUSE mounts start at 128 KiB, which cuts
// sequential reads into small FUSE requests with few of them in flight.
// Only root may write it; anyone else keeps the kernel's value.
func setKernelReadahead(mountpoint string, bytes int64, log *slog.Logger) {
	if bytes <= 0 {
		return
	}
	var st syscall.Stat_t
	if err := syscall.Stat(mountpoint, &st); err != nil {
		log.Warn("kernel_readahead: cannot stat the mountpoint", "err", err)
		return
	}
	dev := uint64(st.Dev)
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(dev), unix.Minor(dev))
	if err := os.WriteFile(p, []byte(strconv.FormatInt(bytes>>10, 10)), 0); err != nil {
		log.Info("kernel_readahead not set; the kernel's default stays", "file", p, "err", err)
		return
	}
	log.Debug("kernel readahead set", "file", p, "kib", bytes>>10)
}

func setupLogging(cfg *config.Config, daemon bool) (*slog.Logger, func(), error) {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	switch {
	case cfg.LogFile != "":
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		return slog.New(slog.NewTextHandler(f, opts)), func() { f.Close() }, nil
	case daemon:
		if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "ossmount"); err == nil {
			return slog.New(slog.NewTextHandler(w, opts)), func() { w.Close() }, nil
		}
		// No syslog socket (containers): keep the log next to the cache.
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("cache dir %s: %w", cfg.CacheDir, err)
		}
		f, err := os.OpenFile(filepath.Join(cfg.CacheDir, "ossmount.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		return slog.New(slog.NewTextHandler(f, opts)), func() { f.Close() }, nil
	default:
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), func() {}, nil
	}
}

// checkBucket makes one listing request so that a wrong endpoint, bucket or
// credential fails the mount with a clear line instead of failing reads. It
// reports whether the prefix (or bucket) holds nothing.
func checkBucket(store *ossstore.Store, cfg *config.Config) (empty bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	page, err := store.List(ctx, cfg.Prefix, "", 1)
	if err == nil {
		return len(page.Objects) == 0 && len(page.Prefixes) == 0, nil
	}
	return false, bucketError(err, cfg)
}

// bucketError says what the failed check of the bucket means for the user.
func bucketError(err error, cfg *config.Config) error {
	var re *store.RequestError
	errors.As(err, &re)
	var dns *net.DNSError
	switch {
	case re != nil && re.Code == "NoSuchBucket":
		return fmt.Errorf("bucket %q does not exist at %s", cfg.Bucket, cfg.Endpoint)
	case errors.Is(err, store.ErrAccessDenied):
		code := ""
		if re != nil && re.Code != "" {
			code = " (" + re.Code + ")"
		}
		if cfg.Anonymous {
			return fmt.Errorf("access denied to bucket %q%s for an anonymous mount: the bucket is not public-read; give credentials instead of anonymous (OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, or credentials_file=)", cfg.Bucket, code)
		}
		return fmt.Errorf("access denied to bucket %q%s: check the credentials and that they may list the bucket", cfg.Bucket, code)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("bucket %q not found at %s", cfg.Bucket, cfg.Endpoint)
	case errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("endpoint %s answers plain HTTP, not HTTPS: use endpoint=%s (an endpoint without a scheme means https://)",
			cfg.Endpoint, "http://"+strings.TrimPrefix(cfg.Endpoint, "https://"))
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Errorf("endpoint %s: no such host %q (DNS); check the endpoint's spelling", cfg.Endpoint, dns.Name)
	case errors.Is(err, store.ErrEndpoint):
		return fmt.Errorf("endpoint %s cannot be used: %v", cfg.Endpoint, rootCause(err))
	case errors.Is(err, store.ErrTransient), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("cannot reach endpoint %s: %v", cfg.Endpoint, rootCause(err))
	default:
		return fmt.Errorf("checking bucket %q: %w", cfg.Bucket, err)
	}
}

// rootCause is the network error under a request error, for a message
// without the SDK's layers.
func rootCause(err error) error {
	var ne *net.OpError
	var re *store.RequestError
	switch {
	case errors.As(err, &ne):
		return ne
	case errors.As(err, &re) && re.Err != nil:
		return re.Err
	}
	return err
}
