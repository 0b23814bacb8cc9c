package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

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
