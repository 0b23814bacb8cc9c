package csi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"
	"k8s.io/utils/keymutex"

	"github.com/ossmount/ossmount/csi/internal/state"
)

// DriverName is the CSI driver's name (CSIDriver object, StorageClass
// provisioner, PV spec.csi.driver).
const DriverName = "ossmount.csi.ossmount.io"

// Default directories on the node.
const (
	DefaultCacheRoot = "/var/cache/ossmount-csi"
	DefaultStateDir  = "/var/lib/ossmount-csi"
)

// Options configure a Driver.
type Options struct {
	Endpoint    string // unix:///path/csi.sock
	NodeID      string
	CacheRoot   string // volumes' caches, one directory each
	StateDir    string // records of staged volumes, credentials files, daemon logs
	MetricsAddr string // serve Prometheus metrics on http://ADDR/metrics; "" for none
	Ossmount    string // the ossmount binary the daemons run; "" for this executable
	Version     string
	Logger      *slog.Logger
}

// Driver is the CSI plugin: Identity, Controller and Node services.
type Driver struct {
	csipb.UnimplementedIdentityServer
	csipb.UnimplementedControllerServer
	csipb.UnimplementedNodeServer

	opts    Options
	log     *slog.Logger
	store   *state.Store
	mounter *mount.Mounter
	metrics *metrics

	// volumeLocks serializes the node calls of one volume ID (CSI lets a
	// CO repeat or overlap them). Taken before mu, never while holding it.
	volumeLocks keymutex.KeyMutex

	// mu guards vols, the staged volumes by ID, and warms. Held only for
	// map accesses, never across a mount, a daemon start or a wait.
	mu    sync.Mutex
	vols  map[string]*state.Volume
	warms map[string]context.CancelFunc // running warms by volume ID
}

