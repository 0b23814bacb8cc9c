package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Workloads, in table order. Each names its unit.
const (
	wColdSeq            = "1. cold sequential read (MB/s)"
	wRemount            = "2. after remount, page cache dropped (MB/s)"
	wSecondOpen         = "3. second open of an unchanged file (MB/s)"
	wSecondOpenReqs     = "3. second open: requests to OSS"
	wSecondOpenBytes    = "3. second open: body bytes from OSS"
	wTTFB               = "4. time to first byte, cold file (ms)"
	wCold4kGetsPerRead  = "5. cold random 4K direct: GETs per read"
	wCold4kBytesPerRead = "5. cold random 4K direct: bytes fetched per read"
	wSmall              = "6. 1,000 files of 128 KiB, 8 threads (files/s)"
	wList               = "7. ls -l of 10,000 keys (s)"
	wListHeads          = "7. ls -l: HEAD requests"
	wCPU                = "8. daemon CPU seconds per GiB (cold read)"
	wRSS                = "8. daemon peak RSS over all workloads (MiB)"
)

// lowerIsBetter lists the workloads where a smaller number wins.
var lowerIsBetter = map[string]bool{
	wSecondOpenReqs: true, wSecondOpenBytes: true, wTTFB: true, wCold4kGetsPerRead: true,
	wCold4kBytesPerRead: true, wList: true, wListHeads: true, wCPU: true, wRSS: true,
}

func order() []string {
	rows := []string{wColdSeq, wRemount, wSecondOpen, wSecondOpenReqs, wSecondOpenBytes, wTTFB}
	for _, cold := range []bool{true, false} {
		for _, j := range fioJobs {
			rows = append(rows, "5. "+j.workload(cold))
		}
	}
	return append(rows, wCold4kGetsPerRead, wCold4kBytesPerRead, wSmall, wList, wListHeads, wCPU, wRSS)
}

var peers = []string{"ossmount", "s3fs", "rclone"}

type results struct {
	mu       sync.Mutex
	v        map[string]map[string]float64 // workload → system → value
	baseline map[string]string             // workload → name of its yardstick column
	elapsed  time.Duration
}

func newResults() *results {
	return &results{v: map[string]map[string]float64{}, baseline: map[string]string{}}
}

func canon(w string) string {
	if strings.HasPrefix(w, "random ") {
		return "5. " + w
	}
	return w
}

func (r *results) set(w, sys string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w = canon(w)
	if r.v[w] == nil {
		r.v[w] = map[string]float64{}
	}
	r.v[w][sys] = v
	if !contains(peers, sys) {
		r.baseline[w] = sys
	}
}

func (r *results) max(w, sys string, v float64) {
	if old, ok := r.get(w, sys); !ok || v > old {
		r.set(w, sys, v)
	}
}

