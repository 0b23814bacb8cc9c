package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The chart: one row per workload, one horizontal bar per peer and one for
// the workload's yardstick, each showing ossmount's advantage on a log
// scale centred on 1× (right: ossmount wins; left: it loses), labelled
// with its value. The legend sits in a strip of its own above the plot,
// so it never hides a bar.

// chartRows are the workloads drawn, top to bottom, with the names the
// chart shows.
func chartRows() []struct{ w, name string } {
	rows := []struct{ w, name string }{
		{wColdSeq, "cold sequential read, " + *flagSize}, {wRemount, "after remount, page cache dropped"},
		{wSecondOpen, "second open of the same file"}, {wTTFB, "time to first byte"},
	}
	for _, cold := range []bool{true, false} {
		for _, j := range fioJobs {
			t := "warm"
			if cold {
				t = "cold"
			}
			rows = append(rows, struct{ w, name string }{j.workload(cold), t + " random " + j.name()})
		}
	}
	return append(rows, []struct{ w, name string }{
		{wSmall, "1,000 files of 128 KiB, 8 readers"}, {wList, "ls -l of 10,000 keys"},
		{wCPU, "daemon CPU per GiB (cold read)"}, {wRSS, "daemon peak RSS"},
	}...)
}

// yardstickShort names each yardstick on its bar.
var yardstickShort = map[string]string{
	"SDK Downloader": "SDK Downloader", "local file, cold": "local disk", "local file, page cache": "page cache",
	"2 round trips + 1 MiB": "2 RTT + 1 MiB", "listing requests alone": "listing alone",
}

type chartSeries struct {
	name string
	col  color.Color
	peer string // "" for the yardstick series
}

// bar is one bar in data coordinates: from x=0 (1×) to x=log10(ratio).
type bar struct {
	y0, y1, x float64
	col       color.Color
	label     string
}

// bars draws bars and their labels; it is a plot.Plotter.
type bars struct {
	items []bar
	text  draw.TextStyle
}

func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, it := range b.items {
		x0, x1 := trX(0), trX(it.x)
		y0, y1 := trY(it.y0), trY(it.y1)
		c.FillPolygon(it.col, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		sty := b.text
		pt := vg.Point{X: x1 + vg.Points(3), Y: (y0 + y1) / 2}
		sty.XAlign = draw.XLeft
		if it.x < 0 {
			pt.X = x1 - vg.Points(3)
			sty.XAlign = draw.XRight
		}
		sty.YAlign = draw.YCenter
		c.FillText(sty, pt, it.label)
	}
}

// swatch is a legend thumbnail of one colour.
type swatch struct{ col color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(s.col, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
}

// logTicks labels powers of ten as "0.01×" … "100×", with minor ticks
// between them.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for k := math.Floor(lo); k <= hi; k++ {
		if k >= lo {
			ts = append(ts, plot.Tick{Value: k, Label: strconvG(math.Pow(10, k)) + "×"})
		}
		for m := 2.0; m < 10; m++ {
			if v := k + math.Log10(m); v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v})
			}
		}
	}
	return ts
}

func strconvG(v float64) string { return fmt.Sprintf("%g", v) }

// chart writes the PNG.
func (r *results) chart(path string) error {
	rows := chartRows()
	var series []chartSeries
	cols := map[string]color.Color{
		"ossfs2": color.RGBA{200, 40, 60, 255}, "s3fs": color.RGBA{230, 140, 30, 255}, "rclone": color.RGBA{50, 110, 200, 255},
	}
	for _, p := range r.ran()[1:] {
		series = append(series, chartSeries{name: "vs " + title(p), col: cols[p], peer: p})
	}
	series = append(series, chartSeries{name: "vs the yardstick named on the bar (the best a reader could expect)", col: color.RGBA{120, 120, 120, 255}})

	p := plot.New()
	p.Title.Text = "ossmount's advantage, median of the rounds (× better, log scale: right of 1× ossmount wins, left it loses)"
	p.X.Label.Text = "times better for ossmount (rclone's cold random bars measure its whole-file background download, not random reads)"
	text := p.Y.Tick.Label
	text.Font.Size = vg.Points(8)
	b := &bars{text: text}
	n := len(rows)
	const groupHeight = 0.84
	h := groupHeight / float64(len(series))
	maxAbs := 1.0
	names := make([]string, n)
	for i, row := range rows {
		centre := float64(n - 1 - i)
		names[n-1-i] = row.name
		for s, se := range series {
			other, suffix := se.peer, ""
			if other == "" {
				other = r.baseline[row.w]
				suffix = " " + yardstickShort[other]
			}
			x := r.advantage(row.w, other)
			if math.IsNaN(x) {
				continue
			}
			lx := math.Log10(x)
			maxAbs = max(maxAbs, math.Abs(lx))
			top := centre + groupHeight/2 - float64(s)*h
			b.items = append(b.items, bar{y0: top - h*0.92, y1: top, x: lx, col: se.col, label: fmtRatio(x) + suffix})
		}
	}
	// Symmetric around 1×, with room for the labels past the longest bar.
	lim := math.Ceil(maxAbs) + 0.7
	for i := range b.items {
		b.items[i].x = math.Max(-lim+0.7, math.Min(lim-0.7, b.items[i].x))
	}
	p.X.Min, p.X.Max = -lim, lim
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Tick.Marker = logTicks{}
	grid := plotter.NewGrid()
	grid.Horizontal.Width = 0
	p.Add(grid)
	p.Add(b)
	par, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -0.5}, {X: 0, Y: float64(n) - 0.5}})
	if err != nil {
		return err
	}
	par.Width = vg.Points(1.2)
	p.Add(par)
	p.NominalY(names...)

	const width, height, legendStrip = 12 * vg.Inch, 13 * vg.Inch, 1.0 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	// gonum sizes the axis for its default tick font; the left margin keeps
	// long workload names inside the image.
	p.Draw(draw.Crop(dc, vg.Inch/2, -vg.Inch/4, 0, -legendStrip))
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.XOffs = vg.Points(12)
	leg.YOffs = -vg.Points(8)
	for _, se := range series {
		leg.Add(se.name, swatch{se.col})
	}
	leg.Draw(draw.Crop(dc, 0, 0, height-legendStrip, 0))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
