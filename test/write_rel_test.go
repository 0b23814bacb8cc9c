package test

import (
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"testing"
	"time"

	"github.com/ossmount/ossmount/config"
	"github.com/ossmount/ossmount/test/ossemu"
)

// TestWriteBigFileBoundedRSS writes a big file (4 GiB with -reliability,
// 512 MiB in make test, more than the bound) through the mount with the default part size and
// parallelism, and checks the object's size and CRC64 and that the
// daemon's peak RSS stayed bounded: the part buffers bound what writes
// hold, whatever the file's size. Every part upload stalls a little, so a
// writer that did not wait for its parts would pile the file up in memory.
// The emulator keeps only the parts' CRC64s (it cannot hold 4 GiB).
func TestWriteBigFileBoundedRSS(t *testing.T) {
	size := int64(512 << 20)
	if *reliabilityFlag {
		size = 4 << 30
	}
	// The part buffers are (upload_parallel + 2) × upload_part_size: 144
	// MiB with the defaults; the rest is the daemon's own.
	const maxRSS = 256 << 20
	e := newEnv(t)
	e.emu.SetDiscardUploadData(true)
	e.emu.SetUploadFaults(ossemu.UploadFaults{StallAfterBytes: 1, StallDuration: 300 * time.Millisecond})
	e.mount("rw", "cache_size=64M") // seeds files up to 16M only: no spool for this one
	pid := e.cmd.Process.Pid
	resetPeakRSS(pid)
	f, err := os.Create(e.path("big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	src := &ossemu.PatternReaderAt{Seed: 77, Size: size}
	crc := crc64.New(crc64.MakeTable(crc64.ECMA))
	buf := make([]byte, 1<<20)
	t0 := time.Now()
	for off := int64(0); off < size; off += int64(len(buf)) {
		n, err := src.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		crc.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	elapsed := time.Since(t0)
	peak := procStatus(pid, "VmHWM")
	info, ok := e.emu.Object(testBucket, "big.bin")
	if !ok || info.Size != size || info.CRC64 != crc.Sum64() {
		t.Fatalf("stored %+v (found %v), want size %d CRC64 %d", info, ok, size, crc.Sum64())
	}
	addRelRow(relRow{Kind: fmt.Sprintf("write %d MiB (%d MiB parts × %d)", size>>20, config.DefaultUploadPartSize>>20, config.DefaultUploadParallel), BytesVerified: size, PeakRSS: peak,
		Note: fmt.Sprintf("CRC64 of the object checked; %.0f MB/s", float64(size)/elapsed.Seconds()/1e6)})
	if peak > maxRSS {
		t.Fatalf("daemon peak RSS %d MiB, want under %d MiB", peak>>20, maxRSS>>20)
	}
	t.Logf("peak RSS %d MiB", peak>>20)
}
