package imageprep

import (
	"image"
	"image/color"
)

// ToRGB converts img to 8-bit RGB the way the reference's .convert("RGB")
// does, without compositing alpha:
//
//   - *RGB is returned as is (not copied);
//   - gray is replicated; gray+alpha and non-premultiplied colour
//     (image.NRGBA, NRGBA64) keep their stored colour, 16-bit values their
//     high byte;
//   - 16-bit gray (image.Gray16) is clamped to 0..255, as the reference does
//     (it opens such images as 32-bit integers and clamps on conversion);
//   - premultiplied colour (image.RGBA, RGBA64) is un-premultiplied as
//     c·255/a truncated and clamped, alpha 0 and full alpha keeping the
//     stored value (the reference's conversion of premultiplied images);
//   - palette images use each entry's stored colour (a transparent entry
//     keeps its RGB; color.RGBA entries are un-premultiplied as above);
//   - CMYK uses the reference's R = (255−K) − round(C·(255−K)/255);
//   - Y'CbCr (image.YCbCr, NYCbCrA) is converted as a JPEG decoder does
//     (JFIF full range, chroma upsampled with the triangle filter), see
//     jpegToRGB; Decode converts WebP's differently itself.
//
// Bilevel and TIFFGray16 convert as the gray images they hold. Other image
// types go through color.NRGBAModel pixel by pixel.
func ToRGB(img image.Image) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *RGB:
		return m
	case *Bilevel:
		return ToRGB(m.Gray)
	case *TIFFGray16:
		return ToRGB(m.Gray16)
	case *image.NRGBA:
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			d := out.Pix[3*w*y:][:3*w]
			for x := 0; x < w; x++ {
				d[3*x], d[3*x+1], d[3*x+2] = s[4*x], s[4*x+1], s[4*x+2]
			}
		}
		return out
	case *image.RGBA:
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			d := out.Pix[3*w*y:][:3*w]
			for x := 0; x < w; x++ {
				a := s[4*x+3]
				d[3*x], d[3*x+1], d[3*x+2] = unpremul(s[4*x], a), unpremul(s[4*x+1], a), unpremul(s[4*x+2], a)
			}
		}
		return out
	case *image.NRGBA64:
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			d := out.Pix[3*w*y:][:3*w]
			for x := 0; x < w; x++ {
				d[3*x], d[3*x+1], d[3*x+2] = s[8*x], s[8*x+2], s[8*x+4]
			}
		}
		return out
	case *image.RGBA64:
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			d := out.Pix[3*w*y:][:3*w]
			for x := 0; x < w; x++ {
				a := uint32(s[8*x+6])<<8 | uint32(s[8*x+7])
				for c := 0; c < 3; c++ {
					v := uint32(s[8*x+2*c])<<8 | uint32(s[8*x+2*c+1])
					d[3*x+c] = unpremul16(v, a)
				}
			}
		}
		return out
	case *image.Gray:
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			d := out.Pix[3*w*y:][:3*w]
			for x, v := range s {
				d[3*x], d[3*x+1], d[3*x+2] = v, v, v
			}
		}
		return out
	case *image.Gray16:
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:2*w]
			d := out.Pix[3*w*y:][:3*w]
			for x := 0; x < w; x++ {
				v := uint8(255)
				if s[2*x] == 0 {
					v = s[2*x+1]
				}
				d[3*x], d[3*x+1], d[3*x+2] = v, v, v
			}
		}
		return out
	case *image.Paletted:
		var lut [256][3]uint8
		for i := range lut {
			if i < len(m.Palette) {
				lut[i] = paletteRGB(m.Palette[i])
			}
		}
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			d := out.Pix[3*w*y:][:3*w]
			for x, v := range s {
				c := &lut[v]
				d[3*x], d[3*x+1], d[3*x+2] = c[0], c[1], c[2]
			}
		}
		return out
	case *image.CMYK:
		out := NewRGB(w, h)
		for y := 0; y < h; y++ {
			s := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			d := out.Pix[3*w*y:][:3*w]
			for x := 0; x < w; x++ {
				nk := 255 - int(s[4*x+3])
				for c := 0; c < 3; c++ {
					d[3*x+c] = uint8(nk - mulDiv255(int(s[4*x+c]), nk))
				}
			}
		}
		return out
	case *image.YCbCr:
		return jpegToRGB(m)
	case *image.NYCbCrA:
		return jpegToRGB(&m.YCbCr)
	}
	out := NewRGB(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			o := out.Pix[3*(y*w+x):]
			o[0], o[1], o[2] = c.R, c.G, c.B
		}
	}
	return out
}

// unpremul un-premultiplies one 8-bit channel: c·255/a truncated and clamped;
// alpha 0 and 255 keep c.
func unpremul(c, a uint8) uint8 {
	if a == 255 || a == 0 {
		return c
	}
	v := int(c) * 255 / int(a)
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// unpremul16 is unpremul for 16-bit values, giving the high byte of the
// result.
func unpremul16(c, a uint32) uint8 {
	if a == 0xffff || a == 0 {
		return uint8(c >> 8)
	}
	v := c * 0xffff / a
	if v > 0xffff {
		return 255
	}
	return uint8(v >> 8)
}

// mulDiv255 is a·b/255 rounded to nearest, computed exactly for 0 ≤ a, b ≤ 255.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

// paletteRGB is the stored RGB of a palette entry.
func paletteRGB(c color.Color) [3]uint8 {
	switch c := c.(type) {
	case color.NRGBA:
		return [3]uint8{c.R, c.G, c.B}
	case color.RGBA:
		return [3]uint8{unpremul(c.R, c.A), unpremul(c.G, c.A), unpremul(c.B, c.A)}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}