func (r *results) get(w, sys string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.v[canon(w)][sys]
	return v, ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// advantage is how many times better ossmount is than other on w (>1:
// ossmount wins), or NaN when either is missing or zero.
func (r *results) advantage(w, other string) float64 {
	o, ok1 := r.get(w, "ossmount")
	p, ok2 := r.get(w, other)
	if !ok1 || !ok2 || o == 0 || p == 0 {
		return math.NaN()
	}
	if lowerIsBetter[canon(w)] {
		return p / o
	}
	return o / p
}

func fmtVal(v float64, ok bool) string {
	switch {
	case !ok:
		return "—"
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", x)
}

// table renders the results as a Markdown table.
func (r *results) table() string {
	var sb strings.Builder
	sb.WriteString("| workload | ossmount | s3fs | rclone | yardstick | ossmount vs yardstick | vs s3fs | vs rclone |\n")
	sb.WriteString("|---|---:|---:|---:|---|---:|---:|---:|\n")
	for _, w := range order() {
		cells := []string{w}
		for _, p := range peers {
			v, ok := r.get(w, p)
			cells = append(cells, fmtVal(v, ok))
		}
		base := r.baseline[w]
		if base != "" {
			v, _ := r.get(w, base)
			cells = append(cells, base+": "+fmtVal(v, true), fmtRatio(r.advantage(w, base)))
		} else {
			cells = append(cells, "", "")
		}
		cells = append(cells, fmtRatio(r.advantage(w, "s3fs")), fmtRatio(r.advantage(w, "rclone")))
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	sb.WriteString("\nRatios are \"times better for ossmount\" (above 1: ossmount wins), whichever way the unit points.\n")
	return sb.String()
}

// targets checks issue 4's targets against this run.
func (r *results) targets() string {
	var sb strings.Builder
	check := func(name string, ok bool, detail string) {
		mark := "met"
		if !ok {
			mark = "**missed**"
		}
		fmt.Fprintf(&sb, "- %s: %s (%s)\n", name, mark, detail)
	}
	get := func(w, s string) float64 { v, _ := r.get(w, s); return v }
	a := r.advantage
	check("cold sequential ≥ 1.0× SDK Downloader", a(wColdSeq, "SDK Downloader") >= 1.0, fmtRatio(a(wColdSeq, "SDK Downloader")))
	check("cold sequential ≥ 2.5× s3fs", a(wColdSeq, "s3fs") >= 2.5, fmtRatio(a(wColdSeq, "s3fs")))
	check("after remount ≥ 0.8× local file", a(wRemount, "local file") >= 0.8, fmtRatio(a(wRemount, "local file")))
	check("second open ≥ 0.5× local page cache", a(wSecondOpen, "local file") >= 0.5, fmtRatio(a(wSecondOpen, "local file")))
	check("time to first byte ≤ 2 round trips + one block", get(wTTFB, "ossmount") <= get(wTTFB, "target"),
		fmt.Sprintf("%.1f ms vs %.1f ms", get(wTTFB, "ossmount"), get(wTTFB, "target")))
	check("cold random 4K: ≤ 1 GET and ≤ one block (1 MiB) per read",
		get(wCold4kGetsPerRead, "ossmount") <= 1 && get(wCold4kBytesPerRead, "ossmount") <= mib,
		fmt.Sprintf("%.3f GETs, %.0f bytes per read", get(wCold4kGetsPerRead, "ossmount"), get(wCold4kBytesPerRead, "ossmount")))
	for _, j := range fioJobs {
		w := "5. " + j.workload(false)
		check("warm random "+j.name()+" ≥ 3× s3fs", a(w, "s3fs") >= 3, fmtRatio(a(w, "s3fs")))
	}
	check("small files ≥ 1.5× s3fs", a(wSmall, "s3fs") >= 1.5, fmtRatio(a(wSmall, "s3fs")))
	check("ls -l ≤ 2× the listing requests alone", get(wList, "ossmount") <= 2*get(wList, "listing requests alone"),
		fmt.Sprintf("%.2f s vs %.2f s, %v HEADs", get(wList, "ossmount"), get(wList, "listing requests alone"), get(wListHeads, "ossmount")))
	check("daemon peak RSS ≤ 256 MiB", get(wRSS, "ossmount") <= 256, fmt.Sprintf("%.0f MiB", get(wRSS, "ossmount")))
	check("CPU per GiB ≤ s3fs", get(wCPU, "ossmount") <= get(wCPU, "s3fs"),
		fmt.Sprintf("%.2f s vs %.2f s", get(wCPU, "ossmount"), get(wCPU, "s3fs")))
	return sb.String()
}

func (b *bench) report() error {
	tbl := b.res.table()
	tg := b.res.targets()
	fmt.Println()
	fmt.Print(tbl)
	fmt.Println()
	fmt.Print(tg)
	settings := fmt.Sprintf("Link: the in-process OSS emulator, %v before each response, %s/s per connection (per response body), 127.0.0.1. "+
		"Big object %s; time-to-first-byte object 64 MiB; %d small files of 128 KiB; %d keys listed; fio: randread, psync, 4 jobs, %d s each. "+
		"Cold = fresh cache dir and page cache dropped; warm random = after a full sequential read; remount = same cache dir, page cache dropped. "+
		"ossmount at defaults (16 parallel 8 MiB parts, 1 MiB blocks); s3fs with use_cache (disk cache) and public_bucket; "+
		"rclone mount --vfs-cache-mode full; all anonymous and path-style. The run took %s.",
		*flagLatency, *flagBandwidth, *flagSize, *flagSmall, *flagListKeys, *flagFioTime, b.res.elapsed.Round(time.Second))
	md := fmt.Sprintf("# ossmount benchmark\n\nWritten by `make bench` (test/bench/cmd/bench) on %s.\n\n"+
		"**Machine:** %s.\n\n**Settings:** %s\n\n%s\n## Targets (issue 4)\n\n%s\n![ossmount advantage per workload](results.png)\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), machine(), settings, tbl, tg)
	if err := os.WriteFile(filepath.Join(*flagOut, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := b.res.chart(filepath.Join(*flagOut, "results.png")); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	logf("wrote %s and results.png", filepath.Join(*flagOut, "results.md"))
	return nil
}

// chart draws ossmount's advantage over each peer and yardstick per
// workload as grouped bars (capped at 10× so the small ratios stay legible).
func (r *results) chart(path string) error {
	const capAt = 10
	rows := []struct{ w, short string }{
		{wColdSeq, "cold seq"}, {wRemount, "remount"}, {wSecondOpen, "2nd open"}, {wTTFB, "TTFB"},
		{"5. " + fioJobs[0].workload(true), "rand 4K cold"}, {"5. " + fioJobs[2].workload(true), "rand 128K cold"},
		{"5. " + fioJobs[0].workload(false), "rand 4K warm"}, {"5. " + fioJobs[3].workload(false), "rand 128K warm"},
		{wSmall, "small files"}, {wList, "ls -l"}, {wCPU, "CPU/GiB"}, {wRSS, "peak RSS"},
	}
	p := plot.New()
	p.Title.Text = "ossmount advantage (× better; 1 = par; capped at 10)"
	p.Y.Label.Text = "× better than"
	p.Y.Min = 0
	names := make([]string, len(rows))
	for i, row := range rows {
		names[i] = row.short
	}
	series := []struct {
		name string
		col  color.Color
		base bool
	}{
		{"yardstick (SDK / local / target / listing)", color.RGBA{90, 90, 90, 255}, true},
		{"s3fs", color.RGBA{220, 120, 40, 255}, false},
		{"rclone", color.RGBA{50, 110, 200, 255}, false},
	}
	w := vg.Points(12)
	for i, s := range series {
		vals := make(plotter.Values, len(rows))
		for j, row := range rows {
			other := s.name
			if s.base {
				other = r.baseline[row.w]
			}
			x := r.advantage(row.w, other)
			if math.IsNaN(x) {
				x = 0
			}
			vals[j] = math.Min(x, capAt)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color = s.col
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(i-1) * w
		p.Add(bars)
		p.Legend.Add(s.name, bars)
	}
	par := plotter.NewFunction(func(float64) float64 { return 1 })
	par.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(par)
	p.Legend.Top = true
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = -0.9
	return p.Save(12*vg.Inch, 6*vg.Inch, path)
}
