package csi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/ossmount/ossmount/config"
)

// Volume attribute keys (a static PV's volumeAttributes, a StorageClass's
// parameters): those of Alibaba's OSS CSI driver, so that moving a PV to
// ossmount changes only its driver name; plus warm.
const (
	AttrBucket    = "bucket"    // required
	AttrPath      = "path"      // prefix inside the bucket
	AttrURL       = "url"       // OSS endpoint
	AttrRegion    = "region"    // for V4 signing; derived from an oss-REGION endpoint
	AttrOtherOpts = "otherOpts" // more ossmount options: "-o cache_size=50G,parallel=32"
	AttrReadOnly  = "readOnly"  // "true": mounted read-only whatever the access mode
	AttrWarm      = "warm"      // comma-separated paths prefetched after staging
)

// Secret keys (nodeStageSecretRef, nodePublishSecretRef).
const (
	SecretAKID          = "akId"
	SecretAKSecret      = "akSecret"
	SecretSecurityToken = "securityToken"
)

// Keys that the CO adds to the volume context and a plugin ignores: the
// provisioner's identity and kubelet's pod information.
var ignoredPrefixes = []string{"csi.storage.k8s.io/", "storage.kubernetes.io/"}

// ownedOptions are the ossmount options the plugin sets itself; otherOpts
// may not override them.
var ownedOptions = map[string]string{
	"endpoint": "use the url attribute", "region": "use the region attribute",
	"cache_dir": "the plugin places the cache under --cache-root", "credentials_file": "use the secret (akId, akSecret, securityToken)",
	"anonymous": "give no secret for anonymous access", "foreground": "the plugin runs the daemon", "log_file": "the plugin keeps the daemon's log",
	"rw": "a writer access mode mounts the volume writable (unless readOnly is true)", "ro": "use readOnly: \"true\" or a reader access mode",
}

// writeOptions act on writes only: a volume staged read-only (a reader
// access mode) runs without them, so one PV's otherOpts serve its writers
// and its readers.
var writeOptions = map[string]bool{"allow_overwrite": true, "allow_delete": true}

// volumeSpec is a volume as its attributes describe it.
type volumeSpec struct {
	Bucket, Prefix, Endpoint, Region string
	Options                          []string // -o elements, validated
	Warm                             []string
	// ReadOnly is the readOnly attribute; Writable is decided at staging
	// from it and the access mode (writerMode), and passes rw to the daemon.
	ReadOnly, Writable bool
}

// attrError is an InvalidArgument naming the attribute at fault.
func attrError(key, format string, args ...any) error {
	return fmt.Errorf("volume attribute %s: %s", key, fmt.Sprintf(format, args...))
}

// parseVolumeContext reads and checks the attributes of a volume. Unknown
// keys are errors (a misspelt key would otherwise be silently dropped).
func parseVolumeContext(attrs map[string]string) (*volumeSpec, error) {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case AttrBucket, AttrPath, AttrURL, AttrRegion, AttrOtherOpts, AttrReadOnly, AttrWarm:
		default:
			if !ignoredKey(k) {
				return nil, attrError(k, "unknown key (known: bucket, path, url, region, otherOpts, readOnly, warm)")
			}
		}
	}
	s := &volumeSpec{Bucket: strings.TrimSpace(attrs[AttrBucket]), Endpoint: strings.TrimSpace(attrs[AttrURL]), Region: strings.TrimSpace(attrs[AttrRegion])}
	if s.Bucket == "" {
		return nil, attrError(AttrBucket, "missing (the name of the OSS bucket)")
	}
	if !config.ValidBucketName(s.Bucket) {
		return nil, attrError(AttrBucket, "%q is not a valid bucket name", s.Bucket)
	}
	if p := strings.Trim(strings.TrimSpace(attrs[AttrPath]), "/"); p != "" {
		_, prefix, err := config.ParseSource(s.Bucket + ":/" + p)
		if err != nil {
			return nil, attrError(AttrPath, "%v", err)
		}
		s.Prefix = prefix
	}
	if s.Endpoint == "" {
		return nil, attrError(AttrURL, "missing (the OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com)")
	}
	if v, ok := attrs[AttrReadOnly]; ok {
		ro, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, attrError(AttrReadOnly, "%q is not true or false", v)
		}
		s.ReadOnly = ro
	}
	opts, err := parseOtherOpts(attrs[AttrOtherOpts])
	if err != nil {
		return nil, attrError(AttrOtherOpts, "%v", err)
	}
	s.Options = opts
	if w := strings.TrimSpace(attrs[AttrWarm]); w != "" {
		for _, p := range strings.Split(w, ",") {
			p = strings.Trim(strings.TrimSpace(p), "/")
			if p == "" {
				continue
			}
			clean := path.Clean(p)
			if clean != p || clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, attrError(AttrWarm, "%q is not a clean relative path inside the volume", p)
			}
			s.Warm = append(s.Warm, clean)
		}
		if len(s.Warm) == 0 {
			s.Warm = []string{"."}
		}
	}
	// The daemon's own parser has the last word on url and the options: a
	// line it would refuse is refused here, naming the key. Whether a
	// region is needed depends on the secrets (an anonymous mount needs
	// none): NodeStage checks it once it has them.
	if err := s.check(true); err != nil {
		return nil, err
	}
	return s, nil
}

