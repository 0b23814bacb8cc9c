package control

import (
	"fmt"
	"time"

	"github.com/ossmount/ossmount/credsource"
)

// formatCredentials is the stats line of the credentials, e.g.
// "ecs_ram_role, expire 2026-11-30T13:00:00Z (in 41m12s), 3 renewals, 0 failures".
func formatCredentials(s credsource.Status, now time.Time) string {
	if s.Source == "" {
		return "not reported"
	}
	out := s.Source
	if s.Expires.IsZero() {
		out += ", no expiry"
	} else {
		out += fmt.Sprintf(", expire %s (in %s)", s.Expires.UTC().Format(time.RFC3339), s.Expires.Sub(now).Round(time.Second))
	}
	out += ", " + Count(s.Renewals, "renewal") + ", " + Count(s.Failures, "failure")
	if s.LastErr != "" {
		out += "; last error: " + s.LastErr
	}
	return out
}

// expiryUnix is t in Unix seconds, 0 for the zero time.
func expiryUnix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
