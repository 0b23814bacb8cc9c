package test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowDirStats is what a slow directory read sent.
type slowDirStats struct {
	entries, pages, heads, oneKeyLists, otherLists int
}

func (s slowDirStats) String() string {
	return fmt.Sprintf("%d entries stat'ed; %d listing pages, %d HEADs, %d one-key listings, %d other listings",
		s.entries, s.pages, s.heads, s.oneKeyLists, s.otherLists)
}

// putKeys puts n empty objects dir/k00000... .
func (e *env) putKeys(dir string, n int) {
	for i := range n {
		e.put(fmt.Sprintf("%s/k%06d", dir, i), []byte("x"))
	}
}

// slowDirRead reads directory dir of the mount as os.scandir does, batch
// entries per getdents, stat'ing every entry and pausing after each batch,
// and counts the requests it caused.
func (e *env) slowDirRead(t *testing.T, dir string, batch int, pause time.Duration) slowDirStats {
	t.Helper()
	e.emu.ResetRequests()
	d, err := os.Open(e.path(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var s slowDirStats
	for {
		ents, err := d.ReadDir(batch)
		for _, ent := range ents {
			fi, err := os.Lstat(filepath.Join(e.path(dir), ent.Name()))
			if err != nil {
				t.Fatalf("stat of entry %d (%s): %v", s.entries, ent.Name(), err)
			}
			if fi.Size() != 1 {
				t.Fatalf("%s: size %d, want 1", ent.Name(), fi.Size())
			}
			s.entries++
		}
		time.Sleep(pause)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range e.emu.Requests() {
		switch {
		case r.Method == "HEAD":
			s.heads++
		case r.Op == "ListObjectsV2" && strings.Contains(r.RawQuery, "max-keys=1000"):
			s.pages++
		case r.Op == "ListObjectsV2" && strings.Contains(r.RawQuery, "max-keys=1&") || strings.HasSuffix(r.RawQuery, "max-keys=1"):
			s.oneKeyLists++
		case r.Op == "ListObjectsV2" || r.Op == "ListObjects":
			s.otherLists++
		}
	}
	return s
}

// checkSlowDirRead fails unless a read of n keys cost its listing pages
// plus a constant: no HEAD or one-key listing per entry.
func checkSlowDirRead(t *testing.T, s slowDirStats, n int) {
	t.Helper()
	const slack = 4 // the directory's own lookup, a rewind's listing
	pages := (n + 999) / 1000
	if s.entries != n {
		t.Errorf("read %d entries, want %d", s.entries, n)
	}
	if s.heads+s.oneKeyLists > slack || s.pages > pages+slack || s.otherLists > slack {
		t.Errorf("a slow read of %d keys sent more than its %d listing pages plus %d: %v", n, pages, slack, s)
	}
}

// A directory read slower than metadata_ttl (its listing expires many
// times over while it is read) answers every stat from the listing it is
// returning: no HEAD per entry.
func TestSlowDirectoryReadPastTheTTL(t *testing.T) {
	e := newEnv(t)
	const n = 3000
	e.putKeys("big", n)
	e.mount("metadata_ttl=50ms", "negative_ttl=50ms")
	s := e.slowDirRead(t, "big", 64, 5*time.Millisecond)
	t.Log(s)
	checkSlowDirRead(t, s, n)

	// ls -l (READDIRPLUS, then a stat per entry), right after: its
	// listing may expire during the read too.
	e.emu.ResetRequests()
	out, err := exec.Command("ls", "-l", e.path("big")).Output()
	if err != nil {
		t.Fatalf("ls -l: %v", err)
	}
	if lines := strings.Count(string(out), "\n"); lines != n+1 {
		t.Fatalf("ls -l printed %d lines, want %d", lines, n+1)
	}
	heads, _ := e.emuCount("HeadObject")
	if heads > 4 {
		t.Errorf("ls -l of %d keys with metadata_ttl=50ms sent %d HEADs", n, heads)
	}
}
