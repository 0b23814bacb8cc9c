package csi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ossmount/ossmount/internal/durable"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"

	"github.com/ossmount/ossmount/csi/internal/state"
)

func (d *Driver) NodeGetInfo(context.Context, *csipb.NodeGetInfoRequest) (*csipb.NodeGetInfoResponse, error) {
	return &csipb.NodeGetInfoResponse{NodeId: d.opts.NodeID}, nil
}

func (d *Driver) NodeGetCapabilities(context.Context, *csipb.NodeGetCapabilitiesRequest) (*csipb.NodeGetCapabilitiesResponse, error) {
	rpc := func(t csipb.NodeServiceCapability_RPC_Type) *csipb.NodeServiceCapability {
		return &csipb.NodeServiceCapability{Type: &csipb.NodeServiceCapability_Rpc{Rpc: &csipb.NodeServiceCapability_RPC{Type: t}}}
	}
	return &csipb.NodeGetCapabilitiesResponse{Capabilities: []*csipb.NodeServiceCapability{
		rpc(csipb.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME),
		rpc(csipb.NodeServiceCapability_RPC_GET_VOLUME_STATS),
	}}, nil
}

func (d *Driver) lock(volumeID string) func() {
	d.volumeLocks.LockKey(volumeID)
	return func() { _ = d.volumeLocks.UnlockKey(volumeID) }
}

func (d *Driver) volume(id string) *state.Volume {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vols[id]
}

