package control

import "github.com/ossmount/ossmount/blockcache"

// The wire types of the cache endpoints: the protocol's own, so that a
// change inside the cache does not change what `ossmount cache du --json`
// prints or what an older client reads.

// CachedObject is one cached object version (GET /v1/cache/du).
type CachedObject struct {
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	ETag        string `json:"etag"`
	ID          string `json:"version_id"` // the cache's name for the version (a hash)
	Size        int64  `json:"size"`
	CachedBytes int64  `json:"cached_bytes"`
	Blocks      int    `json:"cached_blocks"`
}

// BadBlock is a cached block that failed its check and was dropped.
type BadBlock struct {
	Key   string `json:"key"`
	ETag  string `json:"etag"`
	Block int    `json:"block"`
}

// VerifyReport is the outcome of POST /v1/cache/verify.
type VerifyReport struct {
	Objects int        `json:"objects"`
	Blocks  int        `json:"blocks_checked"`
	Bytes   int64      `json:"bytes_checked"`
	Bad     []BadBlock `json:"bad_blocks"`
}

// UsageOf converts the cache's usage to the wire type (never nil).
func UsageOf(us []blockcache.ObjectUsage) []CachedObject {
	out := make([]CachedObject, 0, len(us))
	for _, u := range us {
		out = append(out, CachedObject(u))
	}
	return out
}

// VerifyReportOf converts the cache's verify report to the wire type (Bad
// never nil).
func VerifyReportOf(r blockcache.VerifyReport) VerifyReport {
	out := VerifyReport{Objects: r.Objects, Blocks: r.Blocks, Bytes: r.Bytes, Bad: make([]BadBlock, 0, len(r.Bad))}
	for _, b := range r.Bad {
		out.Bad = append(out.Bad, BadBlock(b))
	}
	return out
}
