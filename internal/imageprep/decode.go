package imageprep

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Errors that Decode wraps (test with errors.Is).
var (
	// ErrTooLarge: the image has more pixels than the limit allows.
	ErrTooLarge = errors.New("image exceeds the pixel limit")
	// ErrFormat: the data is not an image in a supported format.
	ErrFormat = errors.New("not a PNG, JPEG, GIF, BMP, TIFF or WebP image")
)

// format is an image container format, recognised by its leading bytes.
type format string

const (
	fmtPNG  format = "PNG"
	fmtJPEG format = "JPEG"
	fmtGIF  format = "GIF"
	fmtBMP  format = "BMP"
	fmtTIFF format = "TIFF"
	fmtWebP format = "WebP"
)

// sniff recognises the format from the data's signature (never from a file
// name).
func sniff(b []byte) (format, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return fmtPNG, true
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return fmtJPEG, true
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return fmtGIF, true
	case bytes.HasPrefix(b, []byte("BM")):
		return fmtBMP, true
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return fmtTIFF, true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return fmtWebP, true
	}
	return "", false
}

// DecodeOptions configures Decode.
type DecodeOptions struct {
	// MaxPixels limits width × height; 0 means DefaultMaxPixels, a negative
	// value no limit.
	MaxPixels int64
	// ExifTranspose turns the image upright by its EXIF orientation, as
	// ImageOps.exif_transpose does. open_clip does not (neither its CSV
	// loader nor its webdataset decoder), so it is off by default and the
	// image is used as stored, the way the model saw it in training.
	ExifTranspose bool
}

// DecodeFile reads and decodes the image file at path; see Decode.
func DecodeFile(path string, opts DecodeOptions) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	defer f.Close()
	return Decode(f, path, opts)
}

// Decode reads an image from r. The format (PNG, JPEG, GIF, BMP, TIFF, WebP)
// is recognised from the content; name identifies the image in errors.
//
// The header is read first and an image with more than opts.MaxPixels
// pixels (width × height) is refused with an error wrapping ErrTooLarge
// before any pixel memory is allocated. Corrupt or truncated data gives an
// error naming the image (a decoder panic on malformed input is turned into
// an error too).
//
// The image is returned as the reference (PIL's Image.open) would present
// it, in a Go type that tells the reference's mode (see native.go), turned
// by its EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF) only with
// opts.ExifTranspose, except a TIFF's Orientation tag, which the reference
// applies when it loads the image and which is therefore always applied:
//
//   - JPEG: Y'CbCr converted to RGB as libjpeg does (see ToRGB), as *RGB; grayscale and CMYK as *image.Gray and
//     *image.CMYK.
//   - PNG, TIFF, BMP: the decoder's image (RGBA, NRGBA, Gray, Gray16,
//     Paletted, ...), except where the reference's mode differs: 1-bit gray
//     as *Bilevel, gray with a tRNS colour as *image.Gray (or *image.Gray16),
//     colour with a tRNS colour as *RGB, 16-bit gray TIFF as *TIFFGray16, a
//     BMP with a black/white or gray-ramp palette as *Bilevel or
//     *image.Gray, a 32-bit BMP without alpha masks as *RGB. Orientation
//     turns the image in its own type.
//   - GIF: the first frame placed on the logical screen, the rest of the
//     screen filled with the transparent index (or index 0), as
//     *image.Paletted with every colour table entry's stored colour
//     (including the transparent one), or *image.Gray when the table is the
//     gray ramp.
//   - WebP: lossless as *image.NRGBA, lossy converted to RGB as libwebp
//     does (see webpToRGB), as *RGB or, with alpha, *image.NRGBA.
//
// Animated WebP and multi-frame GIF yield their first frame where the Go
// decoders support it (animated WebP is refused).
func Decode(r io.Reader, name string, opts DecodeOptions) (image.Image, error) {
	// Recognise the format before reading everything, so that a large file
	// of another kind is refused at once.
	br := bufio.NewReader(r)
	head, err := br.Peek(12)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("imageprep: %s: reading: %w", name, err)
	}
	if len(head) == 0 {
		return nil, fmt.Errorf("imageprep: %s: empty file: %w", name, ErrFormat)
	}
	if _, ok := sniff(head); !ok {
		return nil, fmt.Errorf("imageprep: %s: %w", name, ErrFormat)
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("imageprep: %s: reading: %w", name, err)
	}
	return decodeBytes(data, name, opts)
}

