package vfs

import (
	"path"
	"strings"
	"testing"
)

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

// TestLinkPath: ln -s texts resolve against the link's directory into
// paths of the mount, and linkText gives them back (cleaned); texts that
// lead out of the mount are refused.
func TestLinkPath(t *testing.T) {
	// The refusal says why (the log line carries it).
	if _, why := linkPath("a", "../../x"); why != "target above the mount root" {
		t.Errorf("linkPath climbing above the root: reason %q", why)
	}
	for _, c := range []struct{ dir, text, want string }{
		{"", "f", "f"},
		{"a", "../b/f", "b/f"},
		{"a/b", "./c/../f/", "a/b/f"},
		{"a", "..", ""},
		{"", "/etc/passwd", ""},
		{"a", "../../x", ""},
		{"", ".", ""},
		{"", "", ""},
		{"", strings.Repeat("n", 256), ""},
	} {
		rel, why := linkPath(c.dir, c.text)
		if rel != c.want || (rel == "") != (why != "") {
			t.Errorf("linkPath(%q, %q) = %q, %q; want %q", c.dir, c.text, rel, why, c.want)
			continue
		}
		if rel == "" {
			continue
		}
		v := &FS{opts: Options{Bucket: "bkt", Prefix: "data/"}}
		text := v.linkText(path.Join(c.dir, "ln"), v.key(rel))
		if path.Join(c.dir, text) != rel {
			t.Errorf("linkText of %q from %q = %q: does not lead back", rel, c.dir, text)
		}
	}
}
