package imageprep

import (
	"image"
	"image/color"
)

// Y'CbCr to RGB as the reference's decoders do it. Go's image/jpeg and
// x/image/webp return the decoded planes with subsampled chroma; Go's own
// conversion (image.YCbCr.At) repeats each chroma sample and uses JFIF's full
// range for both, whereas the reference's libjpeg interpolates chroma with a
// triangle filter and libwebp interpolates it bilinearly and uses the studio
// range of BT.601. Reproducing those steps here leaves only the inverse-DCT
// rounding of the decoders as a difference for JPEG.

// JFIF (full range) conversion in 16-bit fixed point, with the constants and
// rounding libjpeg documents: R = Y + 1.402·Cr', G = Y − 0.34414·Cb' −
// 0.71414·Cr', B = Y + 1.772·Cb' (Cb' = Cb − 128, Cr' = Cr − 128).
var (
	jfifCrR, jfifCbB [256]int32 // rounded offsets
	jfifCrG, jfifCbG [256]int32 // scaled by 2^16, summed then shifted
)

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		jfifCrR[i] = (fix(1.40200)*x + half) >> scaleBits
		jfifCbB[i] = (fix(1.77200)*x + half) >> scaleBits
		jfifCrG[i] = -fix(0.71414) * x
		jfifCbG[i] = -fix(0.34414)*x + half
	}
}

func clampU8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// chromaGeometry describes how a chroma plane maps onto the luma grid.
type chromaGeometry struct {
	hs, vs int // horizontal and vertical subsampling factors (1, 2 or 4)
}

func geometryOf(r image.YCbCrSubsampleRatio) chromaGeometry {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return chromaGeometry{2, 1}
	case image.YCbCrSubsampleRatio420:
		return chromaGeometry{2, 2}
	case image.YCbCrSubsampleRatio440:
		return chromaGeometry{1, 2}
	case image.YCbCrSubsampleRatio411:
		return chromaGeometry{4, 1}
	case image.YCbCrSubsampleRatio410:
		return chromaGeometry{4, 2}
	}
	return chromaGeometry{1, 1}
}

// jpegToRGB converts a JPEG decoder's Y'CbCr image to RGB as libjpeg does by
// default: chroma upsampled with the triangle filter ("fancy" upsampling),
// then the JFIF conversion above.
//
//   - 2:1 horizontally (4:2:2): output 2c is (3·s[c] + s[c−1] + 1) >> 2 and
//     output 2c+1 is (3·s[c] + s[c+1] + 2) >> 2, the edge sample repeated
//     at the borders;
//   - 1:2 vertically (4:4:0): the same along columns, bias 1 for the upper
//     row of a pair and 2 for the lower;
//   - 2:1 both ways (4:2:0): column sums t = 3·nearer row + farther row
//     (edge rows repeated), then (3·t[c] + t[c−1] + 8) >> 4 for the left
//     output and (3·t[c] + t[c+1] + 7) >> 4 for the right one.
func jpegToRGB(m *image.YCbCr) *RGB {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	out := NewRGB(w, h)
	g := geometryOf(m.SubsampleRatio)
	if b.Min != (image.Point{}) {
		// A sub-image, which decoders never return: Go's own conversion.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.RGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
				copy(out.Pix[3*(y*w+x):], []uint8{c.R, c.G, c.B})
			}
		}
		return out
	}
	// Each output row: the chroma rows upsampled to full width, then the
	// conversion. With tiny chroma planes (at most 2 samples wide) libjpeg
	// repeats samples instead of filtering, and 4:1:1 and 4:1:0 are always
	// repeated.
	cw, ch := (w+g.hs-1)/g.hs, (h+g.vs-1)/g.vs
	fancyH := g.hs == 2 && cw > 2
	fancyV := g.vs == 2 && (g.hs == 1 || fancyH)
	cbRow, crRow := make([]uint8, w), make([]uint8, w)
	sums := make([]int32, cw)
	for y := 0; y < h; y++ {
		cy := y / g.vs
		for _, pl := range [2]struct {
			src []uint8
			dst []uint8
		}{{m.Cb, cbRow}, {m.Cr, crRow}} {
			near := pl.src[cy*m.CStride : cy*m.CStride+cw]
			dst := pl.dst
			switch {
			case fancyV:
				// Column sums 3·near + far (far: the chroma row on this
				// output row's side, the edge row repeated).
				fy := cy + 1
				bias := int32(2)
				if y%2 == 0 {
					fy, bias = cy-1, 1
				}
				fy = min(max(fy, 0), ch-1)
				far := pl.src[fy*m.CStride : fy*m.CStride+cw]
				for c := range sums {
					sums[c] = 3*int32(near[c]) + int32(far[c])
				}
				if !fancyH { // 4:4:0
					for x := range dst {
						dst[x] = uint8((sums[x] + bias) >> 2)
					}
					break
				}
				upsampleH2(dst, sums, 8, 7, 4)
			case fancyH: // 4:2:2
				for c := range sums {
					sums[c] = int32(near[c])
				}
				upsampleH2(dst, sums, 1, 2, 2)
			default: // 4:4:4, or repetition
				for x := range dst {
					dst[x] = near[x/g.hs]
				}
			}
		}
		yo := y * m.YStride
		jfifRow(out.Pix[3*w*y:3*w*(y+1)], m.Y[yo:yo+w], cbRow, crRow)
	}
	return out
}

