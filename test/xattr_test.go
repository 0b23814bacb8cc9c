package test

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ossmount/ossmount/test/ossemu"
)

func getxattr(t *testing.T, p, name string) string {
	t.Helper()
	buf := make([]byte, 1024)
	n, err := unix.Getxattr(p, name, buf)
	for errors.Is(err, unix.EINTR) { // the Go runtime's preemption signal
		n, err = unix.Getxattr(p, name, buf)
	}
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, name, err)
	}
	return string(buf[:n])
}

func TestXattrsAndArchivedObject(t *testing.T) {
	e := newEnv(t)
	lm := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	info := e.put("x.bin", pattern(30, 100*kib), ossemu.WithLastModified(lm))
	e.put("cold.bin", []byte("frozen"), ossemu.WithStorageClass("Archive"))
	e.mount(smallBlocks...)
	p := e.path("x.bin")
	if got := getxattr(t, p, "user.oss.etag"); got != info.ETag {
		t.Errorf("etag %q, want %q", got, info.ETag)
	}
	if got := getxattr(t, p, "user.oss.last_modified"); got != lm.Format(time.RFC3339) {
		t.Errorf("last_modified %q", got)
	}
	if got := getxattr(t, p, "user.oss.storage_class"); got != "Standard" {
		t.Errorf("storage_class %q", got)
	}
	if got := getxattr(t, p, "user.oss.crc64"); got != strconv.FormatUint(info.CRC64, 10) {
		t.Errorf("crc64 %q, want %d", got, info.CRC64)
	}
	if got := getxattr(t, p, "user.ossmount.cached_bytes"); got != "0" {
		t.Errorf("cached_bytes before reading: %q", got)
	}
	mustRead(t, p)
	if got := getxattr(t, p, "user.ossmount.cached_bytes"); got != strconv.Itoa(100*kib) {
		t.Errorf("cached_bytes after reading: %q", got)
	}
	// ACLs and security labels: "not supported here" (GNU ls -l then
	// stops asking for them on this filesystem); unknown user names: none.
	for _, q := range []string{p, e.path("")} {
		for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default", "security.selinux"} {
			if _, err := unix.Getxattr(q, name, make([]byte, 64)); !errors.Is(err, unix.EOPNOTSUPP) {
				t.Errorf("%s of %s: %v, want EOPNOTSUPP", name, q, err)
			}
		}
	}
	if _, err := unix.Getxattr(p, "user.other", make([]byte, 64)); !errors.Is(err, unix.ENODATA) {
		t.Errorf("user.other: %v, want ENODATA", err)
	}
	// The kernel still forwards user.oss.* (it would stop after ENOSYS).
	if got := getxattr(t, p, "user.oss.etag"); got != info.ETag {
		t.Errorf("etag after the refused names: %q, want %q", got, info.ETag)
	}
	c := e.path("cold.bin")
	if got := getxattr(t, c, "user.oss.storage_class"); got != "Archive" {
		t.Errorf("archived storage_class %q", got)
	}
	if _, err := os.ReadFile(c); !errors.Is(err, syscall.EACCES) {
		t.Errorf("reading an archived object: %v, want EACCES", err)
	}
}
