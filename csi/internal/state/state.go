// Package state keeps the CSI node plugin's record of each staged volume on
// disk, so that a restarted plugin finds the mounts its predecessor made and
// adopts them instead of remounting.
//
// One file per volume, named by a hash of the volume ID (IDs are free-form
// and may hold slashes). A record is written whole or not at all: temp file,
// fsync, rename over the old one, fsync of the directory. Each file carries
// a SHA-256 of its record; a file that does not match (torn by a disk that
// lied about fsync, edited by hand, another version's format) is reported
// by Load and never trusted.
package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ossmount/ossmount/internal/durable"
)

// Volume is what the plugin knows about one staged volume on this node.
type Volume struct {
	VolumeID    string `json:"volume_id"`
	StagingPath string `json:"staging_path"`

	Bucket    string   `json:"bucket"`
	Prefix    string   `json:"prefix,omitempty"`
	Endpoint  string   `json:"endpoint"`
	Region    string   `json:"region,omitempty"`
	Options   []string `json:"options,omitempty"` // ossmount -o elements from otherOpts
	Warm      []string `json:"warm,omitempty"`    // paths warmed after each daemon start
	Anonymous bool     `json:"anonymous,omitempty"`
	Writable  bool     `json:"writable,omitempty"` // the daemon runs with rw (a writer access mode, readOnly not true)

	CacheDir        string `json:"cache_dir"`
	CredentialsFile string `json:"credentials_file,omitempty"`
	LogFile         string `json:"log_file"`

	// PID and PIDStart identify the daemon serving StagingPath: the start
	// time (clock ticks after boot, /proc/PID/stat) tells a reused PID from
	// the daemon. Zero while the daemon is being started.
	PID      int    `json:"pid,omitempty"`
	PIDStart uint64 `json:"pid_start,omitempty"`

	// Targets are the paths the volume is bind-mounted at (NodePublish).
	Targets []string `json:"targets,omitempty"`
	// ReadOnlyTargets are the Targets bind-mounted read-only although the
	// volume is Writable (a publish with its readonly flag set).
	ReadOnlyTargets []string `json:"read_only_targets,omitempty"`
}

// envelope is the file's format.
type envelope struct {
	Format string          `json:"format"`
	SHA256 string          `json:"sha256"` // of Volume, the bytes as stored
	Volume json.RawMessage `json:"volume"`
}

const format = "ossmount-csi-volume-v1"

// Store is a directory of records.
type Store struct {
	dir string
}

// Open makes dir (0700) if needed and removes temp files a crash left.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if durable.IsTemp(e.Name()) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Store{dir: dir}, nil
}

// Name is the file name stem of a volume's record (and of its other files
// in the plugin's directories): a hash, since IDs are free-form.
func Name(volumeID string) string {
	sum := sha256.Sum256([]byte(volumeID))
	return hex.EncodeToString(sum[:16])
}

func (s *Store) path(volumeID string) string {
	return filepath.Join(s.dir, Name(volumeID)+".json")
}

// Save writes v's record durably, replacing any previous one.
func (s *Store) Save(v *Volume) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	// Not indented: the record's bytes are stored exactly as hashed.
	data, err := json.Marshal(envelope{Format: format, SHA256: hex.EncodeToString(sum[:]), Volume: body})
	if err != nil {
		return err
	}
	return durable.WriteFile(s.path(v.VolumeID), append(data, '\n'), 0o600)
}

// Delete removes the record of volumeID (none is no error).
func (s *Store) Delete(volumeID string) error {
	if err := os.Remove(s.path(volumeID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return durable.SyncDir(s.dir)
}

// Load returns every valid record, and an error for each file that is not
// one (the file is left in place for inspection).
func (s *Store) Load() ([]*Volume, []error) {
	files, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, []error{err}
	}
	var vols []*Volume
	var errs []error
	for _, f := range files {
		v, err := load(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("state file %s: %w", f, err))
			continue
		}
		if Name(v.VolumeID)+".json" != filepath.Base(f) {
			errs = append(errs, fmt.Errorf("state file %s: holds volume %q, whose file has another name", f, v.VolumeID))
			continue
		}
		vols = append(vols, v)
	}
	return vols, errs
}

// ErrCorrupt: a record's checksum or format does not match.
var ErrCorrupt = errors.New("damaged record (checksum or format mismatch); ignored")

func load(path string) (*Volume, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Format != format {
		return nil, ErrCorrupt
	}
	sum := sha256.Sum256(env.Volume)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, ErrCorrupt
	}
	var v Volume
	dec = json.NewDecoder(bytes.NewReader(env.Volume))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || v.VolumeID == "" || v.StagingPath == "" {
		return nil, ErrCorrupt
	}
	return &v, nil
}
