package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

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

// PathStyleHost reports whether an endpoint on host can only be reached
// path-style (bucket in the path, not in the host name): localhost and IP
// addresses have no bucket subdomains. The OSS store applies the same rule.
func PathStyleHost(host string) bool {
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
