package imageprep

import (
	"errors"
	"fmt"
	"image"
	"image/color"
)

// Images in their own mode. open_clip's CSV loader, its README and the TRAK
// tutorial call preprocess(Image.open(path)): the reference (PIL) resizes
// and crops the image in the mode it was opened in, and converts it to RGB
// only afterwards. The mode decides the arithmetic:
//
//	mode  opened from                                  resized
//	1     1-bit gray PNG, TIFF; black/white BMP         nearest neighbour
//	P     palette PNG (tRNS or not), GIF, BMP, TIFF     nearest neighbour
//	L     gray PNG (2..8 bits, tRNS ignored), JPEG,     8-bit fixed point
//	      TIFF; BMP with a gray ramp palette; GIF with
//	      a gray ramp colour table
//	RGB   colour without alpha (PNG with a tRNS colour  8-bit fixed point
//	      too, 32-bit BMP without an alpha mask)
//	RGBA  colour or gray with alpha (16-bit: high byte) premultiplied, 8-bit
//	CMYK  CMYK JPEG                                     8-bit fixed point
//	I     16-bit gray PNG (tRNS ignored)                32-bit (resample32)
//	I;16  16-bit gray TIFF                              refused by the reference
//
// Decode returns each image as a Go type that tells its mode (modeOf):
// Bilevel for mode 1 and TIFFGray16 for I;16, where the standard types
// would be ambiguous.

// Bilevel is a 1-bit image (black 0, white 255), which the reference opens
// in mode "1" and resizes with nearest neighbour whatever filter is asked.
type Bilevel struct{ *image.Gray }

// TIFFGray16 is a 16-bit grayscale TIFF image, which the reference opens in
// mode I;16. The reference cannot resize that mode (Pillow 9.4 raises
// "image has wrong mode"), so Transform.Apply in native mode refuses such
// an image unless it needs no resize, with an error wrapping ErrModeResize.
type TIFFGray16 struct{ *image.Gray16 }

// ErrModeResize: the image is in a mode the reference cannot resize.
var ErrModeResize = errors.New("the reference (Pillow 9.4) cannot resize this image mode")

// modeOf names the reference's mode of an image of the given Go type.
func modeOf(img image.Image) string {
	switch img.(type) {
	case *Bilevel:
		return "1"
	case *image.Paletted:
		return "P"
	case *image.Gray:
		return "L"
	case *image.NRGBA, *image.NRGBA64, *image.RGBA, *image.RGBA64:
		return "RGBA"
	case *image.CMYK:
		return "CMYK"
	case *image.Gray16:
		return "I"
	case *TIFFGray16:
		return "I;16"
	}
	return "RGB"
}

// source is an image as the reference holds it before the transform: its
// mode and its pixels in that mode.
type source struct {
	mode string
	w, h int
	p8   *plane8  // L (1 channel), RGB (3), RGBA (4, straight alpha), CMYK (4)
	p32  *plane32 // I, I;16
	rgb  *RGB     // 1 and P, already converted to RGB (they only select pixels)
	// fill is the RGB that padding with a given fill value becomes after the
	// conversion to RGB.
	fill func(v int) [3]uint8
	// zero is the RGB of a pixel the nearest-neighbour resize leaves at zero.
	zero [3]uint8
}

// grayFill is the fill of modes whose fill (v, …, v) converts to (v, v, v).
func grayFill(v int) [3]uint8 { return [3]uint8{uint8(v), uint8(v), uint8(v)} }

// rgbSource is an RGB image as a source (the webdataset path, and RGB images
// in native mode).
func rgbSource(m *RGB) *source {
	return &source{mode: "RGB", w: m.W, h: m.H, p8: &plane8{pix: m.Pix, w: m.W, h: m.H, nch: 3}, fill: grayFill}
}