// NodeStageVolume starts the volume's one daemon on this node at the
// staging path. Again for a staged volume: new secrets are written for the
// daemon to re-read, and a daemon found dead is started again on the same
// cache (nothing cached is fetched again) with the volume's bind mounts
// renewed.
func (d *Driver) NodeStageVolume(ctx context.Context, req *csipb.NodeStageVolumeRequest) (*csipb.NodeStageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	switch {
	case id == "":
		return nil, invalid("volume_id is required")
	case staging == "":
		return nil, invalid("staging_target_path is required")
	case req.GetVolumeCapability() == nil:
		return nil, invalid("volume_capability is required")
	}
	if why := checkCapability(req.GetVolumeCapability()); why != "" {
		return nil, invalid("%s", why)
	}
	spec, err := parseVolumeContext(req.GetVolumeContext())
	if err != nil {
		return nil, invalid("%v", err)
	}
	sec, err := parseSecrets(req.GetSecrets())
	if err != nil {
		return nil, invalid("%v", err)
	}
	if err := spec.check(sec == nil); err != nil {
		return nil, invalid("%v", err)
	}
	spec.Writable = writerMode(req.GetVolumeCapability().GetAccessMode().GetMode()) && !spec.ReadOnly
	staging = filepath.Clean(staging)
	defer d.lock(id)()

	if v := d.volume(id); v != nil {
		if v.StagingPath != staging {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is already staged at %s", id, v.StagingPath)
		}
		if !spec.sameAs(v) {
			return nil, status.Errorf(codes.AlreadyExists, "volume %s is staged with other attributes (bucket, path, url, region, otherOpts or warm) or %s; unstage it first", id, writability(v.Writable))
		}
		if err := d.ensureServing(ctx, v, spec, sec); err != nil {
			return nil, err
		}
		return &csipb.NodeStageVolumeResponse{}, nil
	}

	name := state.Name(id)
	v := &state.Volume{
		VolumeID: id, StagingPath: staging,
		Bucket: spec.Bucket, Prefix: spec.Prefix, Endpoint: spec.Endpoint, Region: spec.Region, Options: spec.Options, Warm: spec.Warm,
		Anonymous: sec == nil, Writable: spec.Writable,
		CacheDir: filepath.Join(d.opts.CacheRoot, spec.cacheName()),
		LogFile:  filepath.Join(d.opts.StateDir, "logs", name+".log"),
	}
	if other := d.holderOf(v.CacheDir); other != "" {
		return nil, status.Errorf(codes.FailedPrecondition,
			"volume %s reads the same bucket, path and url as volume %s, staged on this node; one daemon serves one of them (use one PV, or another path)", id, other)
	}
	if sec != nil {
		v.CredentialsFile = filepath.Join(d.opts.StateDir, "credentials", name)
		if err := durable.WriteFile(v.CredentialsFile, sec.file(v.Bucket), 0o600); err != nil {
			return nil, status.Errorf(codes.Internal, "writing credentials: %v", err)
		}
	}
	// Recorded before the daemon starts: a plugin that stops meanwhile
	// finds the record and adopts (or restarts) the daemon.
	if err := d.store.Save(v); err != nil {
		return nil, status.Errorf(codes.Internal, "saving state: %v", err)
	}
	d.mu.Lock()
	d.vols[id] = v
	d.mu.Unlock()
	d.metrics.add(id)

	if serving(staging, v.CacheDir) {
		// A daemon started for this volume by a plugin that stopped
		// before recording it: adopt it.
		if v.PID, v.PIDStart, err = daemonIdentity(v.CacheDir); err == nil {
			err = d.store.Save(v)
		}
	} else {
		err = d.startDaemon(ctx, v, spec)
		if err == nil {
			err = d.store.Save(v)
		}
	}
	if err != nil {
		d.forget(v)
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	d.log.Info("volume staged", "volume", id, "source", sourceOf(v), "staging", staging, "cache", v.CacheDir, "pid", v.PID)
	d.startWarm(v)
	return &csipb.NodeStageVolumeResponse{}, nil
}

func sourceOf(v *state.Volume) string {
	if v.Prefix == "" {
		return v.Bucket
	}
	return v.Bucket + ":/" + v.Prefix
}

// sameAs reports whether v was staged from the same attributes.
func (s *volumeSpec) sameAs(v *state.Volume) bool {
	return s.Bucket == v.Bucket && s.Prefix == v.Prefix && s.Endpoint == v.Endpoint && s.Region == v.Region &&
		slices.Equal(s.Options, v.Options) && slices.Equal(s.Warm, v.Warm) && s.Writable == v.Writable
}

// writability says how a volume is staged, for errors.
func writability(writable bool) string {
	if writable {
		return "writable (a writer access mode)"
	}
	return "read-only (a reader access mode or readOnly: \"true\")"
}

// specOf rebuilds the spec a record was staged from.
func specOf(v *state.Volume) *volumeSpec {
	return &volumeSpec{Bucket: v.Bucket, Prefix: v.Prefix, Endpoint: v.Endpoint, Region: v.Region, Options: v.Options, Warm: v.Warm, Writable: v.Writable}
}

// holderOf returns the ID of the staged volume whose cache is dir.
func (d *Driver) holderOf(cacheDir string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, v := range d.vols {
		if v.CacheDir == cacheDir {
			return id
		}
	}
	return ""
}

// forget drops a volume (unstaged, or that could not be staged): its
// record, credentials file and metrics. Its cache and daemon log stay.
func (d *Driver) forget(v *state.Volume) {
	d.mu.Lock()
	delete(d.vols, v.VolumeID)
	d.mu.Unlock()
	d.metrics.remove(v.VolumeID)
	if err := d.store.Delete(v.VolumeID); err != nil {
		d.log.Error("deleting state", "volume", v.VolumeID, "err", err)
	}
	if v.CredentialsFile != "" {
		_ = os.Remove(v.CredentialsFile)
	}
}

// ensureServing makes a staged volume serve: new secrets are handed to the
// daemon (through its credentials file), and a dead daemon is started
// again, its mount and the volume's bind mounts renewed. Called with the
// volume's lock held.
func (d *Driver) ensureServing(ctx context.Context, v *state.Volume, spec *volumeSpec, sec *secrets) error {
	if sec != nil {
		if v.CredentialsFile == "" {
			d.log.Warn("secrets given for a volume staged anonymously; unstage and stage it to use them", "volume", v.VolumeID)
		} else if cur, err := os.ReadFile(v.CredentialsFile); err != nil || string(cur) != string(sec.file(v.Bucket)) {
			if err := durable.WriteFile(v.CredentialsFile, sec.file(v.Bucket), 0o600); err != nil {
				return status.Errorf(codes.Internal, "writing credentials: %v", err)
			}
			d.log.Info("credentials rotated; the daemon re-reads them", "volume", v.VolumeID)
		}
	}
	if serving(v.StagingPath, v.CacheDir) {
		if !daemonRunning(v) {
			if pid, start, err := daemonIdentity(v.CacheDir); err == nil {
				v.PID, v.PIDStart = pid, start
				_ = d.store.Save(v)
			}
		}
		return nil
	}
	reap(v.PID)
	d.log.Warn("the volume's daemon is gone; starting it again on its cache", "volume", v.VolumeID, "staging", v.StagingPath, "old_pid", v.PID)
	if err := d.unmountAll(v.StagingPath); err != nil {
		return status.Errorf(codes.Internal, "clearing the dead mount: %v", err)
	}
	if err := d.startDaemon(ctx, v, spec); err != nil {
		return status.Errorf(codes.Internal, "%v", err)
	}
	if err := d.store.Save(v); err != nil {
		return status.Errorf(codes.Internal, "saving state: %v", err)
	}
	d.metrics.restarted(v.VolumeID)
	// The bind mounts still lead to the dead connection: renew them.
	for _, t := range v.Targets {
		if err := d.bind(v, t); err != nil {
			d.log.Error("renewing a bind mount", "volume", v.VolumeID, "target", t, "err", err)
		}
	}
	d.log.Info("daemon restarted", "volume", v.VolumeID, "pid", v.PID)
	d.startWarm(v)
	return nil
}

// bind bind-mounts v's staging path at target, read-only unless the
// volume is writable and was not published read-only there, replacing a
// mount there that no longer serves.
func (d *Driver) bind(v *state.Volume, target string) error {
	mounted, dead, err := d.mountedAt(target)
	if err != nil {
		return err
	}
	if mounted && !dead && serving(target, v.CacheDir) {
		return nil
	}
	if mounted {
		if err := d.unmountAll(target); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return err
	}
	opts := []string{"bind"}
	if !v.Writable || slices.Contains(v.ReadOnlyTargets, target) {
		opts = append(opts, "ro")
	}
	return d.mounter.Mount(v.StagingPath, target, "", opts)
}

// NodePublishVolume bind-mounts the staging path at the target: read-only
// when the request's readonly flag is set or the volume is staged
// read-only. A publish that asks to write (a writer access mode, readonly
// unset, readOnly not true) a volume staged read-only is FailedPrecondition:
// its one daemon on the node serves read-only, and only an unstage and a
// stage with a writer mode make it writable.
func (d *Driver) NodePublishVolume(ctx context.Context, req *csipb.NodePublishVolumeRequest) (*csipb.NodePublishVolumeResponse, error) {
	id, target, staging := req.GetVolumeId(), req.GetTargetPath(), req.GetStagingTargetPath()
	switch {
	case id == "":
		return nil, invalid("volume_id is required")
	case target == "":
		return nil, invalid("target_path is required")
	case req.GetVolumeCapability() == nil:
		return nil, invalid("volume_capability is required")
	case staging == "":
		return nil, invalid("staging_target_path is required (the volume is staged first)")
	}
	if why := checkCapability(req.GetVolumeCapability()); why != "" {
		return nil, invalid("%s", why)
	}
	sec, err := parseSecrets(req.GetSecrets())
	if err != nil {
		return nil, invalid("%v", err)
	}
	target = filepath.Clean(target)
	defer d.lock(id)()
	v := d.volume(id)
	if v == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not staged on this node", id)
	}
	if v.StagingPath != filepath.Clean(staging) {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is staged at %s, not %s", id, v.StagingPath, staging)
	}
	attrRO, _ := strconv.ParseBool(strings.TrimSpace(req.GetVolumeContext()[AttrReadOnly]))
	readOnly := req.GetReadonly() || attrRO
	if !v.Writable && !readOnly && writerMode(req.GetVolumeCapability().GetAccessMode().GetMode()) {
		return nil, status.Errorf(codes.FailedPrecondition,
			"volume %s is staged read-only on this node (staged with a reader access mode or readOnly: \"true\") and cannot be published for writing; publish it readonly, or unstage it and stage it with a writer access mode", id)
	}
	roTarget := readOnly && v.Writable
	if slices.Contains(v.Targets, target) && slices.Contains(v.ReadOnlyTargets, target) != roTarget {
		return nil, status.Errorf(codes.AlreadyExists, "volume %s is published at %s with another readonly flag; unpublish it first", id, target)
	}
	if err := d.ensureServing(ctx, v, specOf(v), sec); err != nil {
		return nil, err
	}
	if !slices.Contains(v.Targets, target) {
		v.Targets = append(v.Targets, target)
		if roTarget {
			v.ReadOnlyTargets = append(v.ReadOnlyTargets, target)
		}
		if err := d.store.Save(v); err != nil {
			return nil, status.Errorf(codes.Internal, "saving state: %v", err)
		}
	}
	if err := d.bind(v, target); err != nil {
		return nil, status.Errorf(codes.Internal, "bind-mounting %s at %s: %v", v.StagingPath, target, err)
	}
	return &csipb.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume unmounts the target (dead mounts too) and removes it.
func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csipb.NodeUnpublishVolumeRequest) (*csipb.NodeUnpublishVolumeResponse, error) {
	id, target := req.GetVolumeId(), req.GetTargetPath()
	switch {
	case id == "":
		return nil, invalid("volume_id is required")
	case target == "":
		return nil, invalid("target_path is required")
	}
	target = filepath.Clean(target)
	defer d.lock(id)()
	if err := d.unmountAll(target); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "removing %s: %v", target, err)
	}
	if v := d.volume(id); v != nil {
		if i := slices.Index(v.Targets, target); i >= 0 {
			v.Targets = slices.Delete(v.Targets, i, i+1)
			if j := slices.Index(v.ReadOnlyTargets, target); j >= 0 {
				v.ReadOnlyTargets = slices.Delete(v.ReadOnlyTargets, j, j+1)
			}
			if err := d.store.Save(v); err != nil {
				return nil, status.Errorf(codes.Internal, "saving state: %v", err)
			}
		}
	}
	return &csipb.NodeUnpublishVolumeResponse{}, nil
}