func decodeBytes(data []byte, name string, opts DecodeOptions) (image.Image, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("imageprep: %s: empty file: %w", name, ErrFormat)
	}
	f, ok := sniff(data)
	if !ok {
		return nil, fmt.Errorf("imageprep: %s: %w", name, ErrFormat)
	}
	maxPixels := opts.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}
	cfg, err := guarded(func() (image.Config, error) { return decodeConfig(f, data) })
	if err != nil {
		return nil, fmt.Errorf("imageprep: %s: corrupt %s header: %w", name, f, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("imageprep: %s: %s image has size %d×%d", name, f, cfg.Width, cfg.Height)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); maxPixels > 0 && n > maxPixels {
		return nil, fmt.Errorf("imageprep: %s: %d×%d = %d pixels, over the limit of %d: %w",
			name, cfg.Width, cfg.Height, n, maxPixels, ErrTooLarge)
	}
	img, err := guarded(func() (image.Image, error) { return decodeRaw(f, data) })
	if err == nil {
		img, err = finish(f, img, data, opts.ExifTranspose)
	}
	if err != nil {
		return nil, fmt.Errorf("imageprep: %s: corrupt %s data: %w", name, f, err)
	}
	return img, nil
}

// guarded runs a third-party decoder, turning a panic on malformed input into
// an error. (This package's own code runs outside it, so that fuzzing finds
// its bugs.)
func guarded[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return fn()
}

func decodeConfig(f format, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch f {
	case fmtPNG:
		return png.DecodeConfig(r)
	case fmtJPEG:
		return jpeg.DecodeConfig(r)
	case fmtGIF:
		return gif.DecodeConfig(r)
	case fmtBMP:
		return bmp.DecodeConfig(r)
	case fmtTIFF:
		return tiff.DecodeConfig(r)
	default:
		return webp.DecodeConfig(r)
	}
}

// decodeRaw runs the format's Go decoder.
func decodeRaw(f format, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch f {
	case fmtPNG:
		return png.Decode(r)
	case fmtJPEG:
		return jpeg.Decode(r)
	case fmtGIF:
		return gif.Decode(r)
	case fmtBMP:
		return bmp.Decode(r)
	case fmtTIFF:
		return tiff.Decode(r)
	default:
		return webp.Decode(r)
	}
}

// finish turns a Go decoder's image into what the reference presents (see
// Decode): the reference's pixels, in a Go type that tells the reference's
// mode (modeOf), turned by the EXIF orientation when transpose is set (a
// TIFF's always).
func finish(f format, m image.Image, data []byte, transpose bool) (image.Image, error) {
	exif := func(m image.Image, orientation func([]byte) int) image.Image {
		if !transpose {
			return m
		}
		return orientImage(m, orientation(data))
	}
	switch f {
	case fmtPNG:
		return exif(pngMode(m, data), pngOrientation), nil
	case fmtJPEG:
		if ycc, ok := m.(*image.YCbCr); ok {
			m = jpegToRGB(ycc)
		}
		return exif(m, jpegOrientation), nil
	case fmtGIF:
		if p, ok := m.(*image.Paletted); ok {
			return gifCanvas(p, data)
		}
		return m, nil
	case fmtBMP:
		return bmpMode(m, data), nil
	case fmtTIFF:
		return orientImage(tiffMode(m, data), tiffOrientation(data)), nil
	case fmtWebP:
		switch y := m.(type) {
		case *image.YCbCr:
			m = webpToRGB(y)
		case *image.NYCbCrA:
			m = withAlpha(webpToRGB(&y.YCbCr), y.A, y.AStride)
		}
		return exif(m, webpOrientation), nil
	}
	return m, nil
}

