package imageprep

import (
	"image"
	"math"
)

// Resizing in an image's own mode (see native.go). The reference resizes
// each mode with its own arithmetic:
//
//   - 8-bit modes (L, RGB, CMYK, and RGBA after premultiplying) use the
//     fixed-point convolution of resize.go, every channel independently;
//   - mode I (32-bit integers) uses the same float64 taps without rounding
//     them: a pass accumulates value·weight in float64 from zero and rounds
//     the sum half away from zero to an integer (the intermediate image is
//     32-bit, nothing is clamped until the conversion to RGB);
//   - modes P and 1 ignore the filter asked for and take the nearest pixel
//     (nearestIndex).
//
// As in resize.go, only the window of the resized image that is kept is
// computed, and a pass whose axis keeps its length is skipped.

// plane8 is an 8-bit image of nch interleaved channels: pixel (x, y) is
// pix[nch*(y*w+x):][:nch].
type plane8 struct {
	pix     []uint8
	w, h    int
	nch     int
	premult bool // RGBA stored premultiplied (the reference's RGBa)
}

// plane32 is a one-channel 32-bit integer image (the reference's mode I).
type plane32 struct {
	pix  []int32
	w, h int
}

// resample8 returns the window win of p resized to w × h with filter f.
func resample8(p *plane8, w, h int, win image.Rectangle, f filter) *plane8 {
	rowLo, rowHi := win.Min.Y, win.Max.Y
	var vw *axisWeights
	if h != p.h {
		vw = newAxisWeights(p.h, h, win.Min.Y, win.Dy(), f)
		rowLo = vw.start[0]
		rowHi = vw.start[win.Dy()-1] + vw.n[win.Dy()-1]
	}
	// Horizontal pass over the source rows the vertical taps read.
	cur := &plane8{w: win.Dx(), h: rowHi - rowLo, nch: p.nch, premult: p.premult}
	cur.pix = make([]uint8, cur.w*cur.h*p.nch)
	nch := p.nch
	if w != p.w {
		hw := newAxisWeights(p.w, w, win.Min.X, win.Dx(), f)
		const half = int32(1) << (precisionBits - 1)
		for y := rowLo; y < rowHi; y++ {
			in := p.pix[nch*p.w*y : nch*p.w*(y+1)]
			out := cur.pix[nch*cur.w*(y-rowLo):]
			for xx := 0; xx < cur.w; xx++ {
				s, n := hw.start[xx], hw.n[xx]
				k := hw.w[xx*hw.ksize : xx*hw.ksize+n]
				for c := 0; c < nch; c++ {
					acc := half
					for j, wj := range k {
						acc += int32(in[nch*(s+j)+c]) * wj
					}
					out[nch*xx+c] = clip8(acc)
				}
			}
		}
	} else {
		for y := rowLo; y < rowHi; y++ {
			copy(cur.pix[nch*cur.w*(y-rowLo):nch*cur.w*(y-rowLo+1)], p.pix[nch*(y*p.w+win.Min.X):])
		}
	}
	if vw == nil {
		out := &plane8{w: win.Dx(), h: win.Dy(), nch: nch, premult: p.premult}
		out.pix = cur.pix[nch*cur.w*(win.Min.Y-rowLo) : nch*cur.w*(win.Max.Y-rowLo)]
		return out
	}
	out := &plane8{w: win.Dx(), h: win.Dy(), nch: nch, premult: p.premult}
	out.pix = make([]uint8, out.w*out.h*nch)
	rowLen := nch * cur.w
	acc := make([]int32, rowLen)
	const half = int32(1) << (precisionBits - 1)
	for yy := 0; yy < out.h; yy++ {
		n := vw.n[yy]
		k := vw.w[yy*vw.ksize : yy*vw.ksize+n]
		first := vw.start[yy] - rowLo
		for i := range acc {
			acc[i] = half
		}
		for j, wj := range k {
			row := cur.pix[rowLen*(first+j) : rowLen*(first+j+1)]
			for i, v := range row {
				acc[i] += int32(v) * wj
			}
		}
		o := out.pix[rowLen*yy : rowLen*(yy+1)]
		for i, v := range acc {
			o[i] = clip8(v)
		}
	}
	return out
}

// roundHalfAway rounds a pass's float64 sum to an integer, halves away from
// zero, as the reference stores a mode-I pixel.
func roundHalfAway(v float64) int32 {
	if v >= 0 {
		return int32(math.Floor(v + 0.5))
	}
	return -int32(math.Floor(-v + 0.5))
}

