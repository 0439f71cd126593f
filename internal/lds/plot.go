package lds

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
)

// PlotOptions configure PlotPNG; zero fields take the defaults.
type PlotOptions struct {
	Width, Height int // pixels; default 640 × 400, at least 200 × 150
	Bins          int // histogram bins over [−1, 1]; default 40
}

func (o PlotOptions) withDefaults() PlotOptions {
	if o.Width == 0 {
		o.Width = 640
	}
	if o.Height == 0 {
		o.Height = 400
	}
	if o.Bins == 0 {
		o.Bins = 40
	}
	return o
}

// Palette indices of the plot.
const (
	colBackground uint8 = iota
	colInk              // axes, ticks and labels
	colBar
	colMean
)

// plotPalette returns the colours of the palette indices above.
func plotPalette() color.Palette {
	return color.Palette{
		color.RGBA{255, 255, 255, 255},
		color.RGBA{0, 0, 0, 255},
		color.RGBA{70, 130, 180, 255},
		color.RGBA{220, 30, 30, 255},
	}
}

// Margins around the plot area, in pixels: the left and bottom ones hold the
// tick labels.
const (
	marginLeft   = 48
	marginRight  = 16
	marginTop    = 24
	marginBottom = 36
	tickLen      = 5
)

// PlotPNG writes a histogram of the defined per-target LDS over [−1, 1] as a
// PNG: bars counting the targets of each bin, the mean as a vertical line
// labelled with its value, and axes with tick marks and numeric labels
// (x at −1, −0.5, 0, 0.5, 1; y at round counts). NaN entries are left out.
// The same result and options always give the same bytes.
func PlotPNG(w io.Writer, r Result, opt PlotOptions) error {
	opt = opt.withDefaults()
	if opt.Width < 200 || opt.Height < 150 {
		return fmt.Errorf("plot LDS: %d × %d pixels, need at least 200 × 150", opt.Width, opt.Height)
	}
	lay := newLayout(opt)
	if opt.Bins < 1 || opt.Bins > lay.plotWidth() {
		return fmt.Errorf("plot LDS: %d bins, need 1 to %d at width %d", opt.Bins, lay.plotWidth(), opt.Width)
	}
	img := renderHistogram(lay, histogram(r.PerTarget, opt.Bins), r.Mean)
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("plot LDS: %w", err)
	}
	return nil
}

// layout maps values and counts to pixels. The plot area is the pixels
// [x0, x1) × [y0, y1); the x axis is drawn on row y1 and the y axis on
// column x0 − 1.
type layout struct {
	width, height  int
	x0, x1, y0, y1 int
	bins           int
}

func newLayout(opt PlotOptions) layout {
	return layout{
		width: opt.Width, height: opt.Height, bins: opt.Bins,
		x0: marginLeft, x1: opt.Width - marginRight,
		y0: marginTop, y1: opt.Height - marginBottom,
	}
}

func (l layout) plotWidth() int  { return l.x1 - l.x0 }
func (l layout) plotHeight() int { return l.y1 - l.y0 }

// xOf is the pixel column of value v in [−1, 1].
func (l layout) xOf(v float64) int {
	return l.x0 + int(math.Round((v+1)/2*float64(l.plotWidth()-1)))
}

// binColumns is the range of pixel columns [lo, hi) of bin b's bar: the
// bins split the plot width evenly, with a one-pixel gap between bars when
// they are at least 3 pixels wide.
func (l layout) binColumns(b int) (lo, hi int) {
	lo = l.x0 + b*l.plotWidth()/l.bins
	hi = l.x0 + (b+1)*l.plotWidth()/l.bins
	if hi-lo >= 3 {
		hi--
	}
	return lo, hi
}

// binOf is the histogram bin of v in [−1, 1]; 1 falls in the last bin.
func binOf(v float64, bins int) int {
	return max(0, min(bins-1, int(math.Floor((v+1)/2*float64(bins)))))
}

func histogram(v []float64, bins int) []int {
	h := make([]int, bins)
	for _, a := range v {
		if !math.IsNaN(a) {
			h[binOf(a, bins)]++
		}
	}
	return h
}

// countAxis returns the top of the count axis and its tick step: the step is
// 1, 2 or 5 times a power of ten, chosen so that at most 5 steps reach the
// largest count, and the top is the first multiple of the step at or above
// it.
func countAxis(maxCount int) (top, step int) {
	if maxCount < 1 {
		return 1, 1
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			step = m * p
			if (maxCount+step-1)/step <= 5 {
				return (maxCount + step - 1) / step * step, step
			}
		}
	}
}

// barTop is the first pixel row of a bar of count c on an axis topped at top.
func (l layout) barTop(c, top int) int {
	return l.y1 - int(math.Round(float64(c)/float64(top)*float64(l.plotHeight())))
}

func renderHistogram(l layout, hist []int, mean float64) *image.Paletted {
	img := image.NewPaletted(image.Rect(0, 0, l.width, l.height), plotPalette())
	// A new Paletted image is all index 0, the background.
	maxCount := 0
	for _, c := range hist {
		maxCount = max(maxCount, c)
	}
	top, step := countAxis(maxCount)
	for b, c := range hist {
		lo, hi := l.binColumns(b)
		fillRect(img, image.Rect(lo, l.barTop(c, top), hi, l.y1), colBar)
	}
	drawAxes(img, l, top, step)
	if !math.IsNaN(mean) {
		drawMean(img, l, mean)
	}
	return img
}

func drawAxes(img *image.Paletted, l layout, top, step int) {
	fillRect(img, image.Rect(l.x0-1, l.y1, l.x1, l.y1+1), colInk) // x axis
	fillRect(img, image.Rect(l.x0-1, l.y0, l.x0, l.y1+1), colInk) // y axis
	for _, v := range []float64{-1, -0.5, 0, 0.5, 1} {
		x := l.xOf(v)
		fillRect(img, image.Rect(x, l.y1+1, x+1, l.y1+1+tickLen), colInk)
		s := strconv.FormatFloat(v, 'g', -1, 64)
		drawText(img, x-textWidth(s)/2, l.y1+tickLen+4, s)
	}
	for c := 0; c <= top; c += step {
		y := l.barTop(c, top)
		fillRect(img, image.Rect(l.x0-1-tickLen, y, l.x0-1, y+1), colInk)
		s := strconv.Itoa(c)
		drawText(img, l.x0-tickLen-4-textWidth(s), y-glyphHeight/2, s)
	}
}

// drawMean draws the mean as a vertical line over the plot area, labelled
// with its value to two decimals at the top, on the side with room.
func drawMean(img *image.Paletted, l layout, mean float64) {
	x := l.xOf(max(-1, min(1, mean)))
	fillRect(img, image.Rect(x, l.y0-4, x+1, l.y1), colMean)
	s := strconv.FormatFloat(mean, 'f', 2, 64)
	tx := x + 4
	if tx+textWidth(s) > l.width {
		tx = x - 4 - textWidth(s)
	}
	drawTextColor(img, tx, l.y0-4-glyphHeight/2, s, colMean)
}

func fillRect(img *image.Paletted, r image.Rectangle, c uint8) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetColorIndex(x, y, c)
		}
	}
}
