package main

import (
	"slices"
	"testing"
)

func TestSubcommandArgs(t *testing.T) {
	for _, c := range []struct {
		in, positional, interleaved []string
	}{
		{[]string{"/mnt"}, []string{"/mnt"}, []string{"--", "/mnt"}},
		{[]string{"/mnt", "--json"}, []string{"/mnt"}, []string{"--json", "--", "/mnt"}},
		{[]string{"--key", "a b", "/mnt"}, []string{"/mnt"}, []string{"--key", "a b", "--", "/mnt"}},
		{[]string{"--cache-dir", "/c", "--json"}, nil, []string{"--cache-dir", "/c", "--json", "--"}},
		{[]string{"-o", "ro", "/mnt"}, []string{"/mnt"}, []string{"-o", "--", "ro", "/mnt"}},
		{[]string{"--", "-odd name"}, []string{"-odd name"}, []string{"--", "-odd name"}},
	} {
		if got := positional(c.in); !slices.Equal(got, c.positional) {
			t.Errorf("positional(%q) = %q, want %q", c.in, got, c.positional)
		}
		if got := interleave(c.in); !slices.Equal(got, c.interleaved) {
			t.Errorf("interleave(%q) = %q, want %q", c.in, got, c.interleaved)
		}
	}
}

func TestNotASubcommand(t *testing.T) {
	// A bucket named like a subcommand mounts, when its mountpoint is no
	// ossmount mount; cache needs one of its verbs.
	for _, args := range [][]string{
		{},
		{"stats", t.TempDir()},
		{"warm", t.TempDir(), "-o", "ro"},
		{"cache", t.TempDir()},
		{"cache", "list"},
		{"mybucket", t.TempDir()},
	} {
		if _, ok := runSubcommand(args); ok {
			t.Errorf("%q taken as a subcommand", args)
		}
	}
}
