package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSubcommandArgs(t *testing.T) {
	for _, c := range []struct {
		in, interleaved []string
	}{
		{[]string{"/mnt"}, []string{"--", "/mnt"}},
		{[]string{"/mnt", "--json"}, []string{"--json", "--", "/mnt"}},
		{[]string{"--key", "a b", "/mnt"}, []string{"--key", "a b", "--", "/mnt"}},
		{[]string{"--cache-dir", "/c", "--json"}, []string{"--cache-dir", "/c", "--json", "--"}},
		{[]string{"--", "-odd name"}, []string{"--", "-odd name"}},
	} {
		if got := interleave(c.in); !slices.Equal(got, c.interleaved) {
			t.Errorf("interleave(%q) = %q, want %q", c.in, got, c.interleaved)
		}
	}
}

// captureStderr runs f with os.Stderr redirected and returns what it wrote.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		var b []byte
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				done <- b
				return
			}
		}
	}()
	f()
	os.Stderr = old
	w.Close()
	return string(<-done)
}

// stats, warm and cache are subcommands whatever follows them: on a path
// outside a mount they say so and exit 1, creating nothing; the mount
// form of a bucket with such a name is BUCKET:/.
func TestSubcommandsAlwaysSubcommands(t *testing.T) {
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"stats", dir}, 1, dir + " is not inside an ossmount mount"},
		{[]string{"stats", "--json", dir}, 1, dir + " is not inside an ossmount mount"},
		{[]string{"warm", dir}, 1, dir + " is not inside an ossmount mount"},
		{[]string{"warm", filepath.Join(dir, "nope")}, 1, filepath.Join(dir, "nope") + ": no such file or directory"},
		{[]string{"cache", "du", dir}, 1, dir + " is not inside an ossmount mount"},
		{[]string{"stats", dir, "-o", "cache_dir=" + cacheDir}, 1, `to mount a bucket named "stats", write it as stats:/`},
		{[]string{"warm", dir, "-o", "ro"}, 1, `to mount a bucket named "warm", write it as warm:/`},
		{[]string{"cache", "ls", dir}, 2, `unknown cache command "ls": use one of du, verify, clear`},
		{[]string{"cache"}, 2, `unknown cache command: use one of du, verify, clear`},
		{[]string{"stats"}, 2, "stats takes one MOUNTPOINT"},
		{[]string{"warm"}, 2, "warm takes one or more PATHs"},
	} {
		var code int
		var ok bool
		out := captureStderr(t, func() { code, ok = runSubcommand(c.args) })
		if !ok || code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%q: subcommand %v, exit %d, stderr %q; want exit %d and %q", c.args, ok, code, out, c.code, c.want)
		}
	}
	if _, err := os.Stat(cacheDir); !os.IsNotExist(err) {
		t.Errorf("a subcommand created %s (%v)", cacheDir, err)
	}
	// The mount forms.
	for _, args := range [][]string{
		{},
		{"stats:/", dir},
		{"--", "stats", dir},
		{"-o", "ro", "warm", dir},
		{"mybucket", dir},
	} {
		if _, ok := runSubcommand(args); ok {
			t.Errorf("%q taken as a subcommand", args)
		}
	}
}
