package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ossmount/ossmount/config"
)

// Workloads, in table order. Each names its unit.
const (
	wColdSeq            = "1. cold sequential read (MB/s)"
	wRemount            = "2. after remount, page cache dropped (MB/s)"
	wSecondOpen         = "3. second open of an unchanged file (MB/s)"
	wSecondOpenReqs     = "3. second open: requests to OSS"
	wSecondOpenBytes    = "3. second open: body bytes from OSS"
	wTTFB               = "4. time to first byte, cold file (ms)"
	wCold4kGetsPerRead  = "5. cold random 4K direct=1: GETs per read"
	wCold4kBytesPerRead = "5. cold random 4K direct=1: bytes fetched per read"
	wSmall              = "6. 1,000 files of 128 KiB, 8 readers (files/s)"
	wList               = "7. ls -l of 10,000 keys (s)"
	wListHeads          = "7. ls -l: HEAD requests"
	wCPU                = "8. daemon CPU seconds per GiB (cold sequential read)"
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
			rows = append(rows, j.workload(cold))
		}
	}
	return append(rows, wCold4kGetsPerRead, wCold4kBytesPerRead, wSmall, wList, wListHeads, wCPU, wRSS)
}

// peers are the mounts under test, in column order; anything else set is a
// yardstick.
var peers = []string{"ossmount", "ossfs2", "s3fs", "rclone"}

// title is how a system is named in the results.
func title(sys string) string {
	if sys == "ossfs2" {
		return "ossfs 2.0"
	}
	return sys
}

// results holds every round's figure per workload and system; a figure
// reported is the median over the rounds that produced it.
type results struct {
	mu       sync.Mutex
	round    int                             // the round being measured
	v        map[string]map[string][]float64 // workload → system → value per round (NaN: not measured)
	baseline map[string]string               // workload → name of its yardstick
	skipped  map[string]string               // system → why it was not run
	rounds   int
	elapsed  time.Duration
}

func newResults() *results {
	return &results{v: map[string]map[string][]float64{}, baseline: map[string]string{}, skipped: map[string]string{}}
}

// startRound makes later set and max calls record round n.
func (r *results) startRound(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.round = n
	r.rounds = max(r.rounds, n+1)
}

func (r *results) skip(sys, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped[sys] = why
}

// slot returns the current round's cell of w and sys, growing as needed.
// Callers hold r.mu.
func (r *results) slot(w, sys string) *float64 {
	if r.v[w] == nil {
		r.v[w] = map[string][]float64{}
	}
	vals := r.v[w][sys]
	for len(vals) <= r.round {
		vals = append(vals, math.NaN())
	}
	r.v[w][sys] = vals
	if !slices.Contains(peers, sys) {
		r.baseline[w] = sys
	}
	return &vals[r.round]
}

func (r *results) set(w, sys string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.slot(w, sys) = v
}

// max keeps the largest value of this round.
func (r *results) max(w, sys string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.slot(w, sys); math.IsNaN(*p) || v > *p {
		*p = v
	}
}

// all returns the measured values of w and sys, round by round.
func (r *results) all(w, sys string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for _, v := range r.v[w][sys] {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// get returns the median over the rounds.
func (r *results) get(w, sys string) (float64, bool) {
	vals := r.all(w, sys)
	if len(vals) == 0 {
		return 0, false
	}
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2], true
	}
	return (vals[n/2-1] + vals[n/2]) / 2, true
}

