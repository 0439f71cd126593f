package imageprep

import "math"

// The resampler below is the separable convolution resize with a Keys cubic
// kernel that the Python reference (PIL's Image.resize with BICUBIC) uses,
// rebuilt from its documented arithmetic so that results agree bit for bit:
//
//   - For an axis of length in resized to out, scale = in/out and the kernel
//     is stretched by max(scale, 1) (antialiasing when shrinking), so its
//     support is 2·max(scale, 1) input pixels either side of the centre.
//   - Output pixel i is centred on input coordinate c = (i + 0.5)·scale; its
//     taps are the input pixels j in [⌊c − support + 0.5⌋, ⌊c + support + 0.5⌋)
//     clamped to the image, weighted by K((j − c + 0.5)/max(scale, 1)) and
//     normalised to sum to one, all in float64.
//   - The weights are then rounded to fixed point with 22 fractional bits
//     (half away from zero); a pass accumulates pixel·weight in 32-bit
//     integers starting from 2^21 (rounding), shifts right by 22 and clamps
//     to 0..255, so the intermediate image is 8-bit.
//   - The horizontal pass runs first, then the vertical one; a pass whose
//     axis keeps its length is skipped.
//
// Float products are wrapped in explicit float64 conversions: Go may
// otherwise fuse a multiply and an add into one FMA instruction (it does on
// arm64), which rounds once instead of twice and can change a weight's last
// bit, and with it an output pixel.

const (
	precisionBits = 32 - 8 - 2 // fractional bits of the fixed-point weights
	cubicA        = -0.5       // Keys' parameter
	cubicSupport  = 2.0        // the kernel is zero outside (−2, 2)
)

// cubic is Keys' cubic convolution kernel with a = −0.5.
func cubic(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		// ((a+2)x − (a+3))·x² + 1
		t := float64((cubicA+2)*x) - (cubicA + 3)
		t = float64(t * x)
		return float64(t*x) + 1
	}
	if x < 2 {
		// (((x − 5)x + 8)x − 4)·a
		t := float64((x-5)*x) + 8
		t = float64(t*x) - 4
		return t * cubicA
	}
	return 0
}

// filter is a resampling kernel of the reference's convolution resize: the
// kernel and the half-width of its support (before stretching).
type filter struct {
	name    string
	kernel  func(float64) float64
	support float64
}

var (
	bicubicFilter  = filter{"bicubic", cubic, cubicSupport}
	bilinearFilter = filter{"bilinear", triangle, 1}
)

