package vfs

import "testing"

func TestLinkText(t *testing.T) {
	for _, c := range []struct{ prefix, link, target, want string }{
		{"", "ln", "f", "f"},
		{"", "a/ln", "b/c/f", "../b/c/f"},
		{"", "a/b/ln", "a/f", "../f"},
		{"", "a/ln", "a/sub/", "sub"},
		{"", "a/ln", "a", "."},
		{"data/", "ln", "data/f", "f"},
		{"data/", "x/ln", "data/", ".."},
		{"data/", "ln", "other/f", "oss://bkt/other%2Ff"},
		{"data/", "ln", "data/../../etc/passwd", "oss://bkt/data%2F..%2F..%2Fetc%2Fpasswd"},
		{"", "ln", "a//b", "oss://bkt/a%2F%2Fb"},
		{"", "ln", "", "."},
	} {
		v := &FS{opts: Options{Bucket: "bkt", Prefix: c.prefix}}
		if got := v.linkText(c.link, c.target); got != c.want {
			t.Errorf("prefix %q link %q target %q: %q, want %q", c.prefix, c.link, c.target, got, c.want)
		}
	}
}