func ignoredKey(k string) bool {
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// parseOtherOpts splits otherOpts ("-o a=1,b -o c", "-oa=1", or a bare
// "a=1,b") into -o elements, refusing the options the plugin owns.
func parseOtherOpts(s string) ([]string, error) {
	var lists []string
	fields := strings.Fields(s)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case f == "-o":
			if i+1 >= len(fields) {
				return nil, fmt.Errorf("-o needs a list of options")
			}
			i++
			lists = append(lists, fields[i])
		case strings.HasPrefix(f, "-o"):
			lists = append(lists, f[2:])
		case strings.HasPrefix(f, "-"):
			return nil, fmt.Errorf("%q: only -o options are accepted", f)
		default:
			lists = append(lists, f)
		}
	}
	var out []string
	for _, l := range lists {
		for _, el := range strings.Split(l, ",") {
			if el = strings.TrimSpace(el); el == "" {
				continue
			}
			key, _, _ := strings.Cut(el, "=")
			if why, owned := ownedOptions[key]; owned {
				return nil, fmt.Errorf("option %s cannot be set here: %s", key, why)
			}
			out = append(out, el)
		}
	}
	return out, nil
}

// args is the daemon's command line for the spec.
func (s *volumeSpec) args(mountpoint, cacheDir, credentialsFile, logFile string) []string {
	o := []string{"endpoint=" + s.Endpoint, "cache_dir=" + cacheDir, "log_file=" + logFile, "allow_other"}
	if s.Region != "" {
		o = append(o, "region="+s.Region)
	}
	if credentialsFile != "" {
		o = append(o, "credentials_file="+credentialsFile)
	} else {
		o = append(o, "anonymous")
	}
	if s.Writable {
		o = append(o, "rw")
	}
	for _, el := range s.Options {
		if key, _, _ := strings.Cut(el, "="); s.Writable || !writeOptions[key] {
			o = append(o, el)
		}
	}
	source := s.Bucket
	if s.Prefix != "" {
		source += ":/" + strings.TrimSuffix(s.Prefix, "/")
	}
	return []string{"-o", strings.Join(o, ","), "--", source, mountpoint}
}

// check runs the daemon's parser and validator over the spec's command
// line; anonymous says whether no secret is given (a region is then not
// needed). Errors name the attribute they come from.
func (s *volumeSpec) check(anonymous bool) error {
	cred := "/nonexistent/credentials"
	if anonymous {
		cred = ""
	}
	const mp, cache, log = "/nonexistent/mnt", "/nonexistent/cache", "/nonexistent/log"
	// First without otherOpts: errors are then url's or region's.
	base := *s
	base.Options = nil
	cfg, err := config.Parse(base.args(mp, cache, cred, log), nil)
	if err != nil {
		return attrError(AttrURL, "%v", err)
	}
	if cfg.Region == "" && !anonymous {
		return attrError(AttrRegion, "missing, and not derivable from url %s (e.g. region: cn-hangzhou)", s.Endpoint)
	}
	if err := cfg.Validate(); err != nil {
		return attrError(AttrURL, "%v", err)
	}
	// The options as a writer mode would stage them (with readOnly: "true"
	// the write options are dropped, as for a reader mode).
	full := *s
	full.Writable = !s.ReadOnly
	cfg, err = config.Parse(full.args(mp, cache, cred, log), nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return attrError(AttrOtherOpts, "%v", err)
	}
	return nil
}

// cacheName names the volume's cache directory under --cache-root: a hash
// of what identifies the data (bucket, prefix, endpoint), so a volume staged
// again, on this node, by any plugin version, finds its cache.
func (s *volumeSpec) cacheName() string {
	sum := sha256.Sum256([]byte(s.Bucket + "\x00" + s.Prefix + "\x00" + s.Endpoint))
	return hex.EncodeToString(sum[:16])
}

// secrets are the credentials of a volume, nil for anonymous access.
type secrets struct {
	AKID, AKSecret, Token string
}

func parseSecrets(m map[string]string) (*secrets, error) {
	if len(m) == 0 {
		return nil, nil
	}
	for k := range m {
		switch k {
		case SecretAKID, SecretAKSecret, SecretSecurityToken:
		default:
			return nil, fmt.Errorf("secret key %s: unknown (known: akId, akSecret, securityToken)", k)
		}
	}
	s := &secrets{AKID: strings.TrimSpace(m[SecretAKID]), AKSecret: strings.TrimSpace(m[SecretAKSecret]), Token: strings.TrimSpace(m[SecretSecurityToken])}
	for k, v := range map[string]string{SecretAKID: s.AKID, SecretAKSecret: s.AKSecret} {
		if v == "" {
			return nil, fmt.Errorf("secret key %s: missing or empty", k)
		}
	}
	for k, v := range map[string]string{SecretAKID: s.AKID, SecretAKSecret: s.AKSecret, SecretSecurityToken: s.Token} {
		if strings.ContainsAny(v, ":\n\r") {
			return nil, fmt.Errorf("secret key %s: must not contain ':' or a line break", k)
		}
	}
	return s, nil
}

// file renders the secrets as an ossmount credentials file line for bucket
// (BUCKET:AK:SK[:TOKEN]; with the bucket, an AccessKey ID that looks like a
// bucket name cannot be mistaken for one).
func (s *secrets) file(bucket string) []byte {
	line := bucket + ":" + s.AKID + ":" + s.AKSecret
	if s.Token != "" {
		line += ":" + s.Token
	}
	return []byte(line + "\n")
}
