package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ossmount/ossmount/vfs"
)

// Daemon is what the endpoint serves.
type Daemon struct {
	Sources
	FS  *vfs.FS
	Log *slog.Logger
}

// Server is the running control endpoint (and metrics listener).
type Server struct {
	socket  string
	srv     *http.Server
	metrics *http.Server
	wg      sync.WaitGroup
}

// WarmRequest asks the daemon to warm paths (relative to the mount root).
type WarmRequest struct {
	Paths []string `json:"paths"`
}

// WarmEvent is one line of a warm response: first the plan (Files, Total),
// then progress (Path, Done, Cached), then the end (End, with Error if it
// failed).
type WarmEvent struct {
	Files []vfs.WarmFile `json:"files,omitempty"`
	Total int64          `json:"total,omitempty"`
	Path  string         `json:"path,omitempty"`
	Done  int64          `json:"done"` // bytes of the whole request done so far
	// Cached: of Done, the bytes that were cached already (not fetched).
	Cached int64  `json:"cached"`
	End    bool   `json:"end,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ClearResult is the answer of a cache clear.
type ClearResult struct {
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// Start listens on socket (replacing a stale one) and, if metricsAddr is
// set, serves Prometheus metrics there.
func Start(socket, metricsAddr string, d *Daemon) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	_ = os.Remove(socket) // a socket left by a crashed daemon; the cache lock says it is ours now
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{socket: socket, srv: &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}}
	if metricsAddr != "" {
		mln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("metrics_addr %s: %w", metricsAddr, err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(NewCollector(d.Sources.Snapshot))
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		// Profiles and goroutine dumps, for "why is it slow" and leak hunts
		// (the soak test counts goroutines here).
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		s.serve(s.metrics, mln, d.Log)
	}
	s.serve(s.srv, ln, d.Log)
	return s, nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener, log *slog.Logger) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control endpoint stopped", "err", err)
		}
	}()
}

// Close stops serving (cancelling warms in progress) and removes the socket.
func (s *Server) Close() {
	_ = s.srv.Close()
	if s.metrics != nil {
		_ = s.metrics.Close()
	}
	s.wg.Wait()
	_ = os.Remove(s.socket)
}

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, d.Snapshot())
	})
	mux.HandleFunc("GET /v1/cache/du", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, UsageOf(d.Cache.Usage()))
	})
	mux.HandleFunc("POST /v1/cache/verify", func(w http.ResponseWriter, r *http.Request) {
		rep, err := d.Cache.Verify(nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, VerifyReportOf(rep))
	})
	mux.HandleFunc("POST /v1/cache/clear", func(w http.ResponseWriter, r *http.Request) {
		n, b := d.Cache.Clear(r.URL.Query().Get("bucket"), r.URL.Query().Get("key"))
		writeJSON(w, ClearResult{Objects: n, Bytes: b})
	})
	mux.HandleFunc("POST /v1/warm", d.warm)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// warm streams WarmEvents while fetching the requested paths.
func (d *Daemon) warm(w http.ResponseWriter, r *http.Request) {
	var req WarmRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad warm request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(ev WarmEvent) {
		_ = enc.Encode(ev)
		if flusher != nil {
			flusher.Flush()
		}
	}
	fail := func(err error) { send(WarmEvent{End: true, Error: err.Error()}) }

	var plan []vfs.WarmFile
	seen := map[string]bool{}
	for _, p := range req.Paths {
		p = strings.Trim(filepath.Clean("/"+p), "/")
		files, err := d.FS.WarmPlan(ctx, p)
		if err != nil {
			fail(fmt.Errorf("%s: %w", displayPath(p), err))
			return
		}
		for _, f := range files {
			if !seen[f.Path] {
				seen[f.Path] = true
				plan = append(plan, f)
			}
		}
	}
	var total int64
	for _, f := range plan {
		total += f.Size
	}
	send(WarmEvent{Files: plan, Total: total})
	d.Log.Info("warming", "files", len(plan), "bytes", total)

	var base, baseCached int64
	last := time.Now()
	for _, f := range plan {
		var fileCached int64
		err := d.FS.Warm(ctx, f.Path, func(done, cached int64) {
			fileCached = cached
			// At most ~10 lines a second: the client redraws, it does not log.
			if now := time.Now(); now.Sub(last) >= 100*time.Millisecond {
				last = now
				send(WarmEvent{Path: f.Path, Done: base + done, Cached: baseCached + cached})
			}
		})
		if err != nil {
			if ctx.Err() != nil {
				d.Log.Info("warm cancelled by the client", "path", f.Path)
				return
			}
			fail(fmt.Errorf("%s: %w", f.Path, err))
			return
		}
		base += f.Size
		baseCached += fileCached
		send(WarmEvent{Path: f.Path, Done: base, Cached: baseCached})
	}
	send(WarmEvent{Done: base, Cached: baseCached, End: true})
}

func displayPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