// NodeUnstageVolume unmounts the staging path, waits for the daemon to
// exit (it flushes its cache checkpoints) and forgets the volume. The
// cache stays for the next time the volume is staged on this node.
func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csipb.NodeUnstageVolumeRequest) (*csipb.NodeUnstageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	switch {
	case id == "":
		return nil, invalid("volume_id is required")
	case staging == "":
		return nil, invalid("staging_target_path is required")
	}
	staging = filepath.Clean(staging)
	defer d.lock(id)()
	v := d.volume(id)
	if v == nil || v.StagingPath != staging {
		// Not staged here (a repeated call): only make sure no dead mount
		// of ours is left at the path.
		if mounted, dead, err := d.mountedAt(staging); err == nil && mounted && dead {
			if err := d.unmountAll(staging); err != nil {
				return nil, status.Errorf(codes.Internal, "%v", err)
			}
		}
		return &csipb.NodeUnstageVolumeResponse{}, nil
	}
	var live []string
	for _, t := range v.Targets {
		if mounted, _, err := d.mountedAt(t); err != nil || mounted {
			live = append(live, t)
		}
	}
	if len(live) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is still published at %v; unpublish it first", id, live)
	}
	d.stopWarm(id)
	if err := d.unmountAll(staging); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if err := waitExit(ctx, v); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	d.forget(v)
	d.log.Info("volume unstaged", "volume", id, "staging", staging, "cache_kept", v.CacheDir)
	return &csipb.NodeUnstageVolumeResponse{}, nil
}

