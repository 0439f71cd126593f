package imageprep

import (
	"bytes"
	"encoding/binary"
	"image"
)

// EXIF orientation. The reference applies ImageOps.exif_transpose, which
// reads tag 0x0112 (Orientation) from the image's EXIF data and turns the
// image so that it displays upright. The EXIF data is a TIFF structure
// (byte-order mark "II" or "MM", 42, offset of the first IFD) carried in a
// JPEG APP1 segment or a PNG eXIf chunk or a WebP EXIF chunk, each possibly
// behind an "Exif\0\0" prefix; a TIFF file's own first IFD plays the same
// role. Only the first IFD is read, as the reference does.

const orientationTag = 0x0112

// tiffOrientation returns the Orientation value (1..8) of the TIFF structure
// in b, or 1 when there is none or b is malformed.
func tiffOrientation(b []byte) int {
	v, ok := tiffTag(b, orientationTag)
	if !ok || v < 1 || v > 8 {
		return 1
	}
	return int(v)
}

// tiffTag returns the value of tag in the first IFD of the TIFF structure in
// b when it holds a single SHORT or LONG; ok is false when the tag is
// absent, holds something else, or b is malformed.
func tiffTag(b []byte, tag uint16) (v uint32, ok bool) {
	b = bytes.TrimPrefix(b, []byte("Exif\x00\x00"))
	if len(b) < 8 {
		return 0, false
	}
	var bo binary.ByteOrder
	switch {
	case b[0] == 'I' && b[1] == 'I':
		bo = binary.LittleEndian
	case b[0] == 'M' && b[1] == 'M':
		bo = binary.BigEndian
	default:
		return 0, false
	}
	if bo.Uint16(b[2:]) != 42 {
		return 0, false
	}
	off := int64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > int64(len(b)) {
		return 0, false
	}
	n := int64(bo.Uint16(b[off:]))
	for i := int64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(b)) {
			return 0, false
		}
		if bo.Uint16(b[e:]) != tag {
			continue
		}
		typ, count := bo.Uint16(b[e+2:]), bo.Uint32(b[e+4:])
		if count != 1 {
			return 0, false
		}
		switch typ {
		case 3: // SHORT
			return uint32(bo.Uint16(b[e+8:])), true
		case 4: // LONG
			return bo.Uint32(b[e+8:]), true
		}
		return 0, false
	}
	return 0, false
}

// jpegOrientation finds the first APP1 segment whose payload starts with
// "Exif\0" (the reference reads that one only) among the segments before the
// first scan, and returns its orientation.
func jpegOrientation(data []byte) int {
	p := 2 // after SOI
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return 1
		}
		marker := data[p+1]
		switch {
		case marker == 0xff: // fill byte
			p++
			continue
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8):
			p += 2 // markers without a length
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 1
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00")) {
			if !bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				return 1
			}
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

// pngOrientation returns the orientation in the PNG's eXIf chunk.
func pngOrientation(data []byte) int {
	p := 8
	for p+12 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		if int64(p)+12+n > int64(len(data)) {
			return 1
		}
		if typ == "eXIf" {
			return tiffOrientation(data[p+8 : p+8+int(n)])
		}
		if typ == "IEND" {
			return 1
		}
		p += 12 + int(n)
	}
	return 1
}

// webpOrientation returns the orientation in the WebP file's EXIF chunk.
func webpOrientation(data []byte) int {
	p := 12 // "RIFF", size, "WEBP"
	for p+8 <= len(data) {
		n := int64(binary.LittleEndian.Uint32(data[p+4:]))
		if int64(p)+8+n > int64(len(data)) {
			return 1
		}
		if string(data[p:p+4]) == "EXIF" {
			return tiffOrientation(data[p+8 : p+8+int(n)])
		}
		p += 8 + int(n) + int(n&1)
	}
	return 1
}

// orient returns m turned so that it displays upright given its EXIF
// orientation o (the transposition exif_transpose applies):
//
//	2 mirror left-right        5 transpose (mirror along the main diagonal)
//	3 rotate 180°              6 rotate 90° clockwise
//	4 mirror top-bottom        7 transverse (mirror along the other diagonal)
//	                           8 rotate 90° counter-clockwise
//
// Orientation 1 (or anything else) returns m.
func orient(m *RGB, o int) *RGB {
	if o < 2 || o > 8 {
		return m
	}
	pix, w, h := orientPix(m.Pix, 3*m.W, m.W, m.H, 3, o)
	return &RGB{Pix: pix, W: w, H: h}
}

// orientImage is orient for the image types Decode returns, keeping the
// type (the reference turns an image in its own mode, so a palette image
// stays a palette image); other types are converted to *RGB first.
func orientImage(m image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return m
	}
	b := m.Bounds()
	// turn permutes the pixels of a Pix/Stride image of bpp bytes a pixel.
	turn := func(pix []uint8, stride, bpp int) ([]uint8, image.Rectangle) {
		p, w, h := orientPix(pix, stride, b.Dx(), b.Dy(), bpp, o)
		return p, image.Rect(0, 0, w, h)
	}
	switch m := m.(type) {
	case *RGB:
		return orient(m, o)
	case *image.Gray:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 1)
		return &image.Gray{Pix: p, Stride: r.Dx(), Rect: r}
	case *Bilevel:
		return &Bilevel{orientImage(m.Gray, o).(*image.Gray)}
	case *image.Gray16:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 2)
		return &image.Gray16{Pix: p, Stride: 2 * r.Dx(), Rect: r}
	case *TIFFGray16:
		return &TIFFGray16{orientImage(m.Gray16, o).(*image.Gray16)}
	case *image.NRGBA:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4)
		return &image.NRGBA{Pix: p, Stride: 4 * r.Dx(), Rect: r}
	case *image.RGBA:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4)
		return &image.RGBA{Pix: p, Stride: 4 * r.Dx(), Rect: r}
	case *image.NRGBA64:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 8)
		return &image.NRGBA64{Pix: p, Stride: 8 * r.Dx(), Rect: r}
	case *image.RGBA64:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 8)
		return &image.RGBA64{Pix: p, Stride: 8 * r.Dx(), Rect: r}
	case *image.CMYK:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4)
		return &image.CMYK{Pix: p, Stride: 4 * r.Dx(), Rect: r}
	case *image.Paletted:
		p, r := turn(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 1)
		return &image.Paletted{Pix: p, Stride: r.Dx(), Rect: r, Palette: m.Palette}
	}
	return orient(ToRGB(m), o)
}

// orientPix turns the w × h pixels of bpp bytes at pix (rows stride bytes
// apart) by EXIF orientation o (2..8), returning the tightly packed result
// and its size.
func orientPix(pix []uint8, stride, w, h, bpp, o int) ([]uint8, int, int) {
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := make([]uint8, ow*oh*bpp)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			// (sx, sy): the source pixel shown at (x, y).
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			copy(out[bpp*(y*ow+x):][:bpp], pix[sy*stride+sx*bpp:][:bpp])
		}
	}
	return out, ow, oh
}