// upsampleH2 doubles a row horizontally with libjpeg's triangle filter:
// output 2c is (3·s[c] + s[c−1] + biasL) >> shift and output 2c+1 is
// (3·s[c] + s[c+1] + biasR) >> shift, the edge samples repeated. dst has
// length 2·len(s) or one less, and len(s) ≥ 3.
func upsampleH2(dst []uint8, s []int32, biasL, biasR int32, shift uint) {
	n := len(s) // at least 3: libjpeg filters only wider planes
	// First and last samples: the missing neighbour is the sample itself.
	dst[0] = uint8((4*s[0] + biasL) >> shift)
	dst[1] = uint8((3*s[0] + s[1] + biasR) >> shift)
	mid := dst[2 : 2*n-2]
	for c := 1; c < n-1; c++ {
		t := 3 * s[c]
		o := mid[2*(c-1) : 2*c : 2*c]
		o[0] = uint8((t + s[c-1] + biasL) >> shift)
		o[1] = uint8((t + s[c+1] + biasR) >> shift)
	}
	dst[2*n-2] = uint8((3*s[n-1] + s[n-2] + biasL) >> shift)
	if len(dst) > 2*n-1 {
		dst[2*n-1] = uint8((4*s[n-1] + biasR) >> shift)
	}
}

// clampTab[(v+clampOff)&1023] is v clamped to 0..255 for −512 ≤ v < 512,
// which covers every value the JFIF conversion produces (−227 ≤ v ≤ 481).
const clampOff = 512

var clampTab = func() (t [1024]uint8) {
	for i := range t {
		t[i] = clampU8(int32(i - clampOff))
	}
	return t
}()

// jfifRow converts one row of full-resolution Y'CbCr samples.
func jfifRow(d, ys, cb, cr []uint8) {
	d = d[:3*len(ys)]
	cb, cr = cb[:len(ys)], cr[:len(ys)]
	for x, y := range ys {
		yy := int32(y) + clampOff
		b, r := cb[x], cr[x]
		o := d[3*x : 3*x+3 : 3*x+3]
		o[0] = clampTab[(yy+jfifCrR[r])&1023]
		o[1] = clampTab[(yy+(jfifCbG[b]+jfifCrG[r])>>16)&1023]
		o[2] = clampTab[(yy+jfifCbB[b])&1023]
	}
}

// WebP lossy (VP8) stores BT.601 studio-range Y'CbCr (Y in 16..235). libwebp
// converts it with 14-bit fixed-point constants, (255/219)·2^14 = 19077 for
// Y and 1.596, 0.391, 0.813, 2.018 times 2^14 for the chroma terms, each
// product first reduced by 8 bits ("high multiply"), the offsets folding in
// the −16 and −128 and the rounding, the result shifted right by 6 and
// clamped.

