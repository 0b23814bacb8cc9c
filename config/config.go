package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
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

// IsSet reports whether the user gave option name (e.g. "default_permissions")
// explicitly, on the command line, rather than it having its default, an
// environment fallback or a derived value.
func (c *Config) IsSet(name string) bool { return c.set[name] }

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

// Parse parses the command line of the mount form (args excludes argv[0]):
//
//	[flags] BUCKET[:/PREFIX] MOUNTPOINT [flags]
//
// with -o key[=value],... anywhere and repeatable, long flags as --name VALUE
// or --name=VALUE, and -f (foreground). A later setting of an option wins.
// env looks up environment variables (os.Getenv; nil means none are set).
// Parse returns ErrHelp or ErrVersion when asked; its other errors are one
// line that names the bad option or argument. Cross-option checks are
// Validate's.
func Parse(args []string, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := defaults()
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			switch name {
			case "help":
				return nil, ErrHelp
			case "version":
				return nil, ErrVersion
			}
			next := func() (string, bool) {
				if i+1 < len(args) {
					i++
					return args[i], true
				}
				return "", false
			}
			if err := c.applyFlag(a, name, val, hasVal, next); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				switch ch := a[j]; ch {
				case 'h':
					return nil, ErrHelp
				case 'V':
					return nil, ErrVersion
				case 'f':
					c.Foreground, c.set["foreground"] = true, true
				case 'd':
					c.DebugFUSE, c.set["debug_fuse"] = true, true
					c.Foreground, c.set["foreground"] = true, true
				case 'r':
					c.ReadWrite = false // mount(8)'s -r: read-only
				case 'w':
					c.ReadWrite, c.set["rw"] = true, true // mount(8)'s -w
				case 's', 'n', 'v':
					// mount(8) helper flags (sloppy, no mtab, verbose): nothing to do.
				case 'o':
					opts := a[j+1:]
					if opts == "" {
						if i+1 >= len(args) {
							return nil, errors.New("-o needs a list of options")
						}
						i++
						opts = args[i]
					}
					if err := c.applyOptions(opts); err != nil {
						return nil, err
					}
					j = len(a)
				default:
					return nil, fmt.Errorf("unknown option %q", "-"+string(ch))
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	switch len(pos) {
	case 0:
		return nil, errors.New("missing BUCKET[:/PREFIX] and MOUNTPOINT (usage: ossmount [flags] BUCKET[:/PREFIX] MOUNTPOINT; see --help)")
	case 1:
		return nil, errors.New("missing MOUNTPOINT (usage: ossmount [flags] BUCKET[:/PREFIX] MOUNTPOINT; see --help)")
	case 2:
	default:
		return nil, fmt.Errorf("unexpected argument %q (usage: ossmount [flags] BUCKET[:/PREFIX] MOUNTPOINT; see --help)", pos[2])
	}
	var err error
	if c.Bucket, c.Prefix, err = ParseSource(pos[0]); err != nil {
		return nil, err
	}
	if pos[1] == "" || strings.IndexByte(pos[1], 0) >= 0 {
		return nil, fmt.Errorf("invalid mountpoint %q", pos[1])
	}
	if c.Mountpoint, err = filepath.Abs(pos[1]); err != nil {
		return nil, fmt.Errorf("mountpoint %q: %v", pos[1], err)
	}
	c.finish(env)
	return c, nil
}

// applyFlag applies the long flag arg (--name[=val]); next takes the
// following argument as the value of a non-boolean flag.
func (c *Config) applyFlag(arg, name, val string, hasVal bool, next func() (string, bool)) error {
	key := strings.ReplaceAll(name, "-", "_")
	switch key {
	case "read_only":
		key = "ro"
	case "read_write":
		key = "rw"
	}
	o := optionByName[key]
	if o == nil {
		if b := negatedBool(key); b != nil {
			if hasVal {
				return fmt.Errorf("option %s takes no value", arg)
			}
			return c.setBool(b, false)
		}
		return fmt.Errorf("unknown option %q", "--"+name)
	}
	if o.kind == kindBool {
		return c.applyBool(o, val, hasVal)
	}
	if !hasVal {
		v, ok := next()
		if !ok {
			return fmt.Errorf("option %s needs a value (%s %s)", arg, o.flagName(), o.arg)
		}
		val = v
	}
	return c.setValue(o, val)
}

// negatedBool returns the boolean option that key turns off ("no_NAME" or
// "noNAME"), or nil.
func negatedBool(key string) *option {
	for _, p := range []string{"no_", "no"} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			if o := optionByName[rest]; o != nil && o.kind == kindBool && o.name != "ro" {
				return o
			}
		}
	}
	return nil
}

