package csi_test

import (
	"context"
	"strings"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func capability(mode csipb.VolumeCapability_AccessMode_Mode) *csipb.VolumeCapability {
	return &csipb.VolumeCapability{
		AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{}},
		AccessMode: &csipb.VolumeCapability_AccessMode{Mode: mode},
	}
}

// TestCreateVolumeIsAPrefix: a dynamic volume is path + the PV name under
// the class's bucket; the same name gives the same volume; MULTI_NODE_SINGLE_WRITER
// is refused, the other modes accepted; DeleteVolume keeps the data.
func TestCreateVolumeIsAPrefix(t *testing.T) {
	p := startInProcess(t, t.TempDir())
	ctx := context.Background()
	params := map[string]string{"bucket": "bkt", "path": "/teams/ml", "url": "https://oss-cn-hangzhou.aliyuncs.com", "warm": "models"}
	req := &csipb.CreateVolumeRequest{Name: "pvc-123", Parameters: params,
		VolumeCapabilities: []*csipb.VolumeCapability{capability(csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}}
	resp, err := p.ctrl.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	vol := resp.GetVolume()
	if vol.GetVolumeId() != "oss:bkt/teams/ml/pvc-123" {
		t.Errorf("volume ID %q", vol.GetVolumeId())
	}
	vc := vol.GetVolumeContext()
	if vc["path"] != "/teams/ml/pvc-123" || vc["bucket"] != "bkt" || vc["url"] != params["url"] || vc["warm"] != "models" {
		t.Errorf("volume context %v", vc)
	}
	again, err := p.ctrl.CreateVolume(ctx, req)
	if err != nil || again.GetVolume().GetVolumeId() != vol.GetVolumeId() {
		t.Errorf("repeated CreateVolume: %v %v", again, err)
	}

	// MULTI_NODE_SINGLE_WRITER: no lock across nodes keeps its promise.
	mode := csipb.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER
	bad := &csipb.CreateVolumeRequest{Name: "pvc-w", Parameters: params, VolumeCapabilities: []*csipb.VolumeCapability{capability(mode)}}
	if _, err := p.ctrl.CreateVolume(ctx, bad); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "lock across nodes") {
		t.Errorf("%v: %v, want InvalidArgument", mode, err)
	}
	if v, err := p.ctrl.ValidateVolumeCapabilities(ctx, &csipb.ValidateVolumeCapabilitiesRequest{VolumeId: vol.GetVolumeId(), VolumeCapabilities: []*csipb.VolumeCapability{capability(mode)}}); err != nil || v.GetConfirmed() != nil {
		t.Errorf("ValidateVolumeCapabilities(%v) confirmed: %v %v", mode, v, err)
	}
	for _, mode := range []csipb.VolumeCapability_AccessMode_Mode{
		csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY, csipb.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER,
		csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, csipb.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
	} {
		v, err := p.ctrl.ValidateVolumeCapabilities(ctx, &csipb.ValidateVolumeCapabilitiesRequest{VolumeId: vol.GetVolumeId(),
			VolumeCapabilities: []*csipb.VolumeCapability{capability(mode)}})
		if err != nil || v.GetConfirmed() == nil {
			t.Errorf("ValidateVolumeCapabilities(%v): %v %v", mode, v, err)
		}
		if _, err := p.ctrl.CreateVolume(ctx, &csipb.CreateVolumeRequest{Name: "pvc-m", Parameters: params, VolumeCapabilities: []*csipb.VolumeCapability{capability(mode)}}); err != nil {
			t.Errorf("CreateVolume(%v): %v", mode, err)
		}
	}

	missing := map[string]string{"url": params["url"]}
	if _, err := p.ctrl.CreateVolume(ctx, &csipb.CreateVolumeRequest{Name: "x", Parameters: missing, VolumeCapabilities: req.VolumeCapabilities}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "bucket") {
		t.Errorf("no bucket: %v", err)
	}
	if _, err := p.ctrl.DeleteVolume(ctx, &csipb.DeleteVolumeRequest{VolumeId: vol.GetVolumeId()}); err != nil {
		t.Errorf("DeleteVolume: %v", err)
	}
}

// TestNodeRefusesBadRequests: the node names the attribute or secret at
// fault, before anything is mounted.
func TestNodeRefusesBadRequests(t *testing.T) {
	dir := t.TempDir()
	p := startInProcess(t, dir)
	ctx := context.Background()
	base := func() *csipb.NodeStageVolumeRequest {
		return &csipb.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir + "/staging",
			VolumeCapability: capability(csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY),
			VolumeContext:    map[string]string{"bucket": "bkt", "url": "http://127.0.0.1:1", "region": "cn-hangzhou"}}
	}
	for _, c := range []struct {
		name string
		edit func(*csipb.NodeStageVolumeRequest)
		want string
	}{
		{"no bucket", func(r *csipb.NodeStageVolumeRequest) { delete(r.VolumeContext, "bucket") }, "volume attribute bucket"},
		{"bad otherOpts", func(r *csipb.NodeStageVolumeRequest) { r.VolumeContext["otherOpts"] = "-o nosuch" }, "volume attribute otherOpts"},
		{"half a secret", func(r *csipb.NodeStageVolumeRequest) { r.Secrets = map[string]string{"akId": "LTAIxxxxxxxxxxxx"} }, "secret key akSecret"},
		{"block", func(r *csipb.NodeStageVolumeRequest) {
			r.VolumeCapability.AccessType = &csipb.VolumeCapability_Block{Block: &csipb.VolumeCapability_BlockVolume{}}
		}, "block"},
		{"single writer on many nodes", func(r *csipb.NodeStageVolumeRequest) {
			r.VolumeCapability.AccessMode.Mode = csipb.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER
		}, "lock across nodes"},
		{"rw in otherOpts", func(r *csipb.NodeStageVolumeRequest) { r.VolumeContext["otherOpts"] = "-o rw" }, "option rw"},
	} {
		r := base()
		c.edit(r)
		_, err := p.node.NodeStageVolume(ctx, r)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want InvalidArgument naming %q", c.name, err, c.want)
		}
	}
	if _, err := p.node.NodePublishVolume(ctx, &csipb.NodePublishVolumeRequest{VolumeId: "never-staged", StagingTargetPath: dir + "/s",
		TargetPath: dir + "/t", VolumeCapability: capability(csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("publish of an unstaged volume: %v, want FailedPrecondition", err)
	}
}