// pngMode gives a PNG the type of the reference's mode where Go's decoder
// chose another: a 1-bit gray PNG is mode 1, and a tRNS chunk (which Go
// turns into alpha) leaves gray images L or I and colour images RGB.
func pngMode(m image.Image, data []byte) image.Image {
	if len(data) < 26 {
		return m
	}
	depth, colorType := data[24], data[25]
	switch colorType {
	case 0: // gray
		switch m.(type) {
		case *image.Gray, *image.NRGBA:
			g, ok := m.(*image.Gray)
			if !ok {
				g = grayOf(m)
			}
			if depth == 1 {
				return bilevelFromGray(g)
			}
			return g
		case *image.NRGBA64:
			return gray16Of(m)
		}
	case 2: // colour; with a tRNS colour Go returns NRGBA or NRGBA64
		switch m.(type) {
		case *image.NRGBA, *image.NRGBA64:
			return ToRGB(m)
		}
	}
	return m
}

// tiffMode: a 1-bit gray TIFF is mode 1 and a 16-bit one mode I;16.
func tiffMode(m image.Image, data []byte) image.Image {
	const bitsPerSample = 258
	switch g := m.(type) {
	case *image.Gray:
		// BitsPerSample defaults to 1 when absent.
		if bits, ok := tiffTag(data, bitsPerSample); !ok || bits == 1 {
			return bilevelFromGray(g)
		}
	case *image.Gray16:
		return &TIFFGray16{g}
	}
	return m
}

// bmpMode: the reference opens a palette BMP whose palette is black and
// white as mode 1 and one whose palette is the gray ramp 0, 1, 2, … as mode
// L; a 32-bit BMP has alpha (mode RGBA) only with BI_BITFIELDS masks (Go's
// decoder also keeps alpha for uncompressed 32-bit data behind a V4 or V5
// header, which the reference reads as RGB).
func bmpMode(m image.Image, data []byte) image.Image {
	switch p := m.(type) {
	case *image.Paletted:
		switch grayPalette(p.Palette) {
		case "1":
			return bilevelFromGray(paletteIndexGray(p, 255))
		case "L":
			return paletteIndexGray(p, 1)
		}
	case *image.NRGBA:
		const biBitfields = 3
		if len(data) < 34 || binary.LittleEndian.Uint32(data[30:]) != biBitfields {
			return ToRGB(p)
		}
	}
	return m
}

// grayPalette says whether the reference drops a BMP palette: "1" for two
// entries black then white, "L" for entries i = (i, i, i) throughout, ""
// otherwise.
func grayPalette(pal color.Palette) string {
	rgb := func(i int) [3]uint8 { return paletteRGB(pal[i]) }
	if len(pal) == 2 {
		if rgb(0) == [3]uint8{} && rgb(1) == [3]uint8{255, 255, 255} {
			return "1"
		}
		return ""
	}
	for i := range pal {
		if rgb(i) != [3]uint8{uint8(i), uint8(i), uint8(i)} {
			return ""
		}
	}
	return "L"
}

// paletteIndexGray returns the palette indices of p times scale as gray.
func paletteIndexGray(p *image.Paletted, scale int) *image.Gray {
	b := p.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		s := p.Pix[p.PixOffset(b.Min.X, b.Min.Y+y):][:b.Dx()]
		d := out.Pix[out.Stride*y:][:b.Dx()]
		for x, v := range s {
			d[x] = uint8(int(v) * scale)
		}
	}
	return out
}

// withAlpha attaches an alpha plane (stride astride) to an RGB image, as
// straight RGBA.
func withAlpha(m *RGB, a []uint8, astride int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			d := out.Pix[out.Stride*y+4*x:][:4]
			s := m.Pix[3*(y*m.W+x):][:3]
			d[0], d[1], d[2], d[3] = s[0], s[1], s[2], a[y*astride+x]
		}
	}
	return out
}

