package lds

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
)

// decodePlot renders r with opt and decodes the PNG.
func decodePlot(t *testing.T, r Result, opt PlotOptions) (image.Image, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := PlotPNG(&buf, r, opt); err != nil {
		t.Fatal(err)
	}
	raw := bytes.Clone(buf.Bytes())
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	return img, raw
}

func sameColor(a, b color.Color) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// TestPlotBars: 10 bins of width 0.2 over [−1, 1] at 400 × 300. The values
// fill bin 7 ([0.4, 0.6)) with 4 targets and bin 9 ([0.8, 1]) with 2,
// including 1 itself; the NaN is left out. Checked independently of the
// layout helpers: bar pixels occur only in the columns of those two bins,
// which lie at fractions 0.7–0.8 and 0.9–1.0 of the plot width (to a pixel),
// and the
// taller bar reaches higher.
func TestPlotBars(t *testing.T) {
	r := Result{PerTarget: []float64{0.41, 0.5, 0.55, 0.59, 0.9, 1, math.NaN()}, Mean: 0.65}
	opt := PlotOptions{Width: 400, Height: 300, Bins: 10}
	img, _ := decodePlot(t, r, opt)
	if b := img.Bounds(); b.Dx() != 400 || b.Dy() != 300 {
		t.Fatalf("size %v, want 400 × 300", b.Size())
	}
	bar, mean := plotPalette()[colBar], plotPalette()[colMean]
	x0, x1 := marginLeft, 400-marginRight
	pw := float64(x1 - x0)
	topOf := map[int]int{} // bin → first row holding bar colour
	for x := x0; x < x1; x++ {
		for y := 0; y < 300; y++ {
			if !sameColor(img.At(x, y), bar) {
				continue
			}
			// Bin edges fall on whole pixels (rounded down), so allow a
			// pixel of slack at the left edge of each bin.
			frac := float64(x-x0) / pw
			bin := int((frac + 1/pw) * 10)
			if bin != 7 && bin != 9 {
				t.Fatalf("bar colour at column %d (fraction %.3f of the width, bin %d): only bins 7 and 9 hold values", x, frac, bin)
			}
			if top, ok := topOf[bin]; !ok || y < top {
				topOf[bin] = y
			}
		}
	}
	if len(topOf) != 2 || topOf[7] >= topOf[9] {
		t.Errorf("bar tops by bin %v: want bins 7 and 9, bin 7 (4 targets) taller than bin 9 (2)", topOf)
	}
	// The count axis tops at 4 (step 1), so bin 7's bar spans the plot
	// height; bin 9's reaches half of it.
	l := newLayout(opt)
	if topOf[7] != l.y0 || topOf[9] != l.y1-l.plotHeight()/2 {
		t.Errorf("bar tops %d and %d, want %d and %d", topOf[7], topOf[9], l.y0, l.y1-l.plotHeight()/2)
	}
	// The mean line is at fraction (0.65+1)/2 of the width.
	xm := x0 + int(math.Round(0.825*(pw-1)))
	if !sameColor(img.At(xm, l.y0+5), mean) || !sameColor(img.At(xm, l.y1-5), mean) {
		t.Errorf("no mean line at column %d", xm)
	}
}

func TestPlotDeterministicAndEmpty(t *testing.T) {
	r := Result{PerTarget: []float64{-0.3, 0.2, 0.2, 0.7}, Mean: 0.2}
	_, a := decodePlot(t, r, PlotOptions{})
	_, b := decodePlot(t, r, PlotOptions{})
	if !bytes.Equal(a, b) {
		t.Error("two renderings of the same result differ")
	}
	img, _ := decodePlot(t, r, PlotOptions{})
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 400 {
		t.Errorf("default size %v, want 640 × 400", b.Size())
	}
	// Nothing defined: axes only, no error.
	decodePlot(t, Result{PerTarget: []float64{math.NaN()}, Mean: math.NaN()}, PlotOptions{})
}

func TestPlotErrors(t *testing.T) {
	r := Result{PerTarget: []float64{0.5}, Mean: 0.5}
	for _, opt := range []PlotOptions{
		{Width: 100, Height: 400},
		{Width: 640, Height: 100},
		{Bins: -1},
		{Width: 200, Height: 150, Bins: 1000},
	} {
		var buf bytes.Buffer
		if err := PlotPNG(&buf, r, opt); err == nil {
			t.Errorf("options %+v: no error", opt)
		}
	}
}

func TestCountAxis(t *testing.T) {
	tests := []struct{ max, top, step int }{
		{0, 1, 1}, {1, 1, 1}, {4, 4, 1}, {5, 5, 1}, {6, 6, 2}, {11, 15, 5}, {26, 30, 10}, {99, 100, 20}, {730, 800, 200},
	}
	for _, tc := range tests {
		if top, step := countAxis(tc.max); top != tc.top || step != tc.step {
			t.Errorf("countAxis(%d) = %d, %d; want %d, %d", tc.max, top, step, tc.top, tc.step)
		}
	}
}
