package test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOwnershipAndModes: uid, gid and umask shape every file and directory.
func TestOwnershipAndModes(t *testing.T) {
	e := newEnv(t)
	e.put("d/f.txt", []byte("f"))
	e.mount("uid=1234", "gid=4321", "umask=0027")
	for p, want := range map[string]os.FileMode{"d": os.ModeDir | 0o550, "d/f.txt": 0o440, ".": os.ModeDir | 0o550} {
		st, err := os.Stat(e.path(p))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode() != want || sys.Uid != 1234 || sys.Gid != 4321 {
			t.Errorf("%s: mode %v uid %d gid %d; want %v 1234 4321", p, st.Mode(), sys.Uid, sys.Gid, want)
		}
	}
}

// asNobody runs cat as the unprivileged user nobody and returns its error
// text ("" on success).
func asNobody(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command("cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)) + " " + err.Error()
	}
	return ""
}

// openForNobody lets user nobody walk down to the mountpoint (t.TempDir is 0700).
func openForNobody(t *testing.T, mnt string) {
	t.Helper()
	for d := filepath.Dir(mnt); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAllowOther: without allow_other other users are kept out by FUSE;
// with it, default_permissions is implied so file modes are enforced, and
// an explicit default_permissions=false turns the checks off.
func TestAllowOther(t *testing.T) {
	cases := []struct {
		name     string
		opts     []string
		readable bool
	}{
		{"no allow_other", []string{"file_mode=0444"}, false},
		{"allow_other world-readable", []string{"allow_other", "file_mode=0444"}, true},
		{"allow_other enforces modes", []string{"allow_other", "file_mode=0400"}, false},
		{"allow_other with checks explicitly off", []string{"allow_other", "default_permissions=false", "file_mode=0400"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			openForNobody(t, e.mnt)
			e.put("f.txt", []byte("f"))
			e.mount(c.opts...)
			if _, err := os.ReadFile(e.path("f.txt")); err != nil {
				t.Fatalf("root cannot read: %v", err)
			}
			msg := asNobody(t, e.path("f.txt"))
			if c.readable != (msg == "") {
				t.Fatalf("nobody reading f.txt: %q; want readable=%v", msg, c.readable)
			}
		})
	}
}

// TestNonempty: mounting over a non-empty directory needs nonempty.
func TestNonempty(t *testing.T) {
	e := newEnv(t)
	e.put("f.txt", []byte("f"))
	if err := os.WriteFile(e.path("hidden-below"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.mount("nonempty")
	if _, err := os.Stat(e.path("hidden-below")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the mount does not cover the directory: %v", err)
	}
	if string(mustRead(t, e.path("f.txt"))) != "f" {
		t.Fatal("f.txt")
	}
}