// gifCanvas places the first frame m on the GIF's logical screen, in the
// reference's mode: P with the colour table's stored colours (Go's decoder
// sets the transparent entry to transparent black; the reference keeps the
// entry's RGB, so the table is read again here), or L when the table is the
// gray ramp 0, 1, 2, … (the reference then drops it and keeps the indices as
// gray). Screen pixels outside the frame take the transparent index, or
// index 0 when there is none, as the reference fills them.
func gifCanvas(m *image.Paletted, data []byte) (image.Image, error) {
	info, err := gifFirstFrame(data)
	if err != nil {
		return nil, err
	}
	fill := 0
	if info.transparent >= 0 {
		fill = info.transparent
	}
	pal := make(color.Palette, 256)
	ramp := true
	for i := range pal {
		var c [3]uint8
		if 3*i+2 < len(info.table) {
			c = [3]uint8{info.table[3*i], info.table[3*i+1], info.table[3*i+2]}
			ramp = ramp && c == [3]uint8{uint8(i), uint8(i), uint8(i)}
		}
		pal[i] = color.NRGBA{c[0], c[1], c[2], 255}
	}
	out := image.NewPaletted(image.Rect(0, 0, info.width, info.height), pal)
	for i := range out.Pix {
		out.Pix[i] = uint8(fill)
	}
	r := m.Rect.Intersect(out.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(out.Pix[out.PixOffset(r.Min.X, y):][:r.Dx()], m.Pix[m.PixOffset(r.Min.X, y):])
	}
	if ramp {
		return &image.Gray{Pix: out.Pix, Stride: out.Stride, Rect: out.Rect}, nil
	}
	return out, nil
}

// gifInfo is what gifFirstFrame reads from a GIF's header and blocks.
type gifInfo struct {
	width, height int    // logical screen
	table         []byte // the first frame's colour table (RGB triples)
	transparent   int    // transparent index, or −1
}

// gifFirstFrame walks a GIF's blocks up to the first image descriptor.
func gifFirstFrame(b []byte) (gifInfo, error) {
	bad := errors.New("gif: malformed block structure")
	if len(b) < 13 {
		return gifInfo{}, bad
	}
	info := gifInfo{
		width:       int(binary.LittleEndian.Uint16(b[6:])),
		height:      int(binary.LittleEndian.Uint16(b[8:])),
		transparent: -1,
	}
	p := 13
	if flags := b[10]; flags&0x80 != 0 {
		n := 3 << (flags&7 + 1)
		if p+n > len(b) {
			return gifInfo{}, bad
		}
		info.table = b[p : p+n]
		p += n
	}
	// skipSubBlocks returns the position after the sub-blocks at q.
	skipSubBlocks := func(q int) (int, bool) {
		for q < len(b) {
			n := int(b[q])
			q++
			if n == 0 {
				return q, true
			}
			q += n
		}
		return q, false
	}
	for p < len(b) {
		switch b[p] {
		case 0x21: // extension
			if p+2 > len(b) {
				return gifInfo{}, bad
			}
			if b[p+1] == 0xf9 && p+7 < len(b) && b[p+2] == 4 { // graphic control
				info.transparent = -1
				if b[p+3]&1 != 0 {
					info.transparent = int(b[p+6])
				}
			}
			q, ok := skipSubBlocks(p + 2)
			if !ok {
				return gifInfo{}, bad
			}
			p = q
		case 0x2c: // image descriptor
			if p+10 > len(b) {
				return gifInfo{}, bad
			}
			if flags := b[p+9]; flags&0x80 != 0 {
				n := 3 << (flags&7 + 1)
				if p+10+n > len(b) {
					return gifInfo{}, bad
				}
				info.table = b[p+10 : p+10+n]
			}
			return info, nil
		default:
			return gifInfo{}, bad
		}
	}
	return gifInfo{}, bad
}
