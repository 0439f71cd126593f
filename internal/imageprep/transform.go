package imageprep

import (
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"
)

// Values of Transform's string fields.
const (
	// ModeNative resizes the image in the mode the reference opens it in and
	// converts to RGB afterwards: preprocess(Image.open(path)), the way
	// open_clip's CSV loader, its README and the TRAK tutorial feed images.
	ModeNative = "native"
	// ModeRGB converts to RGB first: open_clip's webdataset loader, which
	// decodes with "pilrgb".
	ModeRGB = "rgb"

	InterpolationBicubic  = "bicubic"
	InterpolationBilinear = "bilinear"

	// ResizeShortest: Resize(S) (shorter side to S) then CenterCrop(S).
	ResizeShortest = "shortest"
	// ResizeLongest: open_clip's ResizeKeepRatio(S, longest=1) (longer side
	// to S) then CenterCropOrPad(S, fill=FillColor).
	ResizeLongest = "longest"
	// ResizeSquash: Resize((S, S)), ignoring the aspect ratio.
	ResizeSquash = "squash"
)

// MaxTransformSize bounds Transform.Size (an S × S input of this side is far
// beyond any CLIP model).
const MaxTransformSize = 8192

// Transform is open_clip's evaluation transform, configured the way
// open_clip's preprocess_cfg configures it:
//
//	Resize → crop (or pad) → convert("RGB") → ToTensor → Normalize(Mean, Std)
//
// with the resize and crop in the image's own mode or after converting to
// RGB (Mode). Apply reproduces Pillow 9.4 and torchvision 0.14 bit for bit
// for losslessly stored images.
type Transform struct {
	Size          int        // image_size: the side S of the square output
	Mean, Std     [3]float64 // per-channel normalisation
	Interpolation string     // "bicubic" or "bilinear" (Pillow's filters)
	ResizeMode    string     // "shortest", "longest" or "squash"
	FillColor     int        // padding value for "longest" (0..255)
	Mode          string     // "native" or "rgb"
	// ExifTranspose turns images upright by their EXIF orientation before
	// the transform (see DecodeOptions); open_clip does not.
	ExifTranspose bool
}

// DecodeOptions returns the options to decode images for t with, under the
// pixel limit maxPixels (see DecodeOptions.MaxPixels).
func (t Transform) DecodeOptions(maxPixels int64) DecodeOptions {
	return DecodeOptions{MaxPixels: maxPixels, ExifTranspose: t.ExifTranspose}
}

// CLIP's normalisation constants (OpenAI's, open_clip's defaults).
var (
	CLIPMean = [3]float64{0.48145466, 0.4578275, 0.40821073}
	CLIPStd  = [3]float64{0.26862954, 0.26130258, 0.27577711}
)

// DefaultTransform is open_clip's default evaluation transform for S = size:
// bicubic, shortest side, CLIP's mean and std, in native mode.
func DefaultTransform(size int) Transform {
	return Transform{
		Size:          size,
		Mean:          CLIPMean,
		Std:           CLIPStd,
		Interpolation: InterpolationBicubic,
		ResizeMode:    ResizeShortest,
		Mode:          ModeNative,
	}
}

// Validate checks every field, naming the first bad one and the values it
// accepts.
func (t Transform) Validate() error {
	if t.Size <= 0 || t.Size > MaxTransformSize {
		return fmt.Errorf("image transform: size %d must be in 1..%d", t.Size, MaxTransformSize)
	}
	for c := 0; c < 3; c++ {
		if math.IsNaN(t.Mean[c]) || math.IsInf(t.Mean[c], 0) {
			return fmt.Errorf("image transform: mean[%d] = %v must be finite", c, t.Mean[c])
		}
		if !(t.Std[c] > 0) || math.IsInf(t.Std[c], 0) || float32(t.Std[c]) == 0 {
			return fmt.Errorf("image transform: std[%d] = %v must be positive and finite", c, t.Std[c])
		}
	}
	switch t.Interpolation {
	case InterpolationBicubic, InterpolationBilinear:
	default:
		return fmt.Errorf("image transform: interpolation %q: want %q or %q", t.Interpolation, InterpolationBicubic, InterpolationBilinear)
	}
	switch t.ResizeMode {
	case ResizeShortest, ResizeLongest, ResizeSquash:
	default:
		return fmt.Errorf("image transform: resize mode %q: want %q, %q or %q", t.ResizeMode, ResizeShortest, ResizeLongest, ResizeSquash)
	}
	if t.FillColor < 0 || t.FillColor > 255 {
		return fmt.Errorf("image transform: fill color %d must be in 0..255", t.FillColor)
	}
	switch t.Mode {
	case ModeNative, ModeRGB:
	default:
		return fmt.Errorf("image transform: mode %q: want %q or %q", t.Mode, ModeNative, ModeRGB)
	}
	return nil
}