// New checks opts, opens the state dir and adopts the volumes its records
// describe: their mounts are left as they are; a daemon found dead is
// started again at the volume's next NodeStageVolume or NodePublishVolume.
func New(opts Options) (*Driver, error) {
	if opts.NodeID == "" {
		return nil, errors.New("--node-id is required")
	}
	if opts.CacheRoot == "" {
		opts.CacheRoot = DefaultCacheRoot
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Ossmount == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the ossmount binary: %w", err)
		}
		opts.Ossmount = exe
	}
	for _, dir := range []*string{&opts.CacheRoot, &opts.StateDir} {
		abs, err := filepath.Abs(*dir)
		if err != nil {
			return nil, err
		}
		*dir = abs
	}
	if err := os.MkdirAll(opts.CacheRoot, 0o700); err != nil {
		return nil, fmt.Errorf("cache root: %w", err)
	}
	for _, sub := range []string{"volumes", "credentials", "logs"} {
		if err := os.MkdirAll(filepath.Join(opts.StateDir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	store, err := state.Open(filepath.Join(opts.StateDir, "volumes"))
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	d := &Driver{
		opts: opts, log: opts.Logger, store: store, mounter: mount.NewWithoutSystemd("").(*mount.Mounter),
		volumeLocks: keymutex.NewHashed(0), vols: map[string]*state.Volume{}, warms: map[string]context.CancelFunc{},
	}
	d.metrics = newMetrics(d)
	d.adopt()
	return d, nil
}

// adopt loads the records a previous plugin left.
func (d *Driver) adopt() {
	vols, errs := d.store.Load()
	for _, err := range errs {
		d.log.Error("ignoring a staged-volume record", "err", err)
	}
	for _, v := range vols {
		d.vols[v.VolumeID] = v
		d.metrics.add(v.VolumeID)
		switch {
		case serving(v.StagingPath, v.CacheDir) && daemonRunning(v):
			d.log.Info("adopted a staged volume", "volume", v.VolumeID, "staging", v.StagingPath, "pid", v.PID, "targets", len(v.Targets))
		case serving(v.StagingPath, v.CacheDir):
			// Mounted by a daemon the record does not name (the plugin
			// stopped while starting it): learn its identity.
			if pid, start, err := daemonIdentity(v.CacheDir); err == nil {
				v.PID, v.PIDStart = pid, start
				if err := d.store.Save(v); err != nil {
					d.log.Error("saving state", "volume", v.VolumeID, "err", err)
				}
			}
			d.log.Info("adopted a staged volume", "volume", v.VolumeID, "staging", v.StagingPath, "pid", v.PID, "targets", len(v.Targets))
		default:
			d.log.Warn("adopted a staged volume whose daemon is gone; it restarts at the next stage or publish", "volume", v.VolumeID, "staging", v.StagingPath)
		}
	}
}

// Run serves the CSI services on opts.Endpoint (and the metrics) until ctx
// ends. The daemons keep running: they outlive the plugin.
func (d *Driver) Run(ctx context.Context) error {
	ln, err := listen(d.opts.Endpoint)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(d.logCalls))
	csipb.RegisterIdentityServer(srv, d)
	csipb.RegisterControllerServer(srv, d)
	csipb.RegisterNodeServer(srv, d)

	var metricsSrv *http.Server
	if d.opts.MetricsAddr != "" {
		mln, err := net.Listen("tcp", d.opts.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics address: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = metricsSrv.Serve(mln) }()
		d.log.Info("serving metrics", "addr", mln.Addr().String())
	}
	d.log.Info("serving CSI", "driver", DriverName, "version", d.opts.Version, "endpoint", d.opts.Endpoint, "node", d.opts.NodeID,
		"cache_root", d.opts.CacheRoot, "state_dir", d.opts.StateDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.GracefulStop()
	case err = <-errc:
	}
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	d.stopWarms()
	return err
}

// listen opens the gRPC endpoint, replacing a socket file a previous
// plugin left behind.
func listen(endpoint string) (net.Listener, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "unix" {
		return nil, fmt.Errorf("--endpoint %q: must be unix:///PATH (e.g. unix:///csi/csi.sock)", endpoint)
	}
	p := u.Path
	if u.Host != "" { // unix://relative/path
		p = u.Host + u.Path
	}
	if p == "" {
		return nil, fmt.Errorf("--endpoint %q: no socket path", endpoint)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return net.Listen("unix", p)
}

// logCalls logs every call that fails, and the node calls that change
// something, at info; the rest (probes, capability queries) at debug.
func (d *Driver) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	method := filepath.Base(info.FullMethod)
	switch {
	case err != nil:
		d.log.Warn("CSI call failed", "method", method, "code", status.Code(err).String(), "err", status.Convert(err).Message(), "took", time.Since(start).Round(time.Millisecond))
	case isChange(method):
		d.log.Info("CSI call", "method", method, "took", time.Since(start).Round(time.Millisecond))
	default:
		d.log.Debug("CSI call", "method", method)
	}
	return resp, err
}

func isChange(method string) bool {
	switch method {
	case "NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume", "NodeUnpublishVolume", "CreateVolume", "DeleteVolume":
		return true
	}
	return false
}

// Identity service.

func (d *Driver) GetPluginInfo(context.Context, *csipb.GetPluginInfoRequest) (*csipb.GetPluginInfoResponse, error) {
	return &csipb.GetPluginInfoResponse{Name: DriverName, VendorVersion: d.opts.Version}, nil
}

func (d *Driver) GetPluginCapabilities(context.Context, *csipb.GetPluginCapabilitiesRequest) (*csipb.GetPluginCapabilitiesResponse, error) {
	return &csipb.GetPluginCapabilitiesResponse{Capabilities: []*csipb.PluginCapability{{
		Type: &csipb.PluginCapability_Service_{Service: &csipb.PluginCapability_Service{Type: csipb.PluginCapability_Service_CONTROLLER_SERVICE}},
	}}}, nil
}

func (d *Driver) Probe(context.Context, *csipb.ProbeRequest) (*csipb.ProbeResponse, error) {
	return &csipb.ProbeResponse{}, nil
}

// invalid is an InvalidArgument error.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