// triangle is the bilinear (tent) kernel 1 − |x| on (−1, 1).
func triangle(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// axisCoeffs holds the float64 taps of one axis for a run of output pixels:
// the run's i-th pixel reads input pixels start[i] .. start[i]+n[i]-1 with
// weights k[i*ksize:][:n[i]], normalised to sum to one. The 8-bit passes
// round them to fixed point (axisWeights); the 32-bit passes (mode I) use
// them as they are.
type axisCoeffs struct {
	start, n []int
	k        []float64
	ksize    int
}

// newAxisCoeffs computes the taps of output pixels first .. first+count-1
// for resizing an axis of length in to out with filter f. (Only the pixels a
// crop keeps are needed, which bounds the memory however elongated the
// image.)
func newAxisCoeffs(in, out, first, count int, f filter) *axisCoeffs {
	scale := float64(in) / float64(out)
	filterScale := scale
	if filterScale < 1 {
		filterScale = 1
	}
	support := f.support * filterScale
	ksize := int(math.Ceil(support))*2 + 1
	ac := &axisCoeffs{
		start: make([]int, count),
		n:     make([]int, count),
		k:     make([]float64, count*ksize),
		ksize: ksize,
	}
	ss := 1.0 / filterScale
	for i := 0; i < count; i++ {
		center := float64((float64(first+i) + 0.5) * scale)
		// Go's int conversion truncates toward zero, as the reference does.
		lo := int(center - support + 0.5)
		if lo < 0 {
			lo = 0
		}
		hi := int(center + support + 0.5)
		if hi > in {
			hi = in
		}
		n := hi - lo
		row := ac.k[i*ksize : i*ksize+n]
		var sum float64
		for j := range row {
			w := f.kernel(float64((float64(j+lo) - center + 0.5) * ss))
			row[j] = w
			sum += w
		}
		if sum != 0 {
			for j := range row {
				row[j] /= sum
			}
		}
		ac.start[i], ac.n[i] = lo, n
	}
	return ac
}

// axisWeights holds the fixed-point taps of one axis for a run of output
// pixels, laid out as in axisCoeffs.
type axisWeights struct {
	start, n []int
	w        []int32
	ksize    int
}

// newAxisWeights is newAxisCoeffs with the weights rounded to fixed point
// with precisionBits fractional bits, half away from zero.
func newAxisWeights(in, out, first, count int, f filter) *axisWeights {
	ac := newAxisCoeffs(in, out, first, count, f)
	aw := &axisWeights{start: ac.start, n: ac.n, w: make([]int32, len(ac.k)), ksize: ac.ksize}
	for i, w := range ac.k {
		aw.w[i] = fixedWeight(w)
	}
	return aw
}

// fixedWeight rounds a weight to fixed point with precisionBits fractional
// bits, half away from zero.
func fixedWeight(w float64) int32 {
	f := float64(w * (1 << precisionBits))
	if w < 0 {
		return int32(-0.5 + f)
	}
	return int32(0.5 + f)
}

// clip8 turns an accumulator into a pixel value.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Resize returns src resized to w × h with the Python reference's bicubic
// filter (PIL Image.resize(BICUBIC) on an RGB image), reproducing its
// arithmetic exactly. An unchanged size returns a copy.
func Resize(src *RGB, w, h int) *RGB {
	if w <= 0 || h <= 0 {
		panic("imageprep: Resize to a non-positive size")
	}
	return resizeWindow(src, w, h, 0, 0, w, h, bicubicFilter)
}

// resizeWindow computes the window [x0, x0+cw) × [y0, y0+ch) of src resized
// to w × h with filter f, without computing the pixels outside it. Each output pixel
// depends only on its own taps, so the window equals the same region of the
// full resize; centre-cropping after a resize uses this to skip the pixels the
// crop would discard.
func resizeWindow(src *RGB, w, h, x0, y0, cw, ch int, f filter) *RGB {
	// Rows of the source that the window's vertical taps read.
	rowLo, rowHi := y0, y0+ch
	var vw *axisWeights
	if h != src.H {
		vw = newAxisWeights(src.H, h, y0, ch, f)
		rowLo = vw.start[0]
		rowHi = vw.start[ch-1] + vw.n[ch-1]
	}
	// Horizontal pass: rows rowLo..rowHi of the source, output columns x0..x0+cw.
	var cur *RGB
	if w != src.W {
		hw := newAxisWeights(src.W, w, x0, cw, f)
		cur = horizontal(src, hw, rowLo, rowHi, cw)
	} else {
		cur = subRows(src, rowLo, rowHi, x0, cw)
	}
	// cur now holds source rows rowLo..rowHi (as rows 0..rowHi-rowLo).
	if vw != nil {
		return vertical(cur, vw, rowLo, ch)
	}
	return subRows(cur, y0-rowLo, y0-rowLo+ch, 0, cw)
}

// subRows copies rows lo..hi and columns x0..x0+cw of src.
func subRows(src *RGB, lo, hi, x0, cw int) *RGB {
	out := &RGB{W: cw, H: hi - lo, Pix: make([]uint8, 3*cw*(hi-lo))}
	for y := lo; y < hi; y++ {
		copy(out.Pix[3*cw*(y-lo):3*cw*(y-lo+1)], src.Pix[3*(y*src.W+x0):3*(y*src.W+x0+cw)])
	}
	return out
}

// horizontal resizes rows lo..hi of src along x, producing the cw output
// columns whose taps aw holds.
//
// Two channels share one multiply: red and green are packed into one int64
// as r + g·2^32, so that Σ w·(r + g·2^32) = Σ w·r + 2^32·Σ w·g. Each sum fits
// in an int32 (|Σ| < 255 · 1.3 · 2^22 < 2^31), so the low 32 bits read as an
// int32 are the red sum exactly, and subtracting it leaves 2^32 times the
// green sum: the arithmetic is the same as three separate sums.
func horizontal(src *RGB, aw *axisWeights, lo, hi, cw int) *RGB {
	out := &RGB{W: cw, H: hi - lo, Pix: make([]uint8, 3*cw*(hi-lo))}
	w := src.W
	rg := make([]int64, w)
	bl := make([]int32, w)
	for y := lo; y < hi; y++ {
		in := src.Pix[3*y*w : 3*(y+1)*w]
		for x := range rg {
			p := in[3*x : 3*x+3 : 3*x+3]
			rg[x] = int64(p[0]) | int64(p[1])<<32
			bl[x] = int32(p[2])
		}
		o := out.Pix[3*cw*(y-lo) : 3*cw*(y-lo+1)]
		for xx := 0; xx < cw; xx++ {
			s, n := aw.start[xx], aw.n[xx]
			k := aw.w[xx*aw.ksize : xx*aw.ksize+n]
			r, g, b := dot3(k, rg[s:s+n], bl[s:s+n])
			oo := o[3*xx : 3*xx+3 : 3*xx+3]
			oo[0], oo[1], oo[2] = clip8(r), clip8(g), clip8(b)
		}
	}
	return out
}

// dot3 returns 2^21 + Σ k[j]·c[j] for the two channels packed in rg (see
// horizontal) and for bl.
func dot3(k []int32, rg []int64, bl []int32) (r, g, b int32) {
	const half = int64(1) << (precisionBits - 1)
	acc, accB := half|half<<32, int32(half)
	rg, bl = rg[:len(k)], bl[:len(k)]
	for j, wj := range k {
		acc += rg[j] * int64(wj)
		accB += bl[j] * wj
	}
	r = int32(acc)
	g = int32((acc - int64(r)) >> 32)
	return r, g, accB
}

// vertical resizes src (whose row 0 is row rowOff of the image being resized)
// along y, producing the ch output rows whose taps aw holds.
func vertical(src *RGB, aw *axisWeights, rowOff, ch int) *RGB {
	w := src.W
	out := &RGB{W: w, H: ch, Pix: make([]uint8, 3*w*ch)}
	const half = int32(1) << (precisionBits - 1)
	acc := make([]int32, 3*w)
	for yy := 0; yy < ch; yy++ {
		n := aw.n[yy]
		k := aw.w[yy*aw.ksize : yy*aw.ksize+n]
		first := aw.start[yy] - rowOff
		for i := range acc {
			acc[i] = half
		}
		for j, wj := range k {
			row := src.Pix[3*w*(first+j) : 3*w*(first+j+1)]
			row = row[:len(acc)]
			for i, v := range row {
				acc[i] += int32(v) * wj
			}
		}
		o := out.Pix[3*w*yy : 3*w*(yy+1)]
		o = o[:len(acc)]
		for i, v := range acc {
			o[i] = clip8(v)
		}
	}
	return out
}
