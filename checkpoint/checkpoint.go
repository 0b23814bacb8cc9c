// Package checkpoint is the durable, checksummed record of which blocks of
// one object version are complete in the local cache, and of their CRC64s.
//
// # File format
//
// A checkpoint file is a header followed by fixed-size records. All integers
// are little-endian.
//
//	header:
//	  [8]  magic "OSSMCKP1"
//	  u32  format version (1)
//	  u32  header length in bytes, including the trailing CRC
//	  identity (the same canonical encoding Version.ID hashes):
//	    u32 len, bucket | u32 len, key | u32 len, ETag
//	    i64 size | i64 last-modified (Unix seconds) | i64 block size
//	  u32  CRC32C (Castagnoli) of every header byte before it
//	record (16 bytes):
//	  u32  block index, bit 31 set for a tombstone (block removed)
//	  u64  CRC64-ECMA of the block's data
//	  u32  CRC32C of the 12 bytes before it
//
// Records are applied in order, so a later record overrides an earlier one
// for the same block (an add after a remove re-adds it, and so on).
//
// # Durability
//
// A fresh file (Create, Compact) is written to a temporary file
// "<path>.tmp<random>" in the same directory, fsynced, renamed over path, and
// the directory is fsynced: a crash leaves either the old file or the new one,
// never a mix. (CreateUnsynced skips the fsyncs, for a new file whose loss
// costs nothing.) Left-over temporary files are the cache scanner's to
// delete.
//
// Add and Remove append one record with a single pwrite(2) at the end of the
// valid data and no fsync: once the call returns, the record is in the page
// cache and survives kill -9 of the process. A power loss can lose the latest
// records (Sync bounds that window) or leave a torn tail: a partial record, or
// records that read back as zeros or garbage. Load accepts such a tail — every
// record after the last one whose checksum holds — as torn, ignores it and
// truncates it off before appending. A bad record followed by a valid one
// cannot come from a torn append, so Load reports ErrCorrupt. Losing a
// record only ever loses a cached block (or, for a tombstone, lists a block
// whose data may be gone: the cache checks every block's CRC64 on its first
// read, so such a block is refetched, never served).
//
// Because a failed or short append does not advance the append offset, the
// next append overwrites the partial bytes instead of landing after them.
//
// # Concurrency
//
// A Log is safe for concurrent use. Log.mu serializes appends and file
// swaps (Compact); it is held across the record's pwrite (a 16-byte write
// into the page cache) and across Compact's rewrite, never across Sync's
// fdatasync. There is no other lock.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ossmount/ossmount/internal/durable"
	"github.com/ossmount/ossmount/version"
)

