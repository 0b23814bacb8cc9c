package test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/test/ossemu"
)

// Reliability cases of issue 14 (make reliability runs them at full
// scale): objects replaced by objects of another size under open files,
// and objects replaced within the second of the cached version under
// revalidate=mtime.

// TestReplaceWithDifferentSize opens files, reads a part of each, replaces
// every object by a smaller or a bigger one, and checks, after the
// attribute TTL: fstat on the old fds reports the old size (or ESTALE once
// the mount knows of the change), never the new one; the old fds read on
// the old bytes or fail with ESTALE, never a different length; new opens
// and stat of the path see the new version.
func TestReplaceWithDifferentSize(t *testing.T) {
	files, size := 8, 2*mib
	if *reliabilityFlag {
		files, size = 32, 16*mib
	}
	e := newEnv(t)
	e.mount(append(smallBlocks, fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))...)
	pid := e.cmd.Process.Pid
	resetPeakRSS(pid)
	row := relRow{Kind: fmt.Sprintf("replace with a different size: %d open files of %d MiB, half smaller, half bigger", files, size>>20)}
	key := func(i int) string { return fmt.Sprintf("resize/o%02d.bin", i) }
	newSize := func(i int) int {
		if i%2 == 0 {
			return size/2 + i*4099 // smaller
		}
		return size*3/2 + i*4099 // bigger
	}
	for i := 0; i < files; i++ {
		e.put(key(i), pattern(int64(7000+i), size))
	}
	old := make([]*os.File, files)
	headLen := 512 * kib
	for i := range old {
		f, err := os.Open(e.path(key(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		old[i] = f
		head := make([]byte, headLen)
		if _, err := io.ReadFull(f, head); err != nil {
			t.Fatalf("%s: %v", key(i), err)
		}
		row.Reads++
		row.add(compareBytes(head, pattern(int64(7000+i), size)[:headLen]))
	}
	for i := 0; i < files; i++ {
		e.put(key(i), pattern(int64(8000+i), newSize(i)))
	}
	pastTTL()
	var oldSizes, staleFstats int
	for i, f := range old {
		oldData := pattern(int64(7000+i), size)
		st, err := fstatSize(f)
		switch {
		case errors.Is(err, syscall.ESTALE):
			staleFstats++
		case err != nil:
			t.Errorf("%s: fstat of the old fd: %v", key(i), err)
		case st == int64(size):
			oldSizes++
		default:
			row.WrongBytes++
			t.Errorf("%s: fstat of the old fd says %d bytes; the old version has %d, the new %d", key(i), st, size, newSize(i))
		}
		// The old fd reads on.
		rest, err := io.ReadAll(f)
		row.Reads++
		o := compareBytes(rest, oldData[headLen:headLen+min(len(rest), size-headLen)])
		row.add(o)
		switch {
		case err != nil && errors.Is(err, syscall.ESTALE):
			row.Errors++
		case err != nil:
			t.Errorf("%s: reading the old fd on: %v, want ESTALE or the old bytes", key(i), err)
		case headLen+len(rest) != size:
			row.WrongBytes += int64(max(headLen+len(rest)-size, size-headLen-len(rest)))
			t.Errorf("%s: the old fd read %d bytes to its end; the old version has %d", key(i), headLen+len(rest), size)
		}
		// The path and new opens see the new version.
		newData := pattern(int64(8000+i), newSize(i))
		if fi, err := os.Stat(e.path(key(i))); err != nil || fi.Size() != int64(len(newData)) {
			row.WrongBytes++
			t.Errorf("%s: stat after the replace: %v %v, want size %d", key(i), fi, err, len(newData))
		}
		got, err := os.ReadFile(e.path(key(i)))
		row.Reads++
		if err != nil {
			t.Errorf("%s: new open: %v", key(i), err)
			continue
		}
		row.add(compareBytes(got, newData))
	}
	if row.WrongBytes > 0 {
		t.Errorf("%d wrong bytes", row.WrongBytes)
	}
	e.alive(t)
	row.PeakRSS = procStatus(pid, "VmHWM")
	row.Note = fmt.Sprintf("old fds after the TTL: fstat gave the old size %d×, ESTALE %d×; every new open saw the new size", oldSizes, staleFstats)
	addRelRow(row)
}

// TestSameSecondMtimeChange replaces objects again and again within the
// Last-Modified second of the version the mount cached, with
// revalidate=mtime: every read after a replacement must return the new
// bytes (If-Modified-Since alone would answer 304 and serve the old ones).
func TestSameSecondMtimeChange(t *testing.T) {
	files, rounds := 4, 5
	if *reliabilityFlag {
		files, rounds = 16, 25
	}
	e := newEnv(t)
	e.mount("revalidate=mtime", fmt.Sprintf("metadata_ttl=%dms", versionTTL.Milliseconds()))
	pid := e.cmd.Process.Pid
	resetPeakRSS(pid)
	row := relRow{Kind: fmt.Sprintf("same-second mtime change, revalidate=mtime: %d objects × %d replacements", files, rounds)}
	second := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	key := func(i int) string { return fmt.Sprintf("mtime/o%02d.bin", i) }
	seed := func(i, r int) int64 { return int64(9000 + 100*i + r) }
	const size = 200 * kib
	for r := 0; r < rounds; r++ {
		for i := 0; i < files; i++ {
			e.put(key(i), pattern(seed(i, r), size), ossemu.WithLastModified(second))
		}
		if r > 0 {
			pastTTL()
		}
		for i := 0; i < files; i++ {
			got, err := os.ReadFile(e.path(key(i)))
			row.Reads++
			if err != nil {
				row.Errors++
				t.Errorf("%s round %d: %v", key(i), r, err)
				continue
			}
			o := compareBytes(got, pattern(seed(i, r), size))
			row.add(o)
			if o.wrong > 0 {
				if r > 0 && bytes.Equal(got, pattern(seed(i, r-1), size)) {
					t.Errorf("%s round %d: the previous version was served", key(i), r)
				} else {
					t.Errorf("%s round %d: wrong bytes", key(i), r)
				}
			}
		}
	}
	e.alive(t)
	row.PeakRSS = procStatus(pid, "VmHWM")
	row.Note = "every replacement kept the cached version's Last-Modified second"
	addRelRow(row)
}

// add counts a read's outcome in the row.
func (r *relRow) add(o readOutcome) {
	r.BytesVerified += o.verified
	r.WrongBytes += o.wrong
}