// resample32 returns the window win of p resized to w × h with filter f,
// in the reference's 32-bit arithmetic (float64 taps and sums, each pass
// rounded to integers).
func resample32(p *plane32, w, h int, win image.Rectangle, f filter) *plane32 {
	rowLo, rowHi := win.Min.Y, win.Max.Y
	var vc *axisCoeffs
	if h != p.h {
		vc = newAxisCoeffs(p.h, h, win.Min.Y, win.Dy(), f)
		rowLo = vc.start[0]
		rowHi = vc.start[win.Dy()-1] + vc.n[win.Dy()-1]
	}
	cur := &plane32{w: win.Dx(), h: rowHi - rowLo}
	cur.pix = make([]int32, cur.w*cur.h)
	if w != p.w {
		hc := newAxisCoeffs(p.w, w, win.Min.X, win.Dx(), f)
		for y := rowLo; y < rowHi; y++ {
			in := p.pix[p.w*y : p.w*(y+1)]
			out := cur.pix[cur.w*(y-rowLo):]
			for xx := 0; xx < cur.w; xx++ {
				s, n := hc.start[xx], hc.n[xx]
				k := hc.k[xx*hc.ksize : xx*hc.ksize+n]
				var ss float64
				for j, kj := range k {
					// Explicit conversion: no fused multiply-add.
					ss += float64(float64(in[s+j]) * kj)
				}
				out[xx] = roundHalfAway(ss)
			}
		}
	} else {
		for y := rowLo; y < rowHi; y++ {
			copy(cur.pix[cur.w*(y-rowLo):cur.w*(y-rowLo+1)], p.pix[y*p.w+win.Min.X:])
		}
	}
	if vc == nil {
		return &plane32{w: win.Dx(), h: win.Dy(), pix: cur.pix[cur.w*(win.Min.Y-rowLo) : cur.w*(win.Max.Y-rowLo)]}
	}
	out := &plane32{w: win.Dx(), h: win.Dy(), pix: make([]int32, win.Dx()*win.Dy())}
	for yy := 0; yy < out.h; yy++ {
		n := vc.n[yy]
		k := vc.k[yy*vc.ksize : yy*vc.ksize+n]
		first := vc.start[yy] - rowLo
		o := out.pix[out.w*yy : out.w*(yy+1)]
		for x := range o {
			var ss float64
			for j, kj := range k {
				ss += float64(float64(cur.pix[cur.w*(first+j)+x]) * kj)
			}
			o[x] = roundHalfAway(ss)
		}
	}
	return out
}

// nearestIndex returns, for output pixels first .. first+count-1 of an axis
// of length in resized to out by nearest neighbour, the input pixel each
// takes, or −1 where the reference leaves the pixel at zero. The reference
// steps a float64 coordinate from scale/2 by scale = in/out and truncates
// it; the repeated addition (not (i + 0.5)·scale) is what decides which
// pixel a boundary case picks.
func nearestIndex(in, out, first, count int) []int {
	scale := float64(in) / float64(out)
	idx := make([]int, count)
	xo := scale * 0.5
	for i := 0; i < first+count; i++ {
		if i >= first {
			v := -1
			if xo >= 0 {
				v = int(xo)
			}
			if v >= in {
				v = -1
			}
			idx[i-first] = v
		}
		xo += scale
	}
	return idx
}

// resampleNearest returns the window win of the RGB image m resized to
// w × h by nearest neighbour; pixels the reference leaves at zero take
// zero. (Modes P and 1 resize this way; selecting pixels commutes with the
// per-pixel conversion to RGB, so it runs on the converted image.)
func resampleNearest(m *RGB, w, h int, win image.Rectangle, zero [3]uint8) *RGB {
	if w == m.W && h == m.H {
		out := NewRGB(win.Dx(), win.Dy())
		for y := 0; y < out.H; y++ {
			copy(out.Pix[3*out.W*y:3*out.W*(y+1)], m.Pix[3*((win.Min.Y+y)*m.W+win.Min.X):])
		}
		return out
	}
	xs := nearestIndex(m.W, w, win.Min.X, win.Dx())
	ys := nearestIndex(m.H, h, win.Min.Y, win.Dy())
	out := NewRGB(win.Dx(), win.Dy())
	for y, sy := range ys {
		for x, sx := range xs {
			d := out.Pix[3*(y*out.W+x):][:3]
			if sx < 0 || sy < 0 {
				d[0], d[1], d[2] = zero[0], zero[1], zero[2]
				continue
			}
			s := m.Pix[3*(sy*m.W+sx):][:3]
			d[0], d[1], d[2] = s[0], s[1], s[2]
		}
	}
	return out
}