// advantage is how many times better ossmount is than other on w (>1:
// ossmount wins), or NaN when either is missing or zero.
func (r *results) advantage(w, other string) float64 {
	o, ok1 := r.get(w, "ossmount")
	p, ok2 := r.get(w, other)
	if !ok1 || !ok2 || o == 0 || p == 0 {
		return math.NaN()
	}
	if lowerIsBetter[w] {
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
	switch {
	case math.IsNaN(x):
		return "—"
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	case x >= 0.1:
		return fmt.Sprintf("%.2f×", x)
	default:
		return fmt.Sprintf("%.3f×", x)
	}
}

// ran lists the peers that produced figures, in column order.
func (r *results) ran() []string {
	var out []string
	for _, p := range peers {
		if _, ok := r.get(wColdSeq, p); ok {
			out = append(out, p)
		}
	}
	return out
}

// table renders the medians as a Markdown table.
func (r *results) table() string {
	ran := r.ran()
	var sb strings.Builder
	head := []string{"workload"}
	align := []string{"---"}
	for _, p := range ran {
		head = append(head, title(p))
		align = append(align, "---:")
	}
	head = append(head, "yardstick", "ossmount vs yardstick")
	align = append(align, "---", "---:")
	for _, p := range ran[1:] {
		head = append(head, "vs "+title(p))
		align = append(align, "---:")
	}
	sb.WriteString("| " + strings.Join(head, " | ") + " |\n|" + strings.Join(align, "|") + "|\n")
	for _, w := range order() {
		cells := []string{w}
		for _, p := range ran {
			v, ok := r.get(w, p)
			cells = append(cells, fmtVal(v, ok))
		}
		if base := r.baseline[w]; base != "" {
			v, ok := r.get(w, base)
			cells = append(cells, base+": "+fmtVal(v, ok), fmtRatio(r.advantage(w, base)))
		} else {
			cells = append(cells, "", "")
		}
		for _, p := range ran[1:] {
			cells = append(cells, fmtRatio(r.advantage(w, p)))
		}
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return sb.String()
}

// spread lists every round's figure of the headline workloads, so a reader
// sees how much a median can be trusted on a shared machine.
func (r *results) spread() string {
	var sb strings.Builder
	sb.WriteString("| workload | " + strings.Join(mapTitles(r.ran()), " | ") + " |\n|---|" + strings.Repeat("---|", len(r.ran())) + "\n")
	for _, w := range []string{wColdSeq, wCPU, wSmall, fioJobs[0].workload(true), wList} {
		cells := []string{w}
		for _, p := range r.ran() {
			var vs []string
			for _, v := range r.all(w, p) {
				vs = append(vs, fmtVal(v, true))
			}
			cells = append(cells, strings.Join(vs, ", "))
		}
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return sb.String()
}

func mapTitles(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = title(x)
	}
	return out
}

// targets checks the project's goals against this run's medians.
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
	if _, ok := r.get(wColdSeq, "ossfs2"); ok {
		check("cold sequential ≥ 1.15× ossfs 2.0", a(wColdSeq, "ossfs2") >= 1.15, fmtRatio(a(wColdSeq, "ossfs2")))
		check("daemon CPU per cold GiB ≤ ossfs 2.0's (with CRC-64 on every block and the cache written)", a(wCPU, "ossfs2") >= 1,
			fmt.Sprintf("%.2f s vs %.2f s", get(wCPU, "ossmount"), get(wCPU, "ossfs2")))
		check("1,000 small files ≥ 1.15× ossfs 2.0", a(wSmall, "ossfs2") >= 1.15, fmtRatio(a(wSmall, "ossfs2")))
		for _, w := range []string{fioJobs[0].workload(true), fioJobs[3].workload(true), wList, wRemount, wSecondOpen} {
			check("no loss to ossfs 2.0: "+w, a(w, "ossfs2") >= 1, fmtRatio(a(w, "ossfs2")))
		}
	}
	check("cold sequential ≥ 1.0× SDK Downloader", a(wColdSeq, "SDK Downloader") >= 1.0, fmtRatio(a(wColdSeq, "SDK Downloader")))
	check("cold sequential ≥ 2.5× s3fs", a(wColdSeq, "s3fs") >= 2.5, fmtRatio(a(wColdSeq, "s3fs")))
	check("after remount ≥ 0.8× local disk", a(wRemount, "local file, cold") >= 0.8, fmtRatio(a(wRemount, "local file, cold")))
	check("second open ≥ 0.5× local page cache", a(wSecondOpen, "local file, page cache") >= 0.5, fmtRatio(a(wSecondOpen, "local file, page cache")))
	check("time to first byte ≤ 2 round trips + one block", get(wTTFB, "ossmount") <= get(wTTFB, "2 round trips + 1 MiB"),
		fmt.Sprintf("%.1f ms vs %.1f ms", get(wTTFB, "ossmount"), get(wTTFB, "2 round trips + 1 MiB")))
	check("cold random 4K: ≤ 1 GET and ≤ one block (1 MiB) per read",
		get(wCold4kGetsPerRead, "ossmount") <= 1 && get(wCold4kBytesPerRead, "ossmount") <= mib,
		fmt.Sprintf("%.3f GETs, %.0f bytes per read", get(wCold4kGetsPerRead, "ossmount"), get(wCold4kBytesPerRead, "ossmount")))
	for _, j := range fioJobs {
		w := j.workload(false)
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

// report prints the table and writes results.md and results.png.
func (b *bench) report() error {
	tbl := b.res.table()
	tg := b.res.targets()
	fmt.Println()
	fmt.Print(tbl)
	fmt.Println()
	fmt.Print(tg)
	md := b.markdown(tbl, tg)
	if err := os.WriteFile(filepath.Join(*flagOut, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := b.res.chart(filepath.Join(*flagOut, "results.png")); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	logf("wrote %s and results.png", filepath.Join(*flagOut, "results.md"))
	return nil
}

func (b *bench) markdown(tbl, tg string) string {
	var sb strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	p("# ossmount benchmark\n\n")
	p("Written by `make bench` (test/bench/cmd/bench) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("ossmount and the FUSE mounts an OSS user would otherwise pick read the same objects from one\n"+
		"emulated OSS endpoint on a link shaped like a real one, on one machine, in one run. The clients\n"+
		"take turns: each of the %d rounds measures every client once (in a rotating order), and every\n"+
		"figure below is the median of the rounds. Ratios compare clients measured minutes apart on the\n"+
		"same machine, so a busy machine moves them less than the absolute figures, which depend on it.\n\n", b.res.rounds)
	p("## How it was measured\n\n")
	p("- **Link:** the OSS emulator (test/ossemu) in the driver process adds %v before every response and caps\n"+
		"  every response body at %s/s, which is what one TCP connection to OSS gives; clients reach it on 127.0.0.1.\n",
		*flagLatency, *flagBandwidth)
	p("- **Data:** one %s object (the sequential and random reads), a 64 MiB object (time to first byte),\n"+
		"  %d objects of 128 KiB, and %d one-byte keys under one prefix (the listing). Every byte read is checked.\n",
		*flagSize, *flagSmall, *flagListKeys)
	p("- **Cold** means a fresh mount with an empty cache directory and the kernel page cache dropped; **after\n"+
		"  remount** keeps the cache directory and drops the page cache; **warm random** runs after a full\n"+
		"  sequential read. Random reads are fio randread, psync, 4 jobs, %d s per job, with\n"+
		"  `direct=1` (every read goes to the mount; the kernel page cache is bypassed) or **buffered**\n"+
		"  (the kernel page cache in front of the mount serves repeats).\n", *flagFioTime)
	p("- **Daemon CPU and RSS** are read from /proc of the process serving the mountpoint (user + system\n" +
		"  time of all its threads; peak resident set over every session of a round).\n\n")
	p("### The clients and their options\n\n")
	p("- **ossmount** (this project), defaults: up to %d GETs of %d MiB parts in flight, 1 MiB blocks kept in a\n"+
		"  checkpointed disk cache, CRC-64 checked on every block; anonymous.\n", config.DefaultParallel, config.DefaultPartSize>>20)
	p("- **ossfs 2.0** (Alibaba's ossfs2, built from its public source), defaults (up to 64 prefetches of\n" +
		"  8 MiB per file and 256 in total, 100 keys per listing page, no disk cache, no CRC-64 check on reads)\n" +
		"  plus `--ro`, the endpoint, the bucket and an access key (it has no anonymous mode; it signs with OSS V1),\n" +
		"  and `--http_proxy` pointing at the emulator, because it always addresses the bucket as a host name.\n")
	p("- **s3fs** with `use_cache` (its disk cache) and `public_bucket=1`, path-style, `ro`.\n")
	p("- **rclone mount** with `--vfs-cache-mode full` (its disk cache) and `--read-only`, path-style, anonymous.\n")
	for _, sys := range peers {
		if why, ok := b.res.skipped[sys]; ok {
			p("- **%s was not run:** %s\n", title(sys), why)
		}
	}
	p("\n### The yardsticks\n\n")
	p("A yardstick is not a mount: it is the best a reader could hope for on that workload, to show how\n" +
		"close each client gets.\n\n")
	p("- **SDK Downloader** (cold sequential): the OSS Go SDK's parallel downloader (%d × %d MiB parts, as\n"+
		"  ossmount's defaults) writing the object to a local file: what the link gives a program that needs no\n"+
		"  filesystem.\n", config.DefaultParallel, config.DefaultPartSize>>20)
	p("- **local file, cold** (after remount): the same bytes read from a file on the local disk with the page\n" +
		"  cache dropped: a disk cache cannot beat the disk.\n")
	p("- **local file, page cache** (second open): the same file read again from the kernel page cache.\n")
	p("- **2 round trips + 1 MiB** (time to first byte): one round trip to open, one to start the first\n" +
		"  GET, and one 1 MiB block at the link's rate.\n")
	p("- **listing requests alone** (ls -l): the ListObjectsV2 pages of the prefix fetched one after the\n" +
		"  other (each needs the previous page's token), with no filesystem and no per-file requests.\n\n")
	p("### Reading the random-read rows\n\n")
	p("rclone's cold random figures come from its whole-file background download: with `--vfs-cache-mode\n" +
		"full`, opening the file starts downloading all of it, and fio's random reads are then served from\n" +
		"that local copy as it fills. They measure a full download, not random reads against the store;\n" +
		"the bytes-fetched-per-read row shows it. ossmount fetches the 1 MiB block a read needs and\n" +
		"keeps it in its disk cache. ossfs 2.0 keeps no disk cache: its warm `direct=1` reads go to the\n" +
		"store again, while its warm buffered reads are served by the kernel page cache.\n\n")
	p("## Results (median of %d rounds)\n\n", b.res.rounds)
	p("%s\nRatios read \"times better for ossmount\": above 1× ossmount wins, below 1× it loses, whichever\n"+
		"way the unit points (for seconds, requests, bytes, CPU and memory, less is better).\n\n", tbl)
	p("![ossmount's advantage per workload, log scale](results.png)\n\n")
	p("## Targets\n\nThe goals the project set for itself, checked against the medians above.\n\n%s\n", tg)
	p("## Every round of the headline workloads\n\n%s\n", b.res.spread())
	p("**Machine:** %s. The run took %s.\n", machine(), b.res.elapsed.Round(time.Second))
	return sb.String()
}
