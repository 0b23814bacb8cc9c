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
		Conditional: 3, NotModified: 2, BytesFetched: 2048, CacheHitBytes: 3072, CacheMissBytes: 1024, CacheHitRatio: 0.75,
		CacheUsedBytes: 4096, Errors: map[string]int64{"transient": 4}, InFlight: 5,
		Credentials: credsource.Status{Source: "oidc", Expires: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC), Renewals: 7, Failures: 1, LastErr: "STS down"}}
	out := s.Format()
	for _, want := range []string{"bkt on /mnt", "GET 7  HEAD 2  LIST 1", "3 sent, 2 answered 304", "fetched      2.0 KiB",
		"3.0 KiB hit, 1.0 KiB miss (hit ratio 75.0%)", "4.0 KiB of unbounded", "5 GETs", "transient=4",
		"credentials  oidc, expire 2031-01-02T03:04:05Z (in ", "7 renewals, 1 failures; last error: STS down"} {
		if !strings.Contains(out, want) {
			t.Errorf("Format lacks %q:\n%s", want, out)
		}
	}
}
