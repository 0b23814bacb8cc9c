package checkpoint

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load (for a fixed version and for the
// version the header claims) and checks that it never panics and never
// returns a block outside the version. The seeds in testdata/fuzz/FuzzLoad
// are a valid file, a torn one, one with a tombstone and a foreign header.
func FuzzLoad(f *testing.F) {
	v := testVersion()
	f.Add(encodeHeader(v))
	f.Add(validFile(v, 4, true))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		p := filepath.Join(dir, "f"+strconv.Itoa(n))
		defer os.Remove(p)
		check := func(v Version) {
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			l, m, err := Load(p, v)
			if err != nil {
				if l != nil || m != nil {
					t.Fatalf("Load returned an error with results: %v", err)
				}
				return
			}
			defer l.Close()
			nb := v.NumBlocks()
			for b := range m {
				if b < 0 || b >= nb {
					t.Fatalf("block %d outside [0,%d)", b, nb)
				}
			}
			// The log stays usable: an append and a reload agree.
			if nb > 0 {
				if err := l.Add(nb-1, 42); err != nil {
					t.Fatal(err)
				}
				l.Close()
				l2, m2, err := Load(p, v)
				if err != nil {
					t.Fatalf("reload after append: %v", err)
				}
				l2.Close()
				if m2[nb-1] != 42 || len(m2) < len(m) {
					t.Fatalf("reload after append: %v, had %v", m2, m)
				}
			}
		}
		check(v)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if hv, err := ReadHeader(p); err == nil {
			check(hv)
		}
	})
}

// validFile returns a checkpoint for v with n added blocks, a tombstone for
// block 1 if tomb, and a torn partial record.
func validFile(v Version, n int, tomb bool) []byte {
	b := encodeHeader(v)
	var r [recordSize]byte
	for i := range n {
		encodeRecord(r[:], i, uint64(i)*7, false)
		b = append(b, r[:]...)
	}
	if tomb {
		encodeRecord(r[:], 1, 0, true)
		b = append(b, r[:]...)
	}
	return append(b, 1, 2, 3)
}
