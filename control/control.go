// Package control is the running daemon's control endpoint and its client:
// what `ossmount stats`, `ossmount warm` and `ossmount cache` talk to, and
// the Prometheus metrics.
//
// The endpoint is HTTP with JSON bodies over a unix socket in the cache
// directory (which is 0700 and owned by the daemon's user, so the socket's
// permissions are the cache's). One cache directory has at most one daemon
// (blockcache locks it), so "the socket of cache dir D" names a daemon
// without any registry. A client finds the socket of a mount through the
// mount itself: the root directory's user.ossmount.control attribute holds
// its path (vfs.ControlXattr).
//
// Every figure comes from one Snapshot, read from the counters the store,
// the fetcher and the cache keep anyway (atomic adds on their paths), so
// the stats command and the metrics cannot disagree and cost nothing when
// nobody asks.
//
// Warm requests stream progress as JSON lines. The daemon warms the files
// one after another with the shared fetcher (each file's parts run in
// parallel under the mount's one GET bound); when the client goes away
// (Ctrl-C) the request context ends and warming stops, leaving what was
// fetched in the cache.
package control

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/credsource"
	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/store"
	ossstore "github.com/ossmount/ossmount/store/oss"
)

// SocketPath is where the daemon owning cacheDir listens. Unix socket paths
// are limited to 107 bytes; a cache dir too deep for that gets a socket
// under /run/ossmount named by a hash of the dir.
func SocketPath(cacheDir string) string {
	abs, err := filepath.Abs(cacheDir)
	if err != nil {
		abs = cacheDir
	}
	p := filepath.Join(abs, "control.sock")
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join("/run/ossmount", hex.EncodeToString(sum[:8])+".sock")
}

// Snapshot is every figure the daemon reports, at one moment.
type Snapshot struct {
	Source     string  `json:"source"`
	Mountpoint string  `json:"mountpoint"`
	CacheDir   string  `json:"cache_dir"`
	UptimeSecs float64 `json:"uptime_seconds"`

	Requests    map[string]int64 `json:"requests"`     // by kind: GET, HEAD, LIST (retries included)
	Conditional int64            `json:"conditional"`  // GETs with If-None-Match / If-Modified-Since
	NotModified int64            `json:"not_modified"` // 304 answers
	Opens       int64            `json:"opens"`        // revalidations (one request each)
	PartGETs    int64            `json:"part_gets"`    // GETs of parts (not counting open probes)
	Retries     int64            `json:"retries"`
	Errors      map[string]int64 `json:"errors"` // by kind (store.ErrorKind names)
	InFlight    int64            `json:"in_flight_gets"`

	BytesFetched int64 `json:"bytes_fetched"` // response body bytes received
	// Read bytes by where they came from (fetcher.Stats): blocks cached
	// before the reader asked (hits), a fetch the read waited for
	// (misses), or what was fetched ahead for the same reader. Hit ratio:
	// hits / all three; 0 before any read.
	CacheHitBytes       int64   `json:"cache_hit_bytes"`
	CacheMissBytes      int64   `json:"cache_miss_bytes"`
	CacheReadAheadBytes int64   `json:"cache_readahead_bytes"`
	CacheHitRatio       float64 `json:"cache_hit_ratio"`
	// NegativeLookups: HEADs answered 404 (names that are no file); not errors.
	NegativeLookups int64 `json:"negative_lookups"`

	CacheUsedBytes   int64 `json:"cache_used_bytes"`
	CacheLimitBytes  int64 `json:"cache_limit_bytes"` // 0: unbounded
	CacheObjects     int   `json:"cache_objects"`
	CacheBlocks      int   `json:"cache_blocks"`
	Evictions        int64 `json:"evictions"`
	CRCFailures      int64 `json:"crc_failures"`
	CacheWriteErrors int64 `json:"cache_write_errors"`

	// Passthrough: files the kernel reads from the cache file directly.
	PassthroughOpens  int64 `json:"passthrough_opens"`  // cache files handed to the kernel so far
	PassthroughPinned int   `json:"passthrough_pinned"` // object versions pinned for it now

	Credentials credsource.Status `json:"credentials"` // source in use, expiry, renewals
	// Readahead: the window cap per file, and the bytes read ahead that
	// the cache holds until they are read.
	ReadaheadMax  int64 `json:"readahead_max_bytes"`
	ReadaheadHeld int64 `json:"readahead_held_bytes"`
	// CacheWarning says why the cache is too small for the readahead (set
	// at mount), "" when it is not.
	CacheWarning string `json:"cache_warning,omitempty"`
}

// RequestCounter is what the store offers (ossstore.Store).
type RequestCounter interface {
	RequestStats() ossstore.RequestStats
}