// applyOptions applies one -o argument: comma-separated key[=value]
// elements, with "\," standing for a comma and "\\" for a backslash.
func (c *Config) applyOptions(s string) error {
	for _, el := range splitOptions(s) {
		el = strings.TrimLeft(el, " \t")
		if el == "" {
			continue
		}
		key, val, hasVal := strings.Cut(el, "=")
		key = strings.TrimSpace(key)
		if !hasVal {
			el = key
		}
		if err := c.applyOption(el, key, val, hasVal); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) applyOption(el, key, val string, hasVal bool) error {
	if isIgnored(key) {
		return nil
	}
	o := optionByName[key]
	if o == nil {
		o = optionByName[strings.ReplaceAll(key, "-", "_")]
	}
	if o == nil {
		if b := negatedBool(strings.ReplaceAll(key, "-", "_")); b != nil {
			if hasVal {
				return fmt.Errorf("option %s takes no value", key)
			}
			return c.setBool(b, false)
		}
		if key == "" {
			return fmt.Errorf("invalid option %q", el)
		}
		return fmt.Errorf("unknown option %q", key)
	}
	if o.kind == kindBool {
		return c.applyBool(o, val, hasVal)
	}
	if !hasVal {
		return fmt.Errorf("option %s needs a value (%s=%s)", o.name, o.name, o.arg)
	}
	return c.setValue(o, val)
}

// applyBool sets a bool option given as "opt" (true) or "opt=VALUE".
func (c *Config) applyBool(o *option, val string, hasVal bool) error {
	if !hasVal {
		return c.setBool(o, true)
	}
	b, err := parseBool(val)
	if err != nil {
		return badValue(o.name, val, err.Error())
	}
	return c.setBool(o, b)
}

func (c *Config) setBool(o *option, b bool) error {
	if err := o.setBool(c, b); err != nil {
		return err
	}
	c.set[o.name] = true
	return nil
}

func (c *Config) setValue(o *option, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return badValue(o.name, v, "contains a NUL byte")
	}
	if v == "" && !o.emptyOK {
		return fmt.Errorf("option %s needs a value (%s=%s)", o.name, o.name, o.arg)
	}
	if err := o.set(c, v); err != nil {
		return err
	}
	c.set[o.name] = true
	return nil
}

// splitOptions splits an -o argument at unescaped commas.
func splitOptions(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		case s[i] == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}

