// Package config turns ossmount's command line into a validated Config and
// loads the credentials it names.
//
// The command line follows mount(8): positional BUCKET[:/PREFIX] and
// MOUNTPOINT, options as -o key[=value],... (repeatable, anywhere), and a
// long flag twin for every option (--cache-dir DIR = -o cache_dir=DIR).
// Options that belong to mount(8), systemd or the generic mount flags that
// mount.fuse3 adds (_netdev, nofail, x-systemd.*, nodev, nosuid, ...) are
// accepted and ignored. The mount is read-only unless rw is given; mount.fuse3
// passes rw for an fstab line without ro, so such a line mounts writable.
//
// Parse handles syntax and single-option values and fills in defaults from
// the environment; Validate checks the combination. Credentials come from
// the environment or an ossfs-style credentials file (LoadCredentials,
// ReadCredentialsFile, FileProvider); neither Config.String nor
// Credentials' formatting ever shows a secret.
//
// The package uses neither FUSE nor the network.
package config
