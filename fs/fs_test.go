package fs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// go-fuse's messages go to the mount's log at debug level, never at info.
func TestGoFuseLogsAtDebug(t *testing.T) {
	var buf bytes.Buffer
	info := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	goFuseLogger(info).Println("trySplice: splice: want 1052688 bytes, max pipe size 1048576")
	if buf.Len() != 0 {
		t.Fatalf("go-fuse message logged at info level: %s", buf.String())
	}
	debug := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	goFuseLogger(debug).Println("writer: Write/Writev failed")
	if out := buf.String(); !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "Write/Writev failed") {
		t.Fatalf("go-fuse message at debug level: %q", out)
	}
}
