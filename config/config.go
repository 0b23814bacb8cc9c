package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrHelp is returned by Parse for -h/--help: print Usage() and exit 0.
var ErrHelp = errors.New("help requested")

// ErrVersion is returned by Parse for -V/--version.
var ErrVersion = errors.New("version requested")

// Config is a parsed ossmount command line. Every option has been given its
// default, its environment fallback or its derived value by Parse.
type Config struct {
	Bucket     string
	Prefix     string // "" or "dir/sub/": no leading slash, one trailing slash
	Mountpoint string // absolute

	Endpoint  string // with a scheme (https:// added when none was given), no trailing slash
	Region    string
	PathStyle bool // forced on for an IP or localhost endpoint
	Anonymous bool

	CredentialsFile string // absolute, or "" (environment variables)

	// CredentialSource forces one credential source by name
	// (CredentialSources); "" picks the first that is configured, in
	// CredentialSources order.
	CredentialSource string
	// CredentialProcess is a shell command printing credentials as JSON.
	CredentialProcess string
	// RAMRole is the ECS instance's RAM role; "" with the ecs_ram_role
	// source asks the metadata service for it.
	RAMRole string
	// ECSMetadataEndpoint is the instance metadata service's base URL.
	ECSMetadataEndpoint string
	// STSEndpoint is the URL of STS for AssumeRoleWithOIDC; "" derives it
	// from the environment (ALIBABA_CLOUD_STS_ENDPOINT, _STS_REGION).
	STSEndpoint string
	// CredentialTimeout bounds one fetch of credentials (metadata service,
	// STS, credential_process).
	CredentialTimeout time.Duration

	CacheDir  string // absolute
	CacheSize int64  // 0: bounded by MinFree only
	MinFree   int64
	BlockSize int64 // power of two, MinBlockSize..MaxBlockSize
	PartSize  int64 // multiple of BlockSize, at most MaxPartSize
	Parallel  int
	// KernelReadahead is the mount's read_ahead_kb in bytes; 0 leaves it.
	KernelReadahead int64
	// Passthrough: the kernel reads wholly cached files from the cache
	// file directly (FUSE passthrough).
	Passthrough bool

	// ReadWrite turns writes on (rw; mount.fuse3 passes rw for an fstab
	// line without ro). AllowOverwrite lets a write replace an existing
	// object, AllowDelete lets unlink delete one. Uploads go in parts of
	// UploadPartSize, UploadParallel of them in flight.
	ReadWrite      bool
	AllowOverwrite bool
	AllowDelete    bool
	UploadPartSize int64
	UploadParallel int

	Revalidate  string // "etag" | "mtime"
	MetadataTTL time.Duration
	NegativeTTL time.Duration
	ReadTimeout time.Duration
	Retries     int

	UID, GID uint32
	Umask    uint32
	FileMode uint32 // permission bits; 0444 &^ Umask unless given
	DirMode  uint32 // permission bits; 0555 &^ Umask unless given

	AllowOther         bool
	AllowRoot          bool
	DefaultPermissions bool // implied by AllowOther unless given explicitly
	Nonempty           bool
	Foreground         bool
	DebugFUSE          bool

	LogLevel    slog.Level
	LogFile     string // absolute, or "" for the default (syslog/journal when daemonized, stderr with -f)
	MetricsAddr string // host:port, or "" for none

	// set holds the names of the options the user gave explicitly.
	set map[string]bool
}

// Hooks for tests.
var (
	geteuid = os.Geteuid
	getuid  = os.Getuid
	getgid  = os.Getgid
)

func defaults() *Config {
	return &Config{
		CacheSize:           DefaultCacheSize,
		MinFree:             DefaultMinFree,
		BlockSize:           DefaultBlockSize,
		PartSize:            DefaultPartSize,
		KernelReadahead:     DefaultKernelReadahead,
		Passthrough:         true,
		Parallel:            DefaultParallel,
		UploadPartSize:      DefaultUploadPartSize,
		UploadParallel:      DefaultUploadParallel,
		Revalidate:          DefaultRevalidate,
		MetadataTTL:         DefaultMetadataTTL,
		NegativeTTL:         DefaultNegativeTTL,
		ReadTimeout:         DefaultReadTimeout,
		Retries:             DefaultRetries,
		Umask:               DefaultUmask,
		CredentialTimeout:   DefaultCredentialTimeout,
		ECSMetadataEndpoint: DefaultECSMetadataEndpoint,
		LogLevel:            slog.LevelInfo,
		set:                 map[string]bool{},
	}
}

// DefaultCacheDir is cache_dir's default: /var/cache/ossmount for root, else
// $XDG_CACHE_HOME/ossmount or ~/.cache/ossmount ("" if neither is set).
func DefaultCacheDir(env func(string) string) string {
	if geteuid() == 0 {
		return RootCacheDir
	}
	if x := env("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "ossmount")
	}
	if h := env("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".cache", "ossmount")
	}
	return "" // Validate asks for cache_dir=
}

// settings are the options with their current values, in --help order.
func (c *Config) settings() [][2]string {
	out := make([][2]string, 0, len(options))
	for _, o := range options {
		if v, ok := o.get(c); ok {
			out = append(out, [2]string{o.name, v})
		}
	}
	return out
}

// source renders Bucket and Prefix as BUCKET[:/PREFIX].
func (c *Config) source() string {
	if c.Prefix == "" {
		return c.Bucket
	}
	return c.Bucket + ":/" + c.Prefix
}

// String renders every setting on one line for a log, as key=value pairs
// (values with spaces or quotes quoted). It holds no secret: credentials are
// not part of a Config, and a password in the endpoint URL is masked.
func (c *Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source=%s mountpoint=%s", quoteIfNeeded(c.source()), quoteIfNeeded(c.Mountpoint))
	for _, kv := range c.settings() {
		v := kv[1]
		if kv[0] == "endpoint" {
			v = redactURL(v)
		}
		fmt.Fprintf(&b, " %s=%s", kv[0], quoteIfNeeded(v))
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'\\=") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}

// Args renders the Config as a command line that Parse turns back into the
// same Config, whatever the working directory and environment: every option
// explicit, every path absolute. A daemon that re-executes itself in / can
// pass these instead of the user's arguments.
func (c *Config) Args() []string {
	var opts []string
	for _, kv := range c.settings() {
		opts = append(opts, kv[0]+"="+escapeOption(kv[1]))
	}
	return []string{"-o", strings.Join(opts, ","), "--", c.source(), c.Mountpoint}
}
