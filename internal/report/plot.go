package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one line of a plot. X nil means 0, 1, …, len(Y)-1; Err nil means
// no error bars, otherwise Err[i] is the half-length of the bar at point i
// (e.g. the std over trials).
type Series struct {
	Name string
	X    []float64
	Y    []float64
	Err  []float64
}

// LinePlot describes a plot of lines with optional ± error bars.
type LinePlot struct {
	Title, XLabel, YLabel string
	Series                []Series
	IntegerX              bool    // one labelled tick per integer x (layer indices)
	YFromZero             bool    // include y = 0 in the y range
	Width, Height         float64 // in points; 0 means 432 × 288 (6 × 4 in)
}

// palette is the matplotlib "tab10" cycle, so the figure looks familiar.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// SeriesColor returns the stroke colour of series i.
func SeriesColor(i int) color.RGBA { return palette[i%len(palette)] }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// xyErr adapts a series to gonum's XYer and YErrorer interfaces.
type xyErr struct {
	plotter.XYs
	plotter.YErrors
}

// RenderLinePlotSVG draws p and returns the SVG document. The output depends
// only on p (no clock, no map order), so equal inputs give equal bytes.
func RenderLinePlotSVG(p LinePlot) ([]byte, error) {
	if len(p.Series) == 0 {
		return nil, fmt.Errorf("plot %q: no series", p.Title)
	}
	w, h := p.Width, p.Height
	if w == 0 {
		w = 432
	}
	if h == 0 {
		h = 288
	}
	if !(w > 0 && h > 0) || !finite(w) || !finite(h) {
		return nil, fmt.Errorf("plot %q: bad size %gx%g", p.Title, w, h)
	}

	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = p.XLabel
	pl.Y.Label.Text = p.YLabel
	pl.X.Tick.Marker = niceTicks{}
	pl.Y.Tick.Marker = niceTicks{}
	pl.Add(plotter.NewGrid())
	// The legend goes in a strip right of the data area, so it never hides a
	// curve; text follows the icons, so a wider fallback font only runs into
	// the margin.
	leg := plot.NewLegend()
	leg.Left, leg.Top = true, true
	leg.TextStyle.Font.Size = vg.Points(11)

	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for si, s := range p.Series {
		n := len(s.Y)
		if n == 0 {
			return nil, fmt.Errorf("plot %q: series %q has no points", p.Title, s.Name)
		}
		if s.X != nil && len(s.X) != n {
			return nil, fmt.Errorf("plot %q: series %q has %d x and %d y values", p.Title, s.Name, len(s.X), n)
		}
		if s.Err != nil && len(s.Err) != n {
			return nil, fmt.Errorf("plot %q: series %q has %d error bars for %d points", p.Title, s.Name, len(s.Err), n)
		}
		pts := make(plotter.XYs, n)
		errs := make(plotter.YErrors, n)
		for i := range n {
			x := float64(i)
			if s.X != nil {
				x = s.X[i]
			}
			e := 0.0
			if s.Err != nil {
				e = s.Err[i]
			}
			if !finite(x) || !finite(s.Y[i]) || !finite(e) || e < 0 {
				return nil, fmt.Errorf("plot %q: series %q point %d is not finite (x %g, y %g, err %g)", p.Title, s.Name, i, x, s.Y[i], e)
			}
			pts[i] = plotter.XY{X: x, Y: s.Y[i]}
			errs[i] = struct{ Low, High float64 }{e, e}
			xmin, xmax = min(xmin, x), max(xmax, x)
			ymin, ymax = min(ymin, s.Y[i]-e), max(ymax, s.Y[i]+e)
		}
		col := SeriesColor(si)
		if s.Err != nil {
			eb, err := plotter.NewYErrorBars(xyErr{pts, errs})
			if err != nil {
				return nil, fmt.Errorf("plot %q: series %q: %w", p.Title, s.Name, err)
			}
			eb.LineStyle.Color = col
			eb.LineStyle.Width = vg.Points(0.75)
			eb.CapWidth = vg.Points(4)
			pl.Add(eb)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("plot %q: series %q: %w", p.Title, s.Name, err)
		}
		line.LineStyle.Color = col
		line.LineStyle.Width = vg.Points(1.5)
		pl.Add(line)
		leg.Add(s.Name, line)
	}

	// Ranges with a little air so bars and caps do not sit on the axes.
	if p.YFromZero {
		ymin = min(ymin, 0)
		ymax = max(ymax, 0)
	}
	dy := ymax - ymin
	if dy == 0 {
		dy = math.Max(math.Abs(ymax), 1)
	}
	pl.Y.Min, pl.Y.Max = ymin-0.05*dy, ymax+0.05*dy
	if p.YFromZero && ymin >= 0 {
		pl.Y.Min = 0
	}
	dx := xmax - xmin
	if dx == 0 {
		dx = 1
	}
	pad := 0.03 * dx
	if p.IntegerX {
		pad = 0.3
	}
	pl.X.Min, pl.X.Max = xmin-pad, xmax+pad
	if p.IntegerX {
		lo, hi := math.Ceil(xmin), math.Floor(xmax)
		if hi-lo <= 40 {
			var ticks []plot.Tick
			for v := lo; v <= hi; v++ {
				ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
			}
			pl.X.Tick.Marker = plot.ConstantTicks(ticks)
		}
	}

	// Legend strip width: icon, the longest name with 35% slack for font
	// fallbacks, margins. Long names widen the figure rather than squeeze
	// the data area below 60% of the requested width.
	legW := vg.Length(0)
	for _, s := range p.Series {
		legW = max(legW, leg.TextStyle.Width(" "+s.Name))
	}
	legW = leg.ThumbnailWidth + legW*1.35 + vg.Points(12)
	dataW := max(vg.Points(w)-legW, vg.Points(0.6*w))
	c := vgsvg.New(dataW+legW, vg.Points(h))
	dc := draw.New(c)
	pl.Draw(draw.Crop(dc, 0, -legW, 0, 0))
	legC := draw.Crop(dc, dc.Size().X-legW+vg.Points(6), 0, 0, 0)
	leg.YOffs = -pl.Title.TextStyle.Height(p.Title) - pl.Title.Padding
	leg.Draw(legC)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot %q: %w", p.Title, err)
	}
	return buf.Bytes(), nil
}

// niceTicks labels about five intervals at multiples of 1, 2 or 5 × 10^k.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 6, 64)}}
	}
	// The 1-2-5 step whose interval count is closest to 5.
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} {
		if math.Abs((hi-lo)/(m*mag)-5) <= math.Abs((hi-lo)/step-5) {
			step = m * mag
		}
	}
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+1e-9*step; k++ {
		v := k * step
		if v == 0 {
			v = 0 // no "-0"
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return ticks
}

// WriteLinePlotSVG renders p and writes it to path atomically.
func WriteLinePlotSVG(path string, p LinePlot) error {
	data, err := RenderLinePlotSVG(p)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// WriteImportanceSVG draws the paper's Figure 2: importance (disagreement)
// against the index of the perturbed layer, one line per module type with ±
// error bars (std over trials), to path.
func WriteImportanceSVG(path string, title string, series []Series) error {
	return WriteLinePlotSVG(path, LinePlot{
		Title:     title,
		XLabel:    "index of perturbed layer",
		YLabel:    "model disagreement",
		Series:    series,
		IntegerX:  true,
		YFromZero: true,
	})
}