func escapeOption(v string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`).Replace(v)
}

// finish fills in environment fallbacks and derived values.
func (c *Config) finish(env func(string) string) {
	if !c.set["endpoint"] {
		c.Endpoint = env("OSS_ENDPOINT")
	}
	c.Endpoint = normalizeEndpoint(c.Endpoint)
	if !c.set["region"] {
		c.Region = env("OSS_REGION")
	}
	host := endpointHost(c.Endpoint)
	if c.Region == "" {
		c.Region = RegionFromEndpoint(host)
	}
	if isLocalHost(host) {
		c.PathStyle = true
	}
	if c.CacheDir == "" { // not given, or given empty: the default
		c.CacheDir = DefaultCacheDir(env)
	}
	if !c.set["uid"] {
		c.UID = uint32(getuid())
	}
	if !c.set["gid"] {
		c.GID = uint32(getgid())
	}
	if !c.set["file_mode"] {
		c.FileMode = 0o444 &^ c.Umask
		if c.ReadWrite {
			c.FileMode = 0o644 &^ c.Umask
		}
	}
	if !c.set["dir_mode"] {
		c.DirMode = 0o555 &^ c.Umask
		if c.ReadWrite {
			c.DirMode = 0o755 &^ c.Umask
		}
	}
	if c.AllowOther && !c.set["default_permissions"] {
		c.DefaultPermissions = true
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

// normalizeEndpoint adds https:// when e has no scheme and drops trailing
// slashes. It is idempotent.
func normalizeEndpoint(e string) string {
	// Slashes go first: "/" alone is no endpoint, and trimming after
	// adding the scheme would turn "https:///" into "https:".
	e = strings.TrimRight(e, "/")
	if e == "" {
		return ""
	}
	if !strings.Contains(e, "://") {
		e = "https://" + e
	}
	return e
}

func endpointHost(e string) string {
	u, err := url.Parse(e)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

func isLocalHost(host string) bool {
	return host == "localhost" || net.ParseIP(host) != nil
}

// RegionFromEndpoint derives the region from an OSS endpoint host name:
// oss-cn-hangzhou.aliyuncs.com and oss-cn-hangzhou-internal.aliyuncs.com
// give cn-hangzhou, as does cn-hangzhou.oss.aliyuncs.com. It returns "" for
// a host it does not recognize (including the region-less
// oss-accelerate.aliyuncs.com). A full URL is accepted too.
func RegionFromEndpoint(host string) string {
	if strings.Contains(host, "://") {
		host = endpointHost(host)
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	rest, ok := strings.CutSuffix(host, ".aliyuncs.com")
	if !ok {
		return ""
	}
	labels := strings.Split(rest, ".")
	last := labels[len(labels)-1]
	if last == "oss" && len(labels) >= 2 { // REGION.oss.aliyuncs.com
		return labels[len(labels)-2]
	}
	r, ok := strings.CutPrefix(last, "oss-")
	if !ok {
		return ""
	}
	r = strings.TrimSuffix(r, "-internal")
	if r == "" || strings.HasPrefix(r, "accelerate") {
		return ""
	}
	return r
}

// ParseSource parses BUCKET, BUCKET:/PREFIX or BUCKET:PREFIX into a bucket
// name and a prefix that is "" or "dir/sub/".
func ParseSource(src string) (bucket, prefix string, err error) {
	bucket, p, _ := strings.Cut(src, ":")
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("invalid source %q: %v", src, err)
	}
	if p = strings.TrimPrefix(p, "/"); p == "" {
		return bucket, "", nil
	}
	p = strings.TrimSuffix(p, "/")
	for comp := range strings.SplitSeq(p, "/") {
		switch {
		case comp == "":
			return "", "", fmt.Errorf("invalid source %q: prefix has an empty path component", src)
		case comp == "." || comp == "..":
			return "", "", fmt.Errorf("invalid source %q: prefix has a %q component", src, comp)
		case strings.IndexByte(comp, 0) >= 0:
			return "", "", fmt.Errorf("invalid source %q: prefix contains a NUL byte", src)
		}
	}
	if len(p)+1 > 1023 {
		return "", "", fmt.Errorf("invalid source %q: prefix longer than 1023 bytes", src)
	}
	return bucket, p + "/", nil
}

// ValidBucketName reports whether name follows OSS's bucket naming rules:
// 3 to 63 lowercase letters, digits and hyphens, starting and ending with a
// letter or digit.
func ValidBucketName(name string) bool { return checkBucket(name) == nil }

func checkBucket(name string) error {
	if name == "" {
		return errors.New("no bucket name")
	}
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return fmt.Errorf("bucket name %q may only contain lowercase letters, digits and hyphens", name)
		}
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return fmt.Errorf("bucket name %q must not start or end with a hyphen", name)
	}
	return nil
}

// Validate checks the combination of settings (and the single-option rules
// again, for a Config not made by Parse). It normalizes Endpoint. Its error
// is one line naming the options at fault.
func (c *Config) Validate() error {
	if err := checkBucket(c.Bucket); err != nil {
		return err
	}
	if c.Prefix != "" {
		if _, p, err := ParseSource(c.Bucket + ":" + c.Prefix); err != nil || p != c.Prefix {
			return fmt.Errorf("invalid prefix %q", c.Prefix)
		}
	}
	if c.Mountpoint == "" {
		return errors.New("no mountpoint")
	}
	if err := c.validateEndpoint(); err != nil {
		return err
	}
	if c.Region == "" && !c.Anonymous {
		return fmt.Errorf("no region: set region= (e.g. region=cn-hangzhou) or OSS_REGION; it cannot be derived from endpoint %s", c.Endpoint)
	}
	if c.Anonymous && c.CredentialsFile != "" {
		return errors.New("options anonymous and credentials_file exclude each other")
	}
	if err := c.validateCredentialSource(); err != nil {
		return err
	}
	if c.AllowOther && c.AllowRoot {
		return errors.New("options allow_other and allow_root exclude each other")
	}
	if why := checkBlockSize(c.BlockSize); why != "" {
		return fmt.Errorf("block_size %s %s", FormatSize(c.BlockSize), why)
	}
	if why := checkPartSize(c.PartSize); why != "" {
		return fmt.Errorf("part_size %s %s", FormatSize(c.PartSize), why)
	}
	if c.PartSize%c.BlockSize != 0 {
		return fmt.Errorf("part_size %s must be a multiple of block_size %s", FormatSize(c.PartSize), FormatSize(c.BlockSize))
	}
	if c.CacheSize < 0 || c.MinFree < 0 {
		return errors.New("cache_size and min_free must not be negative")
	}
	if c.CacheSize != 0 && c.CacheSize < c.PartSize {
		return fmt.Errorf("cache_size %s is smaller than part_size %s", FormatSize(c.CacheSize), FormatSize(c.PartSize))
	}
	if c.Parallel < 1 || c.Parallel > MaxParallel {
		return fmt.Errorf("parallel %d must be between 1 and %d", c.Parallel, MaxParallel)
	}
	if (c.AllowOverwrite || c.AllowDelete) && !c.ReadWrite {
		return errors.New("allow_overwrite and allow_delete need rw (the mount is read-only)")
	}
	if c.Retries < 0 || c.Retries > MaxRetries {
		return fmt.Errorf("retries %d must be between 0 and %d", c.Retries, MaxRetries)
	}
	if c.Revalidate != "etag" && c.Revalidate != "mtime" {
		return fmt.Errorf("revalidate %q must be etag or mtime", c.Revalidate)
	}
	if c.MetadataTTL < 0 || c.NegativeTTL < 0 {
		return errors.New("metadata_ttl and negative_ttl must not be negative")
	}
	if c.ReadTimeout <= 0 {
		return errors.New("read_timeout must be greater than zero")
	}
	if c.Umask > 0o777 || c.FileMode > 0o777 || c.DirMode > 0o777 {
		return errors.New("umask, file_mode and dir_mode must be at most 0777")
	}
	if c.UID == ^uint32(0) || c.GID == ^uint32(0) {
		return errors.New("uid and gid must not be 4294967295")
	}
	if why := checkMetricsAddr(c.MetricsAddr); why != "" {
		return fmt.Errorf("metrics_addr %q: %s", c.MetricsAddr, why)
	}
	if c.CacheDir == "" {
		return errors.New("no cache directory: set cache_dir= (neither $XDG_CACHE_HOME nor $HOME is set)")
	}
	if !filepath.IsAbs(c.CacheDir) {
		return fmt.Errorf("cache_dir %q must be an absolute path", c.CacheDir)
	}
	if within(c.CacheDir, c.Mountpoint) {
		return fmt.Errorf("cache_dir %s is inside the mountpoint %s", c.CacheDir, c.Mountpoint)
	}
	return nil
}

// within reports whether path is dir or below it (lexically).
func within(path, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func (c *Config) validateEndpoint() error {
	if c.Endpoint == "" {
		return errors.New("no endpoint: set endpoint= (e.g. endpoint=https://oss-cn-hangzhou.aliyuncs.com) or OSS_ENDPOINT")
	}
	c.Endpoint = normalizeEndpoint(c.Endpoint)
	bad := func(why string) error { return fmt.Errorf("endpoint %q: %s", redactURL(c.Endpoint), why) }
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return bad("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme must be http or https")
	case u.User != nil:
		return bad("must not contain user information")
	case u.Hostname() == "":
		return bad("no host")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return bad("must be scheme://host[:port] with no path, query or fragment (put the bucket and prefix in the source)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
	}
	return nil
}

// redactURL hides a password in a URL.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
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
