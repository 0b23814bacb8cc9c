package control

import (
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/credsource"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 10 << 30: "10.0 GiB", 3 << 40: "3.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSocketPath(t *testing.T) {
	if got := SocketPath("/var/cache/ossmount"); got != "/var/cache/ossmount/control.sock" {
		t.Errorf("short dir: %s", got)
	}
	deep := "/" + strings.Repeat("d", 120)
	a, b := SocketPath(deep), SocketPath(deep+"x")
	if !strings.HasPrefix(a, "/run/ossmount/") || len(a) >= 100 || a == b {
		t.Errorf("deep dirs: %s, %s", a, b)
	}
}

func TestFormatNamesEveryFigure(t *testing.T) {
	s := Snapshot{Source: "bkt", Mountpoint: "/mnt", Requests: map[string]int64{"GET": 7, "HEAD": 2, "LIST": 1},
		Conditional: 3, NotModified: 2, BytesFetched: 2048, CacheHitBytes: 3072, CacheMissBytes: 1024, CacheReadAheadBytes: 4096,
		CacheHitRatio: 0.375, NegativeLookups: 3, Opens: 1, Retries: 1, CacheObjects: 1, CacheBlocks: 2,
		CacheUsedBytes: 4096, Errors: map[string]int64{"transient": 4}, InFlight: 5,
		Credentials: credsource.Status{Source: "oidc", Expires: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC), Renewals: 7, Failures: 1, LastErr: "STS down"}}
	out := s.Format()
	for _, want := range []string{"bkt on /mnt", "GET 7  HEAD 2  LIST 1  (1 open, 0 part GETs, 1 retry)", "3 sent, 2 answered 304",
		"fetched      2.0 KiB", "not found    3 lookups of absent names (HEAD 404: normal, not errors)",
		"3.0 KiB hit, 1.0 KiB miss, 4.0 KiB read ahead (hit ratio 37.5%)", "4.0 KiB of unbounded in 2 blocks of 1 object;",
		"5 GETs", "transient=4",
		"credentials  oidc, expire 2031-01-02T03:04:05Z (in ", "7 renewals, 1 failure; last error: STS down"} {
		if !strings.Contains(out, want) {
			t.Errorf("Format lacks %q:\n%s", want, out)
		}
	}
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		noun string
		want string
	}{{0, "object", "0 objects"}, {1, "object", "1 object"}, {2, "file", "2 files"}, {1, "retry", "1 retry"}, {3, "retry", "3 retries"}} {
		if got := Count(c.n, c.noun); got != c.want {
			t.Errorf("Count(%d, %q) = %q, want %q", c.n, c.noun, got, c.want)
		}
	}
}
