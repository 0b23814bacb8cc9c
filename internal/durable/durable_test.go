package durable

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile replaces the file with a new inode and the asked mode, and
// leaves no temporary file; the names it would leave are IsTemp's.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rec.json")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(p)
	if err := WriteFile(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(p)
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	if st2.Mode().Perm() != 0o640 || os.SameFile(st1, st2) {
		t.Fatalf("mode %v, same inode %v", st2.Mode().Perm(), os.SameFile(st1, st2))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left %d files", len(ents))
	}
	for name, want := range map[string]bool{".rec.json-123.tmp": true, "rec.json": false, "x.tmp": false, ".hidden": false} {
		if IsTemp(name) != want {
			t.Errorf("IsTemp(%q) = %v", name, !want)
		}
	}
}