const (
	magic         = "OSSMCKP1"
	formatVersion = 1
	// recordSize is the size of one record in bytes.
	recordSize = 16
	// fixedHeader is magic + format version + header length.
	fixedHeader = len(magic) + 4 + 4
	// maxHeader bounds the header length Load will believe (OSS keys are at
	// most 1023 bytes, bucket names 63).
	maxHeader = 64 << 10
	tombstone = 1 << 31
	// maxBlocks bounds the number of blocks of a Version: block indices
	// are stored in 31 bits.
	maxBlocks = math.MaxInt32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt means a checkpoint file is damaged: bad magic, unknown format
// version, bad header checksum, a bad record before the tail, or a record for
// a block outside the version. Its contents must not be trusted.
var ErrCorrupt = errors.New("checkpoint corrupt")

// ErrMismatch means a checkpoint file is valid but describes another
// Version than the one asked for.
var ErrMismatch = errors.New("checkpoint describes another object version")

// Version is the object version a checkpoint describes (version.Version).
type Version = version.Version

// Valid reports whether v can be checkpointed: a positive block size, a
// non-negative size, and fewer than 2³¹-1 blocks.
func Valid(v Version) error {
	switch {
	case v.BlockSize <= 0:
		return fmt.Errorf("checkpoint: block size %d", v.BlockSize)
	case v.Size < 0:
		return fmt.Errorf("checkpoint: size %d", v.Size)
	case v.Size/v.BlockSize >= maxBlocks:
		return fmt.Errorf("checkpoint: %d bytes in blocks of %d is too many blocks", v.Size, v.BlockSize)
	}
	return nil
}

// encodeHeader returns the complete header for v.
func encodeHeader(v Version) []byte {
	id := v.Identity()
	n := fixedHeader + len(id) + 4
	b := make([]byte, 0, n)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, id...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHeader parses the header at the start of b. It returns the version
// and the header length. need > 0 means b is too short: at least need bytes
// are required (only when b is a prefix of the file).
func decodeHeader(b []byte) (v Version, hdrLen int, need int, err error) {
	if len(b) < fixedHeader {
		return v, 0, fixedHeader, nil
	}
	if string(b[:len(magic)]) != magic {
		return v, 0, 0, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if fv := binary.LittleEndian.Uint32(b[8:]); fv != formatVersion {
		return v, 0, 0, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, fv)
	}
	n := binary.LittleEndian.Uint32(b[12:])
	if n < uint32(fixedHeader+3*4+3*8+4) || n > maxHeader {
		return v, 0, 0, fmt.Errorf("%w: header length %d", ErrCorrupt, n)
	}
	hdrLen = int(n)
	if len(b) < hdrLen {
		return v, 0, hdrLen, nil
	}
	body := b[:hdrLen-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[hdrLen-4:]) {
		return v, 0, 0, fmt.Errorf("%w: bad header checksum", ErrCorrupt)
	}
	p := body[fixedHeader:]
	str := func() (string, bool) {
		if len(p) < 4 {
			return "", false
		}
		l := binary.LittleEndian.Uint32(p)
		if uint64(len(p)-4) < uint64(l) {
			return "", false
		}
		s := string(p[4 : 4+l])
		p = p[4+l:]
		return s, true
	}
	var ok1, ok2, ok3 bool
	v.Bucket, ok1 = str()
	v.Key, ok2 = str()
	v.ETag, ok3 = str()
	if !ok1 || !ok2 || !ok3 || len(p) != 3*8 {
		return Version{}, 0, 0, fmt.Errorf("%w: malformed identity", ErrCorrupt)
	}
	v.Size = int64(binary.LittleEndian.Uint64(p))
	v.LastModified = time.Unix(int64(binary.LittleEndian.Uint64(p[8:])), 0).UTC()
	v.BlockSize = int64(binary.LittleEndian.Uint64(p[16:]))
	if err := Valid(v); err != nil {
		return Version{}, 0, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return v, hdrLen, 0, nil
}

func encodeRecord(dst []byte, block int, crc uint64, remove bool) {
	x := uint32(block)
	if remove {
		x |= tombstone
	}
	binary.LittleEndian.PutUint32(dst[0:], x)
	binary.LittleEndian.PutUint64(dst[4:], crc)
	binary.LittleEndian.PutUint32(dst[12:], crc32.Checksum(dst[:12], castagnoli))
}

// decodeRecord returns ok=false for a record whose checksum does not hold;
// an all-zero record never holds.
func decodeRecord(r []byte) (block int, crc uint64, remove, ok bool) {
	if crc32.Checksum(r[:12], castagnoli) != binary.LittleEndian.Uint32(r[12:]) || allZero(r) {
		return 0, 0, false, false
	}
	x := binary.LittleEndian.Uint32(r)
	return int(x &^ tombstone), binary.LittleEndian.Uint64(r[4:]), x&tombstone != 0, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Log is an open checkpoint file, positioned for appending.
type Log struct {
	path string
	v    Version
	nb   int // v.NumBlocks()

	// mu serializes appends, Compact and Close. It guards every field below.
	mu      sync.Mutex
	f       *os.File // nil once closed
	size    int64    // end of the valid data: where the next record goes
	records int      // records in the file
}

// Create writes a fresh, empty checkpoint for v at path durably (temporary
// file, fsync, rename over path, fsync of the directory), mode 0600, and
// returns it open for appending.
func Create(path string, v Version) (*Log, error) {
	return create(path, v, true)
}

// CreateUnsynced is Create without the fsyncs: the new file may be lost, or
// the old one come back, after a power failure (never a partial header: it
// is still renamed into place). For a checkpoint whose loss costs nothing
// but refetching — a new object's first block — it saves two fsyncs.
func CreateUnsynced(path string, v Version) (*Log, error) {
	return create(path, v, false)
}

func create(path string, v Version, synced bool) (*Log, error) {
	if err := Valid(v); err != nil {
		return nil, err
	}
	f, size, err := writeFile(path, v, nil, synced)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	return &Log{path: path, v: v, nb: v.NumBlocks(), f: f, size: size}, nil
}

// writeFile replaces path with a checkpoint for v listing blocks, durably
// if synced is set, and returns the new file open for writing. If only the
// final directory fsync fails, the new file is in place: it is returned
// along with the error.
func writeFile(path string, v Version, blocks map[int]uint64, synced bool) (*os.File, int64, error) {
	buf := encodeHeader(v)
	keys := make([]int, 0, len(blocks))
	for b := range blocks {
		keys = append(keys, b)
	}
	slices.Sort(keys)
	for _, b := range keys {
		var r [recordSize]byte
		encodeRecord(r[:], b, blocks[b], false)
		buf = append(buf, r[:]...)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return nil, 0, fmt.Errorf("checkpoint: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if _, err := f.Write(buf); err != nil {
		return fail(err)
	}
	if synced {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fail(err)
	}
	if !synced {
		return f, int64(len(buf)), nil
	}
	if err := durable.SyncDir(dir); err != nil {
		return f, int64(len(buf)), fmt.Errorf("checkpoint %s: syncing directory: %w", path, err)
	}
	return f, int64(len(buf)), nil
}

// Load opens the checkpoint at path, which must describe v, validates it
// and returns it open for appending, with the complete blocks and their
// CRC64s. A torn tail is ignored and truncated off. Errors wrap ErrCorrupt
// (damaged file), ErrMismatch (another version) or the I/O error (for
// instance fs.ErrNotExist).
func Load(path string, v Version) (*Log, map[int]uint64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	l, blocks, err := load(f, path, v)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return l, blocks, nil
}

func load(f *os.File, path string, v Version) (*Log, map[int]uint64, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	got, hdrLen, need, err := decodeHeader(data)
	if err == nil && need > 0 {
		err = fmt.Errorf("%w: truncated header", ErrCorrupt)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if !got.SameAs(v) {
		return nil, nil, fmt.Errorf("checkpoint %s: %w (%s %s, want %s %s)", path, ErrMismatch, got.Key, got.ETag, v.Key, v.ETag)
	}
	recs := data[hdrLen:]
	n := len(recs) / recordSize
	last := -1 // the last record whose checksum holds
	for i := n - 1; i >= 0; i-- {
		if _, _, _, ok := decodeRecord(recs[i*recordSize:]); ok {
			last = i
			break
		}
	}
	nb := v.NumBlocks()
	blocks := make(map[int]uint64)
	for i := 0; i <= last; i++ {
		b, crc, remove, ok := decodeRecord(recs[i*recordSize:])
		if !ok {
			return nil, nil, fmt.Errorf("checkpoint %s: %w: bad record %d of %d", path, ErrCorrupt, i, last+1)
		}
		if b >= nb {
			return nil, nil, fmt.Errorf("checkpoint %s: %w: block %d of %d", path, ErrCorrupt, b, nb)
		}
		if remove {
			delete(blocks, b)
		} else {
			blocks[b] = crc
		}
	}
	size := int64(hdrLen + (last+1)*recordSize)
	if int64(len(data)) > size {
		// A torn tail: drop it now so appends follow the valid records.
		if err := f.Truncate(size); err != nil {
			return nil, nil, fmt.Errorf("checkpoint %s: truncating torn tail: %w", path, err)
		}
	}
	return &Log{path: path, v: v, nb: nb, f: f, size: size, records: last + 1}, blocks, nil
}

// ReadHeader returns the version the checkpoint at path describes, after
// checking the header's magic, format version and checksum (not the
// records). Errors wrap ErrCorrupt or the I/O error.
func ReadHeader(path string) (Version, error) {
	f, err := os.Open(path)
	if err != nil {
		return Version{}, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	readFull := func(b []byte) error {
		_, err := io.ReadFull(f, b)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("checkpoint %s: %w: truncated header", path, ErrCorrupt)
		case err != nil:
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
		return nil
	}
	buf := make([]byte, fixedHeader)
	if err := readFull(buf); err != nil {
		return Version{}, err
	}
	_, _, need, err := decodeHeader(buf)
	if err != nil {
		return Version{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	buf = append(buf, make([]byte, need-len(buf))...)
	if err := readFull(buf[fixedHeader:]); err != nil {
		return Version{}, err
	}
	v, _, _, err := decodeHeader(buf)
	if err != nil {
		return Version{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return v, nil
}

// Records returns how many records the file holds (adds and tombstones),
// for deciding when to Compact.
func (l *Log) Records() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records
}

// Add records that block is complete with the given CRC64. It is one
// pwrite(2): durable against a crash of the process once it returns, against
// a power loss after the next Sync.
func (l *Log) Add(block int, crc uint64) error {
	return l.append(block, crc, false)
}

// Remove records that block is no longer cached (a tombstone).
func (l *Log) Remove(block int) error {
	return l.append(block, 0, true)
}

func (l *Log) append(block int, crc uint64, remove bool) error {
	if block < 0 || block >= l.nb {
		return fmt.Errorf("checkpoint %s: block %d out of range [0,%d)", l.path, block, l.nb)
	}
	var r [recordSize]byte
	encodeRecord(r[:], block, crc, remove)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("checkpoint %s: %w", l.path, os.ErrClosed)
	}
	if _, err := l.f.WriteAt(r[:], l.size); err != nil {
		// l.size stays: the next append overwrites whatever part landed.
		return fmt.Errorf("checkpoint %s: %w", l.path, err)
	}
	l.size += recordSize
	l.records++
	return nil
}

// Sync makes every record appended so far durable (fdatasync). It does not
// block appends.
func (l *Log) Sync() error {
	for {
		l.mu.Lock()
		f := l.f
		l.mu.Unlock()
		if f == nil {
			return fmt.Errorf("checkpoint %s: %w", l.path, os.ErrClosed)
		}
		err := durable.Fdatasync(f)
		if errors.Is(err, os.ErrClosed) {
			continue // Compact swapped the file: sync the new one
		}
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", l.path, err)
		}
		return nil
	}
}

// Compact durably replaces the file with one that lists exactly blocks
// (temporary file, fsync, rename, fsync of the directory), and goes on
// appending to the new file. Appends wait while it runs. On error the old
// file is still in place and open.
func (l *Log) Compact(blocks map[int]uint64) error {
	for b := range blocks {
		if b < 0 || b >= l.nb {
			return fmt.Errorf("checkpoint %s: compact: block %d out of range [0,%d)", l.path, b, l.nb)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("checkpoint %s: %w", l.path, os.ErrClosed)
	}
	f, size, err := writeFile(l.path, l.v, blocks, true)
	if f == nil {
		return err
	}
	// The new file is at path (err, if any, is about the directory fsync):
	// appending to the old, unlinked one would lose records.
	l.f.Close()
	l.f, l.size, l.records = f, size, len(blocks)
	return err
}

// Close closes the file. It does not sync.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", l.path, err)
	}
	return nil
}