func vp8Clip(v int32) uint8 {
	if v < 0 {
		return 0
	}
	v >>= 6
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// vp8Pixel writes the RGB of one VP8 Y'CbCr sample to d.
func vp8Pixel(d []uint8, y, u, v int32) {
	yy := (y * 19077) >> 8
	d[0] = vp8Clip(yy + (v*26149)>>8 - 14234)
	d[1] = vp8Clip(yy - (u*6419)>>8 - (v*13320)>>8 + 8708)
	d[2] = vp8Clip(yy + (u*33050)>>8 - 17685)
}

// webpToRGB converts a VP8 frame (4:2:0) to RGB as libwebp's default decoder
// does. Chroma is upsampled bilinearly ("fancy" upsampling): an output pixel
// weighs the four chroma samples around it 9:3:3:1, computed as libwebp does
// in two rounded steps: with tl, t the samples of the chroma row above the
// output row pair and l, c those of the row below (tl, l left of the output
// pixel pair, t, c right of it), d = tl + t + l + c + 8, then for the upper
// row (d + 2(t + l)) >> 3 averaged with tl, (d + 2(tl + c)) >> 3 with t, and
// for the lower row the second with l, the first with c, each average
// rounding down. The first and last columns use (3·near + far + 2) >> 2
// vertically only. The image's first row, and its last when the height is
// even, use one chroma row for both.
func webpToRGB(m *image.YCbCr) *RGB {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	out := NewRGB(w, h)
	if m.SubsampleRatio != image.YCbCrSubsampleRatio420 || b.Min != (image.Point{}) {
		// Not produced by x/image/webp; fall back to repeated chroma.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yo, co := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				vp8Pixel(out.Pix[3*(y*w+x):], int32(m.Y[yo]), int32(m.Cb[co]), int32(m.Cr[co]))
			}
		}
		return out
	}
	crow := func(p []uint8, cy int) []uint8 { return p[cy*m.CStride:] }
	// emit writes output row y using chroma rows top (nearer) and bot, as the
	// upper (upper = true) or lower row of a pair.
	emit := func(y int, tu, tv, cu, cv []uint8, upper bool) {
		ys := m.Y[y*m.YStride : y*m.YStride+w]
		d := out.Pix[3*w*y : 3*w*(y+1)]
		// Near row is top for the upper output row, bottom for the lower.
		nu, nv, fu, fv := tu, tv, cu, cv
		if !upper {
			nu, nv, fu, fv = cu, cv, tu, tv
		}
		edge := func(x, c int) {
			u := (3*int32(nu[c]) + int32(fu[c]) + 2) >> 2
			v := (3*int32(nv[c]) + int32(fv[c]) + 2) >> 2
			vp8Pixel(d[3*x:], int32(ys[x]), u, v)
		}
		edge(0, 0)
		last := (w - 1) >> 1
		for x := 1; x <= last; x++ {
			var uv0, uv1 [2]int32
			for k, pl := range [2][2][]uint8{{tu, cu}, {tv, cv}} {
				tl, t := int32(pl[0][x-1]), int32(pl[0][x])
				l, c := int32(pl[1][x-1]), int32(pl[1][x])
				avg := tl + t + l + c + 8
				d12 := (avg + 2*(t+l)) >> 3
				d03 := (avg + 2*(tl+c)) >> 3
				if upper {
					uv0[k], uv1[k] = (d12+tl)>>1, (d03+t)>>1
				} else {
					uv0[k], uv1[k] = (d03+l)>>1, (d12+c)>>1
				}
			}
			vp8Pixel(d[3*(2*x-1):], int32(ys[2*x-1]), uv0[0], uv0[1])
			vp8Pixel(d[3*(2*x):], int32(ys[2*x]), uv1[0], uv1[1])
		}
		if w&1 == 0 {
			edge(w-1, (w-1)/2)
		}
	}
	// Row 0 pairs chroma row 0 with itself.
	emit(0, crow(m.Cb, 0), crow(m.Cr, 0), crow(m.Cb, 0), crow(m.Cr, 0), true)
	// Rows 2k−1 and 2k use chroma rows k−1 (top) and k (bottom).
	for k := 1; 2*k <= h-1; k++ {
		tu, tv := crow(m.Cb, k-1), crow(m.Cr, k-1)
		cu, cv := crow(m.Cb, k), crow(m.Cr, k)
		emit(2*k-1, tu, tv, cu, cv, true)
		emit(2*k, tu, tv, cu, cv, false)
	}
	// An even height leaves the last row, which pairs the last chroma row
	// with itself.
	if h%2 == 0 && h > 1 {
		c := (h - 1) / 2
		emit(h-1, crow(m.Cb, c), crow(m.Cr, c), crow(m.Cb, c), crow(m.Cr, c), true)
	}
	return out
}