// Sources are the daemon parts a Snapshot is read from.
type Sources struct {
	Source, Mountpoint, CacheDir string
	Started                      time.Time
	Store                        RequestCounter
	Fetcher                      *fetcher.Fetcher
	Cache                        *blockcache.Cache
	Credentials                  interface{ Status() credsource.Status } // nil: none reported
	CacheWarning                 string                                  // the mount's warning that the cache is too small, if any
}

// Snapshot reads every counter now.
func (s *Sources) Snapshot() Snapshot {
	rs := s.Store.RequestStats()
	fs := s.Fetcher.Stats()
	cs := s.Cache.Stats()
	snap := Snapshot{
		Source: s.Source, Mountpoint: s.Mountpoint, CacheDir: s.CacheDir,
		UptimeSecs: time.Since(s.Started).Seconds(),
		Requests:   rs.Requests, Conditional: rs.Conditional, NotModified: rs.NotModified,
		Opens: fs.Probes, PartGETs: fs.Gets, Retries: fs.Retries, Errors: rs.Errors, InFlight: fs.InFlight,
		BytesFetched: fs.BytesFetched, CacheHitBytes: fs.CacheHitBytes, CacheMissBytes: fs.CacheMissBytes,
		CacheReadAheadBytes: fs.ReadAheadBytes, NegativeLookups: rs.NegativeLookups,
		CacheUsedBytes: cs.Used, CacheLimitBytes: cs.Limit, CacheObjects: cs.Objects, CacheBlocks: cs.Blocks,
		Evictions: cs.Evictions, CRCFailures: cs.CRCFailures + fs.CRCMismatches, CacheWriteErrors: cs.WriteErrors + fs.CacheWriteErrors,
		PassthroughOpens: cs.BackingOpens, PassthroughPinned: cs.Backed,
		ReadaheadMax: s.Fetcher.MaxReadahead(), ReadaheadHeld: cs.AheadBytes, CacheWarning: s.CacheWarning,
	}
	if s.Credentials != nil {
		snap.Credentials = s.Credentials.Status()
	}
	if t := snap.CacheHitBytes + snap.CacheMissBytes + snap.CacheReadAheadBytes; t > 0 {
		snap.CacheHitRatio = float64(snap.CacheHitBytes) / float64(t)
	}
	return snap
}

// Format renders a snapshot for people.
func (s Snapshot) Format() string {
	limit := "unbounded"
	if s.CacheLimitBytes > 0 {
		limit = Bytes(s.CacheLimitBytes)
	}
	errs := ""
	for _, kind := range store.ErrorKinds() {
		k := kind.String()
		if n := s.Errors[k]; n > 0 {
			errs += fmt.Sprintf(" %s=%d", k, n)
		}
	}
	if errs == "" {
		errs = " none"
	}
	warning := ""
	if s.CacheWarning != "" {
		warning = "warning      " + s.CacheWarning + "\n"
	}
	return fmt.Sprintf(`%s on %s (up %s)
requests     GET %d  HEAD %d  LIST %d  (%s, %s, %s)
not found    %s of absent names (HEAD 404: normal, not errors)
conditional  %d sent, %d answered 304 Not Modified
fetched      %s
cache reads  %s hit, %s miss, %s read ahead (hit ratio %.1f%%)
cache        %s of %s in %s of %s; %s, %s, %s
passthrough  %s handed to the kernel, %s pinned now
readahead    up to %s per file; %s read ahead held in the cache until read
in flight    %s
errors      %s
credentials  %s
%s`,
		s.Source, s.Mountpoint, time.Duration(s.UptimeSecs*float64(time.Second)).Round(time.Second),
		s.Requests[ossstore.OpGet], s.Requests[ossstore.OpHead], s.Requests[ossstore.OpList],
		Count(s.Opens, "open"), Count(s.PartGETs, "part GET"), Count(s.Retries, "retry"),
		Count(s.NegativeLookups, "lookup"),
		s.Conditional, s.NotModified,
		Bytes(s.BytesFetched),
		Bytes(s.CacheHitBytes), Bytes(s.CacheMissBytes), Bytes(s.CacheReadAheadBytes), 100*s.CacheHitRatio,
		Bytes(s.CacheUsedBytes), limit, Count(s.CacheBlocks, "block"), Count(s.CacheObjects, "object"),
		Count(s.Evictions, "eviction"), Count(s.CRCFailures, "CRC failure"), Count(s.CacheWriteErrors, "write error"),
		Count(s.PassthroughOpens, "cache file"), Count(s.PassthroughPinned, "object"),
		Bytes(s.ReadaheadMax), Bytes(s.ReadaheadHeld),
		Count(s.InFlight, "GET"), errs, formatCredentials(s.Credentials, time.Now()), warning)
}

// Count says "1 object", "2 objects": n and noun, plural when n is not 1
// ("retry" becomes "retries").
func Count[N int | int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Bytes formats a byte count with a binary unit ("1.5 GiB").
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
