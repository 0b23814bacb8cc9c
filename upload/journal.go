package upload

import (
	"github.com/ossmount/ossmount/internal/durable"
	"github.com/ossmount/ossmount/store"

	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ossmount/ossmount/crc64ecma"
)

// Journal records the multipart uploads in progress, one small file per
// upload in a directory of the cache dir, so that the next mount can abort
// the uploads a killed daemon left behind (their parts are billed until
// aborted). A record is written like the cache's checkpoints: temp file,
// fsync, rename, fsync of the directory; it ends with a CRC64 of its
// contents, and a record that fails the check is discarded (and logged).
// File names are hashes, never keys.
type Journal struct {
	dir string
	log *slog.Logger
}

// journalMagic starts every record; the version is its last byte.
const journalMagic = "OSSMUPL1"

// OpenJournal opens (creating it 0700) the journal directory dir.
func OpenJournal(dir string, log *slog.Logger) (*Journal, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload journal: %w", err)
	}
	return &Journal{dir: dir, log: log}, nil
}

func (j *Journal) name(key, uploadID string) string {
	h := sha256.Sum256([]byte(key + "\x00" + uploadID))
	return filepath.Join(j.dir, hex.EncodeToString(h[:16])+".upload")
}

func encodeRecord(r store.InProgress) []byte {
	b := []byte(journalMagic)
	for _, s := range []string{r.Key, r.UploadID} {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Initiated.UnixNano()))
	return binary.LittleEndian.AppendUint64(b, crc64ecma.Checksum(b))
}

var errBadRecord = errors.New("damaged upload journal record")

func decodeRecord(b []byte) (store.InProgress, error) {
	if len(b) < len(journalMagic)+8+8+8 || string(b[:len(journalMagic)]) != journalMagic {
		return store.InProgress{}, errBadRecord
	}
	body, sum := b[:len(b)-8], binary.LittleEndian.Uint64(b[len(b)-8:])
	if crc64ecma.Checksum(body) != sum {
		return store.InProgress{}, errBadRecord
	}
	rest := body[len(journalMagic):]
	var strs [2]string
	for i := range strs {
		if len(rest) < 4 {
			return store.InProgress{}, errBadRecord
		}
		n := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(len(rest)) < uint64(n) {
			return store.InProgress{}, errBadRecord
		}
		strs[i], rest = string(rest[:n]), rest[n:]
	}
	if len(rest) != 8 {
		return store.InProgress{}, errBadRecord
	}
	return store.InProgress{Key: strs[0], UploadID: strs[1], Initiated: time.Unix(0, int64(binary.LittleEndian.Uint64(rest)))}, nil
}

// Add records an upload in progress, durably.
func (j *Journal) Add(r store.InProgress) error {
	if err := durable.WriteFile(j.name(r.Key, r.UploadID), encodeRecord(r), 0o600); err != nil {
		return fmt.Errorf("upload journal: %w", err)
	}
	return nil
}

// Remove forgets an upload (committed or aborted). A removal a crash
// loses only makes the next mount abort an upload that no longer exists.
func (j *Journal) Remove(key, uploadID string) {
	if err := os.Remove(j.name(key, uploadID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		j.log.Warn("upload journal: cannot remove a record", "key", key, "err", err)
	}
}

// Pending returns the uploads recorded and not removed. Damaged records and
// leftover temp files are deleted.
func (j *Journal) Pending() ([]store.InProgress, error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("upload journal: %w", err)
	}
	var out []store.InProgress
	for _, e := range ents {
		p := filepath.Join(j.dir, e.Name())
		if durable.IsTemp(e.Name()) {
			os.Remove(p)
			continue
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".upload") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("upload journal: %w", err)
		}
		r, err := decodeRecord(b)
		if err != nil || j.name(r.Key, r.UploadID) != p {
			j.log.Warn("upload journal: damaged record discarded (its upload, if any, is not aborted; OSS lifecycle rules can expire it)", "file", e.Name())
			os.Remove(p)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
