package csi

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossmount/ossmount/control"
)

// metrics are the plugin's Prometheus metrics, every series labelled with
// the volume ID: each staged volume's daemon figures (the ossmount_*
// metrics of `ossmount stats`, read from the daemon's control socket at
// scrape time, so nothing is cached or summed here and a daemon's counters
// are the truth), and the plugin's own per-volume figures (ossmount_csi_*).
type metrics struct {
	d   *Driver
	reg *prometheus.Registry

	restarts     *prometheus.CounterVec
	warmDone     *prometheus.GaugeVec
	warmTotal    *prometheus.GaugeVec
	warmComplete *prometheus.GaugeVec

	mu      sync.Mutex                      // guards daemons
	daemons map[string]prometheus.Collector // each volume's registered daemon collector
}

const volumeLabel = "volume_id"

func newMetrics(d *Driver) *metrics {
	m := &metrics{
		d: d, reg: prometheus.NewRegistry(), daemons: map[string]prometheus.Collector{},
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ossmount_csi_daemon_restarts_total",
			Help: "Times the volume's daemon was found dead and started again on its cache."}, []string{volumeLabel}),
		warmDone: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ossmount_csi_warm_done_bytes",
			Help: "Bytes the volume's warm (volume attribute warm) has fetched or found cached so far."}, []string{volumeLabel}),
		warmTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ossmount_csi_warm_total_bytes",
			Help: "Bytes the volume's warm covers."}, []string{volumeLabel}),
		warmComplete: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ossmount_csi_warm_complete",
			Help: "1 once the volume's warm has finished, 0 while it runs or after it failed."}, []string{volumeLabel}),
	}
	m.reg.MustRegister(m.restarts, m.warmDone, m.warmTotal, m.warmComplete, upCollector{m})
	return m
}

// upCollector reports whether each staged volume's daemon serves its mount.
type upCollector struct{ m *metrics }

var upDesc = prometheus.NewDesc("ossmount_csi_volume_up", "1 when the volume's daemon serves its staging path, 0 when it is gone.", []string{volumeLabel}, nil)

func (u upCollector) Describe(ch chan<- *prometheus.Desc) { ch <- upDesc }

func (u upCollector) Collect(ch chan<- prometheus.Metric) {
	u.m.d.mu.Lock()
	type vol struct{ id, staging, cache string }
	var vols []vol
	for id, v := range u.m.d.vols {
		vols = append(vols, vol{id, v.StagingPath, v.CacheDir})
	}
	u.m.d.mu.Unlock()
	for _, v := range vols {
		up := 0.0
		if serving(v.staging, v.cache) {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, v.id)
	}
}

// daemonCollector exports one daemon's figures; a daemon that does not
// answer contributes nothing (ossmount_csi_volume_up says why).
type daemonCollector struct{ cacheDir string }

func (c daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	control.NewCollector(nil).Describe(ch)
}

func (c daemonCollector) Collect(ch chan<- prometheus.Metric) {
	client, err := control.Dial(control.SocketPath(c.cacheDir))
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := client.Stats(ctx)
	if err != nil {
		return
	}
	control.NewCollector(func() control.Snapshot { return snap }).Collect(ch)
}

// add starts exporting volume id's series.
func (m *metrics) add(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.daemons[id]; ok {
		return
	}
	v := m.d.volume(id)
	if v == nil {
		return
	}
	c := daemonCollector{cacheDir: v.CacheDir}
	if err := prometheus.WrapRegistererWith(prometheus.Labels{volumeLabel: id}, m.reg).Register(c); err != nil {
		m.d.log.Error("registering the volume's metrics", "volume", id, "err", err)
		return
	}
	m.daemons[id] = c
	m.restarts.WithLabelValues(id)
}

// remove stops exporting volume id's series.
func (m *metrics) remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.daemons[id]; ok {
		prometheus.WrapRegistererWith(prometheus.Labels{volumeLabel: id}, m.reg).Unregister(c)
		delete(m.daemons, id)
	}
	for _, vec := range []*prometheus.GaugeVec{m.warmDone, m.warmTotal, m.warmComplete} {
		vec.DeleteLabelValues(id)
	}
	m.restarts.DeleteLabelValues(id)
}

func (m *metrics) restarted(id string) { m.restarts.WithLabelValues(id).Inc() }