// String is a canonical one-line description, equal for transforms that
// give the same tensors, e.g.
//
//	native shortest bicubic 224 mean=0.48145466,0.4578275,0.40821073 std=0.26862954,0.26130258,0.27577711 exif_transpose=false
//
// ("longest" adds fill=N before exif_transpose).
func (t Transform) String() string {
	num := func(v [3]float64) string {
		s := make([]string, 3)
		for i, x := range v {
			s[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return strings.Join(s, ",")
	}
	s := fmt.Sprintf("%s %s %s %d mean=%s std=%s", t.Mode, t.ResizeMode, t.Interpolation, t.Size, num(t.Mean), num(t.Std))
	if t.ResizeMode == ResizeLongest {
		s += fmt.Sprintf(" fill=%d", t.FillColor)
	}
	return s + " exif_transpose=" + strconv.FormatBool(t.ExifTranspose)
}

// ParseTransform is the inverse of String. A description without the
// exif_transpose field (written before the setting existed, when images
// were always turned upright) parses with ExifTranspose true.
func ParseTransform(s string) (Transform, error) {
	bad := func(why string) (Transform, error) {
		return Transform{}, fmt.Errorf("image transform %q: %s", s, why)
	}
	f := strings.Fields(s)
	if len(f) < 6 {
		return bad("want mode, resize mode, interpolation, size, mean=, std=")
	}
	t := Transform{Mode: f[0], ResizeMode: f[1], Interpolation: f[2], ExifTranspose: true}
	size, err := strconv.Atoi(f[3])
	if err != nil {
		return bad("size " + f[3])
	}
	t.Size = size
	triple := func(field, key string) ([3]float64, error) {
		var v [3]float64
		list, ok := strings.CutPrefix(field, key+"=")
		parts := strings.Split(list, ",")
		if !ok || len(parts) != 3 {
			return v, fmt.Errorf("want %s=a,b,c, got %s", key, field)
		}
		for i, p := range parts {
			if v[i], err = strconv.ParseFloat(p, 64); err != nil {
				return v, fmt.Errorf("%s: %w", key, err)
			}
		}
		return v, nil
	}
	if t.Mean, err = triple(f[4], "mean"); err != nil {
		return bad(err.Error())
	}
	if t.Std, err = triple(f[5], "std"); err != nil {
		return bad(err.Error())
	}
	for _, field := range f[6:] {
		key, val, _ := strings.Cut(field, "=")
		switch key {
		case "fill":
			if t.FillColor, err = strconv.Atoi(val); err != nil {
				return bad(field)
			}
		case "exif_transpose":
			if t.ExifTranspose, err = strconv.ParseBool(val); err != nil {
				return bad(field)
			}
		default:
			return bad("unknown field " + field)
		}
	}
	if err := t.Validate(); err != nil {
		return Transform{}, err
	}
	return t, nil
}

// filter is the resampling filter of t.Interpolation.
func (t Transform) filter() filter {
	if t.Interpolation == InterpolationBilinear {
		return bilinearFilter
	}
	return bicubicFilter
}

// geometry is where a transform's output comes from: the image is resized
// to W × H, the window Win of the resized image is kept, and placed at
// (Win's size at) offset At of the S × S output; the rest of the output is
// padding.
type geometry struct {
	W, H int
	Win  image.Rectangle
	At   image.Point
}

// geometryFor computes the geometry of a w × h image.
func (t Transform) geometryFor(w, h int) (geometry, error) {
	s := t.Size
	switch t.ResizeMode {
	case ResizeSquash:
		return geometry{W: s, H: s, Win: image.Rect(0, 0, s, s)}, nil
	case ResizeLongest:
		rw, rh := keepRatioSize(w, h, s)
		if rw <= 0 || rh <= 0 {
			return geometry{}, fmt.Errorf("a %d×%d image resized to longest side %d is %d×%d, which the reference cannot make", w, h, s, rw, rh)
		}
		// center_crop_or_pad pads (S − n)//2 before and the rest after.
		return geometry{W: rw, H: rh, Win: image.Rect(0, 0, rw, rh), At: image.Pt((s-rw)/2, (s-rh)/2)}, nil
	}
	rw, rh := ResizedSize(w, h, s)
	x0, y0 := cropOffset(rw, s), cropOffset(rh, s)
	return geometry{W: rw, H: rh, Win: image.Rect(x0, y0, x0+s, y0+s)}, nil
}

// keepRatioSize is the size open_clip's ResizeKeepRatio(S, longest=1) gives
// a w × h image: ratio = max(h/S, w/S) and each side becomes round(side /
// ratio), Python's round taking halves to even.
func keepRatioSize(w, h, size int) (int, int) {
	ratio := math.Max(float64(h)/float64(size), float64(w)/float64(size))
	return int(math.RoundToEven(float64(w) / ratio)), int(math.RoundToEven(float64(h) / ratio))
}

// Apply transforms a decoded image (as Decode returns it) into the CHW
// float32 tensor dst of length 3·S·S. Errors: an invalid transform, a
// wrongly sized dst, a resize the reference cannot do (ErrModeResize).
func (t Transform) Apply(img image.Image, dst []float32) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if len(dst) != 3*t.Size*t.Size {
		return fmt.Errorf("image transform: output has length %d, want 3·%d·%d", len(dst), t.Size, t.Size)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return fmt.Errorf("image transform: empty %d×%d image", b.Dx(), b.Dy())
	}
	out, err := t.pixels(img)
	if err != nil {
		return err
	}
	normalizeWith(out, newNormTable(t.Mean, t.Std), dst)
	return nil
}

// pixels is Apply before ToTensor and Normalize: the S × S RGB image.
func (t Transform) pixels(img image.Image) (*RGB, error) {
	var src *source
	if t.Mode == ModeRGB {
		src = rgbSource(ToRGB(img))
	} else {
		src = nativeSource(img)
	}
	g, err := t.geometryFor(src.w, src.h)
	if err != nil {
		return nil, fmt.Errorf("image transform: %w", err)
	}
	win, err := src.resizeToRGB(g.W, g.H, g.Win, t.filter())
	if err != nil {
		return nil, fmt.Errorf("image transform: %w", err)
	}
	if win.W == t.Size && win.H == t.Size {
		return win, nil
	}
	out := NewRGB(t.Size, t.Size)
	fill := src.fill(t.FillColor)
	for i := 0; i < len(out.Pix); i += 3 {
		copy(out.Pix[i:i+3], fill[:])
	}
	for y := 0; y < win.H; y++ {
		copy(out.Pix[3*((g.At.Y+y)*t.Size+g.At.X):][:3*win.W], win.Pix[3*win.W*y:])
	}
	return out, nil
}

// normTable[c][v] is the normalised value of 8-bit value v in channel c.
type normTable [3][256]float32

// newNormTable computes the table as torchvision does: v/255 in float32
// (ToTensor), then (x − mean)/std with mean and std rounded to float32 and
// each step rounded to float32 (Normalize on a float32 tensor).
func newNormTable(mean, std [3]float64) *normTable {
	var t normTable
	for c := 0; c < 3; c++ {
		m, s := float32(mean[c]), float32(std[c])
		for v := 0; v < 256; v++ {
			x := float32(v) / 255
			x = float32(x - m)
			t[c][v] = float32(x / s)
		}
	}
	return &t
}

// normalizeWith writes the CHW tensor of img to dst through the table.
func normalizeWith(img *RGB, t *normTable, dst []float32) {
	n := img.W * img.H
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	pix := img.Pix[:3*n]
	for i := 0; i < n; i++ {
		p := pix[3*i : 3*i+3 : 3*i+3]
		r[i] = t[0][p[0]]
		g[i] = t[1][p[1]]
		b[i] = t[2][p[2]]
	}
}
