package test

import (
	"strings"
	"testing"
)

// A cold read of a few MiB (1 MiB FUSE reads) logs nothing from go-fuse's
// splice path: not at the default level, and not at debug either, since
// replies from memory are not spliced at all.
func TestColdReadLogsNoSplice(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			e := newEnv(t)
			want := pattern(72, 6*mib+77)
			e.put("cold.bin", want)
			e.mount("log_level=" + level)
			assertSame(t, "cold.bin", mustRead(t, e.path("cold.bin")), want)
			e.unmount()
			log := readLog(e)
			if !strings.Contains(log, "msg=mounted") {
				t.Fatal("nothing logged: wrong log file?")
			}
			if strings.Contains(log, "trySplice") {
				t.Fatalf("log at %s has trySplice lines:\n%s", level, tail(log, 2000))
			}
		})
	}
}
