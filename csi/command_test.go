package csi

import "testing"

// TestIsCommandLine: "ossmount csi ..." is the CSI driver only when its
// flags say so; otherwise it mounts a bucket named csi.
func TestIsCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		csi  bool
	}{
		{[]string{"--endpoint", "unix:///csi/csi.sock", "--node-id", "n"}, true},
		{[]string{"--endpoint=unix:///csi/csi.sock"}, true},
		{[]string{"--node-id=n"}, true},
		{[]string{"--help"}, true},
		{[]string{"/mnt/x", "--endpoint", "https://oss-cn-hangzhou.aliyuncs.com"}, false},
		{[]string{"/mnt/x", "-o", "endpoint=unix:/x"}, false},
		{[]string{"/mnt/x"}, false},
		{nil, false},
	} {
		if got := IsCommandLine(c.args); got != c.csi {
			t.Errorf("IsCommandLine(%q) = %v, want %v", c.args, got, c.csi)
		}
	}
}
