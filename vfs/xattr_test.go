package vfs

import "testing"

func TestRestoreState(t *testing.T) {
	for _, c := range []struct{ class, header, want string }{
		{"Standard", "", ""},
		{"IA", "", ""},
		{"Archive", "", "not restored"},
		{"ColdArchive", "", "not restored"},
		{"DeepColdArchive", `ongoing-request="true"`, "restoring"},
		{"Archive", `ongoing-request="false", expiry-date="Sun, 16 Apr 2017 08:12:33 GMT"`, "restored until 2017-04-16T08:12:33Z"},
		{"Archive", `ongoing-request="false", expiry-date="soon"`, `ongoing-request="false", expiry-date="soon"`},
	} {
		if got := restoreState(c.class, c.header); got != c.want {
			t.Errorf("restoreState(%q, %q) = %q, want %q", c.class, c.header, got, c.want)
		}
	}
}
