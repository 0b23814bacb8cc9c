package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := &Volume{VolumeID: "ns/pv:1", StagingPath: "/var/lib/kubelet/x/globalmount", Bucket: "b", Prefix: "p/",
		Endpoint: "https://e", Options: []string{"parallel=8"}, CacheDir: "/c", LogFile: "/l", PID: 42, PIDStart: 7, Targets: []string{"/t1", "/t2"}}
	if err := s.Save(v); err != nil {
		t.Fatal(err)
	}
	v.Targets = v.Targets[:1]
	if err := s.Save(v); err != nil { // replaces
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, Name(v.VolumeID)+".json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("record file: %v %v", st, err)
	}
	got, errs := s.Load()
	if len(errs) > 0 || len(got) != 1 || !reflect.DeepEqual(got[0], v) {
		t.Fatalf("loaded %+v %v, want %+v", got, errs, v)
	}
	if err := s.Delete(v.VolumeID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); len(got) != 0 {
		t.Errorf("deleted record loaded: %v", got)
	}
}

// TestDamagedRecordsAreNotTrusted: a record whose bytes changed, a file of
// another format, a record under another volume's name, or a truncated
// file is reported and left out; temp files of an interrupted write are
// removed at open.
func TestDamagedRecordsAreNotTrusted(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	good := &Volume{VolumeID: "good", StagingPath: "/s", CacheDir: "/c"}
	for _, id := range []string{"good", "flipped", "truncated", "moved"} {
		v := *good
		v.VolumeID = id
		if err := s.Save(&v); err != nil {
			t.Fatal(err)
		}
	}
	path := func(id string) string { return filepath.Join(dir, Name(id)+".json") }
	b, _ := os.ReadFile(path("flipped"))
	// Still a well-formed record, pointing elsewhere: only the checksum tells.
	_ = os.WriteFile(path("flipped"), bytes.Replace(b, []byte(`"/s"`), []byte(`"/x"`), 1), 0o600)
	b, _ = os.ReadFile(path("truncated"))
	_ = os.WriteFile(path("truncated"), b[:len(b)/2], 0o600)
	_ = os.Rename(path("moved"), path("elsewhere"))
	_ = os.WriteFile(filepath.Join(dir, "foreign.json"), []byte(`{"format":"other","sha256":"","volume":{}}`), 0o600)
	_ = os.WriteFile(filepath.Join(dir, ".x-123.tmp"), []byte("partial"), 0o600)

	s, _ = Open(dir)
	got, errs := s.Load()
	if len(got) != 1 || got[0].VolumeID != "good" {
		t.Errorf("loaded %v, want only the good record", got)
	}
	if len(errs) != 4 {
		t.Errorf("errors %v, want 4", errs)
	}
	corrupt := 0
	for _, err := range errs {
		if errors.Is(err, ErrCorrupt) {
			corrupt++
		}
	}
	if corrupt != 3 { // flipped, truncated, foreign; moved is a name mismatch
		t.Errorf("%d of %v are ErrCorrupt, want 3", corrupt, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, ".x-123.tmp")); !os.IsNotExist(err) {
		t.Error("temp file of an interrupted write left in place")
	}
}