// NodeGetVolumeStats reports the mount's statfs figures (Unavailable when
// its daemon is gone).
func (d *Driver) NodeGetVolumeStats(_ context.Context, req *csipb.NodeGetVolumeStatsRequest) (*csipb.NodeGetVolumeStatsResponse, error) {
	id, p := req.GetVolumeId(), req.GetVolumePath()
	switch {
	case id == "":
		return nil, invalid("volume_id is required")
	case p == "":
		return nil, invalid("volume_path is required")
	}
	p = filepath.Clean(p)
	defer d.lock(id)()
	v := d.volume(id)
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "volume %s is not staged on this node", id)
	}
	if p != v.StagingPath && !slices.Contains(v.Targets, p) {
		return nil, status.Errorf(codes.NotFound, "volume %s is not mounted at %s", id, p)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(p, &sfs); err != nil {
		if mount.IsCorruptedMnt(&os.PathError{Op: "statfs", Path: p, Err: err}) {
			return nil, status.Errorf(codes.Unavailable, "the daemon of volume %s is gone (%v); it restarts at the next stage or publish", id, err)
		}
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", p, err)
	}
	bs := int64(sfs.Bsize)
	return &csipb.NodeGetVolumeStatsResponse{
		Usage: []*csipb.VolumeUsage{
			{Unit: csipb.VolumeUsage_BYTES, Total: int64(sfs.Blocks) * bs, Available: int64(sfs.Bavail) * bs, Used: int64(sfs.Blocks-sfs.Bfree) * bs},
			{Unit: csipb.VolumeUsage_INODES, Total: int64(sfs.Files), Available: int64(sfs.Ffree), Used: int64(sfs.Files - sfs.Ffree)},
		},
	}, nil
}
