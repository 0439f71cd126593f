// Package imageprep decodes images and turns them into CLIP input tensors the
// way open_clip's evaluation transform does in Python (see the README,
// "Image preprocessing"), so that trak's features match a PyTorch pipeline's.
//
// The reference is, with Pillow 9.4 and torchvision 0.14,
//
//	im = PIL.Image.open(f)
//	x  = Compose([Resize(S, interpolation=BICUBIC), CenterCrop(S),
//	              convert("RGB"), ToTensor(), Normalize(Mean, Std)])(im)
//
// (with im = ImageOps.exif_transpose(im) first when the transform's
// ExifTranspose is set) in native mode (the image resized in its own mode, as open_clip's
// preprocess(Image.open(path)) does), or with convert("RGB") moved first in
// rgb mode (open_clip's webdataset loader); Transform configures the rest as
// open_clip's preprocess_cfg does (see transform.go and native.go). Decoding
// supports PNG, JPEG, GIF (first frame), BMP, TIFF and WebP, chosen by
// content. Conversion to RGB follows the reference exactly: gray and palette
// images are expanded, alpha is dropped without compositing (each pixel
// keeps its stored colour), 16-bit colour keeps the high byte, 16-bit
// grayscale is clamped to 0..255 (the reference opens it as 32-bit integers
// and clamps when converting; such images come out nearly white, as they do
// in Python), CMYK uses the reference's formula. The resize reproduces the
// reference's fixed-point bicubic and bilinear arithmetic (and its 32-bit
// and nearest-neighbour resizes) bit for bit, and the normalisation is done
// in float32 as torch does, so for losslessly stored images the tensor is
// identical to torchvision's. For JPEG and lossy WebP the decoders themselves
// differ slightly (inverse DCT rounding): at most 3 levels in a decoded
// pixel and about 0.06 normalised units in the tensor, 0.0005 on average (the
// package tests measure it on every fixture).
//
// Preprocess is the rgb-mode default transform.
//
// Known gaps (the Go decoders refuse these; the reference reads them):
// animated WebP, JPEG with arithmetic coding or 12-bit samples, BMP with RLE
// or 16-bit bit fields, TIFF with JPEG compression, CMYK or gray+alpha.
// Orientation carried in PNG text chunks ("Raw profile type exif") or XMP is
// not read.
package imageprep

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// DefaultMaxPixels is the default limit on width × height of an image that
// Decode accepts, the threshold at which the reference (PIL) starts treating
// an image as a possible decompression bomb.
const DefaultMaxPixels = 89_478_485

// Options configures PreprocessFile.
type Options struct {
	// Size is the side S of the square model input (224 for ViT-B/32).
	Size int
	// MaxPixels limits width × height of the decoded image; 0 means
	// DefaultMaxPixels, a negative value means no limit.
	MaxPixels int64
	// ExifTranspose turns the image upright first (DecodeOptions).
	ExifTranspose bool
}

// Mean and Std are the per-channel normalisation constants of CLIP's image
// input (OpenAI's values, used by open_clip).
var (
	Mean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	Std  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// RGB is an 8-bit RGB image without alpha: pixel (x, y) is
// Pix[3*(y*W+x) : 3*(y*W+x)+3]. It implements image.Image.
type RGB struct {
	Pix  []uint8
	W, H int
}

// NewRGB returns a black w × h image.
func NewRGB(w, h int) *RGB {
	return &RGB{Pix: make([]uint8, 3*w*h), W: w, H: h}
}

// ColorModel implements image.Image.
func (m *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements image.Image; the origin is (0, 0).
func (m *RGB) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At implements image.Image.
func (m *RGB) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return color.RGBA{}
	}
	p := m.Pix[3*(y*m.W+x):]
	return color.RGBA{p[0], p[1], p[2], 255}
}

// ResizedSize is the size torchvision's Resize(S) gives a w × h image: the
// shorter side becomes S and the longer int(S·long/short) (truncated).
func ResizedSize(w, h, size int) (int, int) {
	if w <= h {
		return size, int(float64(size) * float64(h) / float64(w))
	}
	return int(float64(size) * float64(w) / float64(h)), size
}

// cropOffset is torchvision's CenterCrop offset int(round((n − S)/2)), where
// Python's round takes halves to even.
func cropOffset(n, size int) int {
	return int(math.RoundToEven(float64(n-size) / 2))
}

// normLUT[c][v] is the normalised value of 8-bit value v in channel c,
// computed as torch does: v/255 then (x − mean)/std, each step rounded to
// float32.
var normLUT = func() (t [3][256]float32) {
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			x := float32(v) / 255
			x = float32(x - Mean[c])
			t[c][v] = float32(x / Std[c])
		}
	}
	return t
}()

// ResizeCrop returns the size × size centre crop of img resized so that its
// shorter side is size (torchvision's Resize(size, BICUBIC) followed by
// CenterCrop(size)), as 8-bit RGB. Only the pixels inside the crop are
// computed.
func ResizeCrop(img *RGB, size int) *RGB {
	if size <= 0 {
		panic(fmt.Sprintf("imageprep: size %d", size))
	}
	if img.W <= 0 || img.H <= 0 {
		panic("imageprep: empty image")
	}
	w, h := ResizedSize(img.W, img.H, size)
	return resizeWindow(img, w, h, cropOffset(w, size), cropOffset(h, size), size, size, bicubicFilter)
}

// Normalize writes the CHW float32 tensor of an S × S image to dst (length
// 3·S·S): each value v becomes (v/255 − Mean[c]) / Std[c].
func Normalize(img *RGB, dst []float32) {
	n := img.W * img.H
	if len(dst) != 3*n {
		panic(fmt.Sprintf("imageprep: dst has length %d, want %d", len(dst), 3*n))
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	pix := img.Pix[:3*n]
	for i := 0; i < n; i++ {
		p := pix[3*i : 3*i+3 : 3*i+3]
		r[i] = normLUT[0][p[0]]
		g[i] = normLUT[1][p[1]]
		b[i] = normLUT[2][p[2]]
	}
}

// Preprocess converts img to RGB (ToRGB), resizes its shorter side to size
// with the reference's bicubic filter, centre-crops size × size, and writes
// the normalised CHW tensor to dst, which must have length 3·size·size: the
// default Transform in rgb mode.
func Preprocess(img image.Image, size int, dst []float32) {
	if len(dst) != 3*size*size {
		panic(fmt.Sprintf("imageprep: dst has length %d, want 3·%d·%d", len(dst), size, size))
	}
	Normalize(ResizeCrop(ToRGB(img), size), dst)
}

// PreprocessFile decodes the image at path (DecodeFile, with opt.MaxPixels
// and opt.ExifTranspose)
// and preprocesses it into dst (Preprocess, with opt.Size).
func PreprocessFile(path string, opt Options, dst []float32) error {
	if opt.Size <= 0 {
		return fmt.Errorf("imageprep: %s: image size %d must be positive", path, opt.Size)
	}
	if len(dst) != 3*opt.Size*opt.Size {
		return fmt.Errorf("imageprep: %s: output has length %d, want 3·%d·%d", path, len(dst), opt.Size, opt.Size)
	}
	img, err := DecodeFile(path, DecodeOptions{MaxPixels: opt.MaxPixels, ExifTranspose: opt.ExifTranspose})
	if err != nil {
		return err
	}
	Preprocess(img, opt.Size, dst)
	return nil
}
