package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedianOverRoundsAndMaxWithinARound(t *testing.T) {
	r := newResults()
	for round, v := range []float64{300, 100, 200} {
		r.startRound(round)
		r.set(wColdSeq, "ossmount", v)
		r.set(wColdSeq, "ossfs2", v/2)
		r.max(wRSS, "ossmount", v)
		r.max(wRSS, "ossmount", v+5)
		r.max(wRSS, "ossmount", 1)
	}
	if v, ok := r.get(wColdSeq, "ossmount"); !ok || v != 200 {
		t.Fatalf("median %v %v, want 200", v, ok)
	}
	if v, _ := r.get(wRSS, "ossmount"); v != 205 {
		t.Fatalf("RSS median of per-round maxima %v, want 205", v)
	}
	if got := r.all(wRSS, "ossmount"); len(got) != 3 || got[0] != 305 {
		t.Fatalf("per-round RSS %v", got)
	}
	// Higher is better for MB/s, lower for RSS.
	if a := r.advantage(wColdSeq, "ossfs2"); a != 2 {
		t.Fatalf("advantage %v, want 2", a)
	}
	r.set(wRSS, "ossfs2", 410) // round 2 only: its median is 410
	if a := r.advantage(wRSS, "ossfs2"); a != 2 {
		t.Fatalf("RSS advantage %v, want 2", a)
	}
	if a := r.advantage(wColdSeq, "rclone"); !math.IsNaN(a) {
		t.Fatalf("advantage over a peer not run: %v", a)
	}
	r.set(wSmall, "ossmount", 1) // even count: the mean of the middle two
	r.startRound(3)
	r.set(wSmall, "ossmount", 3)
	if v, _ := r.get(wSmall, "ossmount"); v != 2 {
		t.Fatalf("median of two %v", v)
	}
}

func TestTableNamesEveryPeerRunAndWhatWasLeftOut(t *testing.T) {
	r := newResults()
	r.startRound(0)
	r.set(wColdSeq, "ossmount", 400)
	r.set(wColdSeq, "s3fs", 100)
	r.set(wColdSeq, "SDK Downloader", 500)
	r.skip("ossfs2", "no binary")
	tbl := r.table()
	if !strings.Contains(tbl, "| workload | ossmount | s3fs | yardstick | ossmount vs yardstick | vs s3fs |") {
		t.Fatalf("header:\n%s", tbl)
	}
	if !strings.Contains(tbl, "| 1. cold sequential read (MB/s) | 400 | 100 | SDK Downloader: 500 | 0.80× | 4.00× |") {
		t.Fatalf("row:\n%s", tbl)
	}
	b := &bench{res: r}
	md := b.markdown(tbl, "")
	if !strings.Contains(md, "**ossfs 2.0 was not run:** no binary") || strings.Contains(md, "issue") {
		t.Fatalf("results.md:\n%s", md)
	}
	if err := r.chart(filepath.Join(t.TempDir(), "c.png")); err != nil {
		t.Fatal(err)
	}
}
