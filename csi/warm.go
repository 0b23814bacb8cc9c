package csi

import (
	"context"
	"time"

	"github.com/ossmount/ossmount/control"
	"github.com/ossmount/ossmount/csi/internal/state"
)

// startWarm prefetches the volume's warm paths in the background after
// its daemon started, through the daemon's own warm (what `ossmount warm`
// asks for): files are fetched one after another with the mount's fetcher,
// under its GET bound, into its cache. Progress goes to the plugin's log
// and to the ossmount_csi_warm_* metrics. A warm of a volume already
// cached costs one listing and no GET of data.
func (d *Driver) startWarm(v *state.Volume) {
	if len(v.Warm) == 0 {
		return
	}
	id, cacheDir := v.VolumeID, v.CacheDir
	paths := make([]string, len(v.Warm))
	for i, p := range v.Warm {
		if p == "." {
			p = ""
		}
		paths[i] = p
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	if prev := d.warms[id]; prev != nil {
		prev()
	}
	d.warms[id] = cancel
	d.mu.Unlock()
	m := d.metrics
	m.warmComplete.WithLabelValues(id).Set(0)
	m.warmDone.WithLabelValues(id).Set(0)
	go func() {
		defer cancel()
		log := d.log.With("volume", id)
		client, err := control.Dial(control.SocketPath(cacheDir))
		if err != nil {
			log.Error("warm: the daemon does not answer", "err", err)
			return
		}
		start, last := time.Now(), time.Now()
		var total int64
		err = client.Warm(ctx, paths, func(ev control.WarmEvent) {
			if ev.Files != nil { // the plan comes first
				total = ev.Total
				m.warmTotal.WithLabelValues(id).Set(float64(total))
				log.Info("warm: started", "files", len(ev.Files), "bytes", total, "paths", v.Warm)
				return
			}
			m.warmDone.WithLabelValues(id).Set(float64(ev.Done))
			if now := time.Now(); now.Sub(last) >= 5*time.Second {
				last = now
				log.Info("warm: progress", "done_bytes", ev.Done, "total_bytes", total, "file", ev.Path)
			}
		})
		switch {
		case ctx.Err() != nil:
			log.Info("warm: stopped")
		case err != nil:
			log.Error("warm: failed; what was fetched stays cached", "err", err)
		default:
			m.warmComplete.WithLabelValues(id).Set(1)
			log.Info("warm: done", "bytes", total, "took", time.Since(start).Round(time.Millisecond))
		}
	}()
}

// stopWarm cancels the volume's running warm, if any.
func (d *Driver) stopWarm(id string) {
	d.mu.Lock()
	cancel := d.warms[id]
	delete(d.warms, id)
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (d *Driver) stopWarms() {
	d.mu.Lock()
	warms := d.warms
	d.warms = map[string]context.CancelFunc{}
	d.mu.Unlock()
	for _, cancel := range warms {
		cancel()
	}
}