// nativeSource returns img in the reference's mode for it (modeOf).
func nativeSource(img image.Image) *source {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	s := &source{mode: modeOf(img), w: w, h: h, fill: grayFill}
	switch m := img.(type) {
	case *Bilevel:
		s.rgb = ToRGB(m.Gray)
		s.fill = func(v int) [3]uint8 {
			if v != 0 {
				return [3]uint8{255, 255, 255}
			}
			return [3]uint8{}
		}
	case *image.Paletted:
		s.rgb = ToRGB(m)
		pal := make([][3]uint8, len(m.Palette))
		for i, c := range m.Palette {
			pal[i] = paletteRGB(c)
		}
		// The reference's palette starts as the gray ramp and the image's
		// entries overwrite its start, so an index past them is gray.
		entry := func(v int) [3]uint8 {
			if v >= 0 && v < len(pal) {
				return pal[v]
			}
			return [3]uint8{uint8(v), uint8(v), uint8(v)}
		}
		s.fill, s.zero = entry, entry(0)
	case *image.Gray:
		p := &plane8{w: w, h: h, nch: 1, pix: make([]uint8, w*h)}
		for y := 0; y < h; y++ {
			copy(p.pix[w*y:w*(y+1)], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		s.p8 = p
	case *image.Gray16:
		s.p32 = gray16Plane(m)
	case *TIFFGray16:
		s.p32 = gray16Plane(m.Gray16)
	case *image.NRGBA, *image.NRGBA64, *image.RGBA, *image.RGBA64:
		s.p8 = rgbaPlane(img)
	case *image.CMYK:
		p := &plane8{w: w, h: h, nch: 4, pix: make([]uint8, 4*w*h)}
		for y := 0; y < h; y++ {
			copy(p.pix[4*w*y:4*w*(y+1)], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		s.p8 = p
		s.fill = func(v int) [3]uint8 { return cmykToRGB(uint8(v), uint8(v), uint8(v), uint8(v)) }
	default:
		return rgbSource(ToRGB(img))
	}
	return s
}

// gray16Plane holds 16-bit gray values as the reference's 32-bit integers.
func gray16Plane(m *image.Gray16) *plane32 {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	p := &plane32{w: w, h: h, pix: make([]int32, w*h)}
	for y := 0; y < h; y++ {
		s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:2*w]
		for x := 0; x < w; x++ {
			p.pix[w*y+x] = int32(s[2*x])<<8 | int32(s[2*x+1])
		}
	}
	return p
}

// rgbaPlane holds an image with alpha as the reference's 8-bit RGBA with
// straight (not premultiplied) alpha: 16-bit values keep their high byte,
// Go's premultiplied types are un-premultiplied as the reference unpacks
// premultiplied data (see ToRGB).
func rgbaPlane(img image.Image) *plane8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	p := &plane8{w: w, h: h, nch: 4, pix: make([]uint8, 4*w*h)}
	for y := 0; y < h; y++ {
		d := p.pix[4*w*y:][:4*w]
		switch m := img.(type) {
		case *image.NRGBA:
			copy(d, m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		case *image.NRGBA64:
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			for x := 0; x < 4*w; x++ {
				d[x] = s[2*x]
			}
		case *image.RGBA:
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := 0; x < w; x++ {
				a := s[4*x+3]
				d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = unpremul(s[4*x], a), unpremul(s[4*x+1], a), unpremul(s[4*x+2], a), a
			}
		case *image.RGBA64:
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			for x := 0; x < w; x++ {
				a := uint32(s[8*x+6])<<8 | uint32(s[8*x+7])
				for c := 0; c < 3; c++ {
					d[4*x+c] = unpremul16(uint32(s[8*x+2*c])<<8|uint32(s[8*x+2*c+1]), a)
				}
				d[4*x+3] = uint8(a >> 8)
			}
		}
	}
	return p
}

// cmykToRGB is the reference's CMYK to RGB conversion:
// R = (255 − K) − round(C·(255 − K)/255), likewise G from M and B from Y.
func cmykToRGB(c, m, y, k uint8) [3]uint8 {
	nk := 255 - int(k)
	return [3]uint8{
		uint8(nk - mulDiv255(int(c), nk)),
		uint8(nk - mulDiv255(int(m), nk)),
		uint8(nk - mulDiv255(int(y), nk)),
	}
}

// premultiply converts straight RGBA to the reference's premultiplied RGBa:
// each colour c becomes round(c·a/255) (mulDiv255).
func premultiply(p *plane8) *plane8 {
	out := &plane8{w: p.w, h: p.h, nch: 4, premult: true, pix: make([]uint8, len(p.pix))}
	for i := 0; i < len(p.pix); i += 4 {
		a := int(p.pix[i+3])
		out.pix[i] = uint8(mulDiv255(int(p.pix[i]), a))
		out.pix[i+1] = uint8(mulDiv255(int(p.pix[i+1]), a))
		out.pix[i+2] = uint8(mulDiv255(int(p.pix[i+2]), a))
		out.pix[i+3] = uint8(a)
	}
	return out
}

// clampToByte is the reference's conversion of a mode-I value to 8 bits.
func clampToByte(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// plane8ToRGB converts an 8-bit plane in mode to RGB as the reference's
// convert("RGB") does: gray is replicated, alpha dropped without
// compositing (after un-premultiplying a premultiplied plane: c·255/a
// truncated and clamped, alpha 0 and 255 keeping c), CMYK by cmykToRGB.
func plane8ToRGB(p *plane8, mode string) *RGB {
	out := NewRGB(p.w, p.h)
	n := p.w * p.h
	switch {
	case p.nch == 1:
		for i, v := range p.pix[:n] {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
		}
	case p.nch == 3:
		copy(out.Pix, p.pix)
	case mode == "CMYK":
		for i := 0; i < n; i++ {
			s := p.pix[4*i:][:4]
			c := cmykToRGB(s[0], s[1], s[2], s[3])
			copy(out.Pix[3*i:][:3], c[:])
		}
	default: // RGBA
		for i := 0; i < n; i++ {
			s := p.pix[4*i:][:4]
			d := out.Pix[3*i:][:3]
			if p.premult {
				d[0], d[1], d[2] = unpremul(s[0], s[3]), unpremul(s[1], s[3]), unpremul(s[2], s[3])
			} else {
				d[0], d[1], d[2] = s[0], s[1], s[2]
			}
		}
	}
	return out
}

// plane32ToRGB converts mode I (or I;16) to RGB: values clamped to 0..255.
func plane32ToRGB(p *plane32) *RGB {
	out := NewRGB(p.w, p.h)
	for i, v := range p.pix {
		c := clampToByte(v)
		out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = c, c, c
	}
	return out
}

// cropPlane8 copies the window win of p.
func cropPlane8(p *plane8, win image.Rectangle) *plane8 {
	out := &plane8{w: win.Dx(), h: win.Dy(), nch: p.nch, premult: p.premult}
	out.pix = make([]uint8, out.w*out.h*p.nch)
	for y := 0; y < out.h; y++ {
		copy(out.pix[p.nch*out.w*y:p.nch*out.w*(y+1)], p.pix[p.nch*((win.Min.Y+y)*p.w+win.Min.X):])
	}
	return out
}

// cropPlane32 copies the window win of p.
func cropPlane32(p *plane32, win image.Rectangle) *plane32 {
	out := &plane32{w: win.Dx(), h: win.Dy(), pix: make([]int32, win.Dx()*win.Dy())}
	for y := 0; y < out.h; y++ {
		copy(out.pix[out.w*y:out.w*(y+1)], p.pix[(win.Min.Y+y)*p.w+win.Min.X:])
	}
	return out
}

// resizeToRGB resizes s to w × h with filter f in its own mode, keeps the
// window win of the result and converts it to RGB. A resize to the same size
// is a copy in the reference (no premultiplication round trip).
func (s *source) resizeToRGB(w, h int, win image.Rectangle, f filter) (*RGB, error) {
	same := w == s.w && h == s.h
	switch {
	case s.rgb != nil:
		return resampleNearest(s.rgb, w, h, win, s.zero), nil
	case s.p32 != nil:
		if same {
			return plane32ToRGB(cropPlane32(s.p32, win)), nil
		}
		if s.mode == "I;16" {
			return nil, fmt.Errorf("16-bit grayscale TIFF (mode I;16) resized from %d×%d to %d×%d: %w (image_mode rgb converts it first)",
				s.w, s.h, w, h, ErrModeResize)
		}
		return plane32ToRGB(resample32(s.p32, w, h, win, f)), nil
	}
	if same {
		return plane8ToRGB(cropPlane8(s.p8, win), s.mode), nil
	}
	if s.p8.nch == 3 && f.name == bicubicFilter.name {
		// The RGB resizer of resize.go: same arithmetic, faster.
		return resizeWindow(&RGB{Pix: s.p8.pix, W: s.w, H: s.h}, w, h, win.Min.X, win.Min.Y, win.Dx(), win.Dy(), f), nil
	}
	p := s.p8
	if s.mode == "RGBA" {
		p = premultiply(p)
	}
	return plane8ToRGB(resample8(p, w, h, win, f), s.mode), nil
}

// bilevelFromGray makes a mode-1 image from gray values (non-zero is white).
func bilevelFromGray(g *image.Gray) *Bilevel {
	b := g.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		s := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):][:b.Dx()]
		d := out.Pix[out.Stride*y:][:b.Dx()]
		for x, v := range s {
			if v != 0 {
				d[x] = 255
			}
		}
	}
	return &Bilevel{out}
}

// grayOf returns the red channel of img as gray (for images the Go decoder
// expanded to colour but the reference keeps gray: gray PNGs with a tRNS
// colour).
func grayOf(img image.Image) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			out.Pix[out.Stride*y+x] = c.R
		}
	}
	return out
}

// gray16Of is grayOf for 16-bit values.
func gray16Of(img image.Image) *image.Gray16 {
	b := img.Bounds()
	out := image.NewGray16(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			out.SetGray16(x, y, color.Gray16{Y: c.R})
		}
	}
	return out
}
