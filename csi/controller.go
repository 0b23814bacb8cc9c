package csi

import (
	"context"
	"path"
	"strings"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Dynamic volumes: a volume is a prefix of the StorageClass's bucket
// (path + the PV name). CreateVolume writes nothing to OSS: the prefix is
// "created" by the first object written under it, and until then the
// volume is an empty directory. DeleteVolume deletes nothing: the objects
// stay in the bucket (Retain semantics whatever the reclaim policy says),
// since a CSI call is no place to delete a prefix of user data.

// volumeIDPrefix marks the IDs CreateVolume makes: "oss:BUCKET/PREFIX".
const volumeIDPrefix = "oss:"

// Access modes: a volume may be read on many nodes (MULTI_NODE_READER_ONLY),
// used on one node (the SINGLE_NODE_* modes) or written on many
// (MULTI_NODE_MULTI_WRITER: each node's daemon writes create-only unless
// allow_overwrite, so two nodes creating one key get one object and an
// EEXIST, never a mix). MULTI_NODE_SINGLE_WRITER is refused: it promises
// one writing node among readers, and OSS has no lock across nodes with
// which the plugin could keep that promise.
func supportedMode(m csipb.VolumeCapability_AccessMode_Mode) bool {
	switch m {
	case csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		csipb.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:
		return true
	}
	return writerMode(m)
}

// writerMode reports whether m lets the volume be written: such a volume
// is mounted with rw unless its readOnly attribute is true.
func writerMode(m csipb.VolumeCapability_AccessMode_Mode) bool {
	switch m {
	case csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csipb.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csipb.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER,
		csipb.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return true
	}
	return false
}

// checkCapability says why a capability cannot be served ("" if it can).
func checkCapability(c *csipb.VolumeCapability) string {
	if c.GetBlock() != nil {
		return "block access is not supported: an OSS volume is a filesystem"
	}
	if c.GetMount() == nil {
		return "no access type (mount) given"
	}
	if fs := c.GetMount().GetFsType(); fs != "" && fs != "fuse.ossmount" && fs != "ossmount" {
		return "fs_type " + fs + " is not supported (ossmount volumes are fuse.ossmount)"
	}
	if m := c.GetAccessMode().GetMode(); !supportedMode(m) {
		why := ""
		if m == csipb.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER {
			why = " (OSS has no lock across nodes to keep one writer among them)"
		}
		return "access mode " + m.String() + " is not supported" + why + ": use MULTI_NODE_MULTI_WRITER / ReadWriteMany, MULTI_NODE_READER_ONLY / ReadOnlyMany, or a single-node mode"
	}
	return ""
}

func (d *Driver) ControllerGetCapabilities(context.Context, *csipb.ControllerGetCapabilitiesRequest) (*csipb.ControllerGetCapabilitiesResponse, error) {
	return &csipb.ControllerGetCapabilitiesResponse{Capabilities: []*csipb.ControllerServiceCapability{{
		Type: &csipb.ControllerServiceCapability_Rpc{Rpc: &csipb.ControllerServiceCapability_RPC{Type: csipb.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME}},
	}}}, nil
}

func (d *Driver) CreateVolume(_ context.Context, req *csipb.CreateVolumeRequest) (*csipb.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, invalid("name is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("volume_capabilities are required")
	}
	for _, c := range req.GetVolumeCapabilities() {
		if why := checkCapability(c); why != "" {
			return nil, invalid("%s", why)
		}
	}
	if req.GetVolumeContentSource() != nil {
		return nil, invalid("volume_content_source: ossmount volumes cannot be created from a snapshot or another volume")
	}
	params := req.GetParameters()
	spec, err := parseVolumeContext(params)
	if err != nil {
		return nil, invalid("%v", err)
	}
	// The volume's prefix: the class's path plus the volume's name.
	prefix := path.Join(strings.Trim(spec.Prefix, "/"), req.GetName())
	ctxAttrs := map[string]string{}
	for k, v := range params {
		if !ignoredKey(k) {
			ctxAttrs[k] = v
		}
	}
	ctxAttrs[AttrPath] = "/" + prefix
	if _, err := parseVolumeContext(ctxAttrs); err != nil {
		return nil, invalid("name %q does not make a valid prefix: %v", req.GetName(), err)
	}
	return &csipb.CreateVolumeResponse{Volume: &csipb.Volume{
		VolumeId:      volumeIDPrefix + spec.Bucket + "/" + prefix,
		CapacityBytes: 0, // an OSS prefix has no capacity
		VolumeContext: ctxAttrs,
	}}, nil
}

func (d *Driver) DeleteVolume(_ context.Context, req *csipb.DeleteVolumeRequest) (*csipb.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("volume_id is required")
	}
	d.log.Info("volume deleted; its objects are kept in the bucket (ossmount never deletes data)", "volume", req.GetVolumeId())
	return &csipb.DeleteVolumeResponse{}, nil
}

func (d *Driver) ValidateVolumeCapabilities(_ context.Context, req *csipb.ValidateVolumeCapabilitiesRequest) (*csipb.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("volume_id is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("volume_capabilities are required")
	}
	if !strings.HasPrefix(req.GetVolumeId(), volumeIDPrefix) {
		return nil, status.Errorf(codes.NotFound, "volume %q was not made by this driver", req.GetVolumeId())
	}
	for _, c := range req.GetVolumeCapabilities() {
		if why := checkCapability(c); why != "" {
			return &csipb.ValidateVolumeCapabilitiesResponse{Message: why}, nil
		}
	}
	return &csipb.ValidateVolumeCapabilitiesResponse{Confirmed: &csipb.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}
