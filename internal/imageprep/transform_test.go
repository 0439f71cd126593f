package imageprep

import (
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// transformSpec is a TRANSFORMS entry of the fixture script.
type transformSpec struct {
	Size          int    `json:"size"`
	Interpolation string `json:"interpolation"`
	ResizeMode    string `json:"resize_mode"`
	Fill          int    `json:"fill"`
}

// result is one expected output of the fixture script: the transform and
// mode, and the S × S RGB image after convert("RGB") (want) or the
// reference's error.
type result struct {
	Transform string `json:"transform"`
	Mode      string `json:"mode"`
	Want      string `json:"want"`
	Error     string `json:"error"`
	// AsStored marks results for the image without exif_transpose (the
	// others are for the image turned upright).
	AsStored bool `json:"as_stored"`
}

func (s transformSpec) transform(mode string) Transform {
	t := DefaultTransform(s.Size)
	t.Interpolation, t.ResizeMode, t.FillColor, t.Mode = s.Interpolation, s.ResizeMode, s.Fill, mode
	return t
}

// TestTransformFixtures checks every (fixture, transform, mode) result of the
// fixture script: open_clip's transform applied to the image in its own mode
// (native) and after convert("RGB") (rgb), at S = 224 and 32 with the
// default settings and, on most fixtures, with bilinear, longest (with and
// without a fill colour) and squash. Every lossless fixture must be
// bit-identical; JPEGs differ by the decoders' inverse-DCT rounding only.
// Run with -v for the largest differences.
func TestTransformFixtures(t *testing.T) {
	m := loadManifest(t)
	if len(m.Transforms) == 0 {
		t.Fatal("manifest has no transforms; rerun scripts/imageprep/fixtures.py")
	}
	var checked, exact, errs, differ, asStored int
	worst := map[string]int{} // format → max pixel difference
	for _, f := range m.Fixtures {
		tol := toleranceFor(f)
		if tol.unsupported {
			continue
		}
		path := filepath.Join("testdata", "in", f.File)
		upright, err := DecodeFile(path, DecodeOptions{ExifTranspose: true})
		if err != nil {
			t.Errorf("%s: %v", f.File, err)
			continue
		}
		stored, err := DecodeFile(path, DecodeOptions{})
		if err != nil {
			t.Errorf("%s: %v", f.File, err)
			continue
		}
		if got := modeOf(upright); got != f.Mode && !equivalentModes(got, f.Mode) {
			t.Errorf("%s: decoded as mode %s, the reference opens mode %s", f.File, got, f.Mode)
		}
		var nat, rgbOut *RGB
		for _, r := range f.Results {
			spec, ok := m.Transforms[r.Transform]
			if !ok {
				t.Fatalf("%s: unknown transform %q", f.File, r.Transform)
			}
			tr := spec.transform(r.Mode)
			img := upright
			if r.AsStored {
				img, tr.ExifTranspose = stored, false
				asStored++
			} else {
				tr.ExifTranspose = true
			}
			what := fmt.Sprintf("%s %s %s (%s)", f.File, r.Mode, r.Transform, tr)
			checked++
			got, err := tr.pixels(img)
			if r.Error != "" {
				errs++
				wrongMode := strings.Contains(r.Error, "wrong mode")
				if err == nil || wrongMode != errors.Is(err, ErrModeResize) {
					t.Errorf("%s: the reference fails (%s); got error %v", what, r.Error, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			want := readWant(t, r.Want)
			if got.W != want.W || got.H != want.H {
				t.Errorf("%s: %d×%d, want %d×%d", what, got.W, got.H, want.W, want.H)
				continue
			}
			dmax, dmean, n := diffStats(got, want)
			worst[f.Format] = max(worst[f.Format], dmax)
			if dmax == 0 {
				exact++
			}
			if tol.exact && dmax != 0 {
				t.Errorf("%s: %d values differ from the reference (max %d levels)", what, n, dmax)
			} else if !tol.exact && (dmax > 5 || dmean > 0.15) {
				t.Errorf("%s: differs by max %d, mean %.4f levels (allowed 5, 0.15: %s)", what, dmax, dmean, tol.why)
			}
			// Apply is pixels followed by the normalisation.
			if r.Transform == "d32" && !r.AsStored {
				dst := make([]float32, 3*32*32)
				if err := tr.Apply(img, dst); err != nil {
					t.Fatal(err)
				}
				if tol.exact {
					for i, v := range normalizeRef(want) {
						if math.Float32bits(v) != math.Float32bits(dst[i]) {
							t.Fatalf("%s: tensor differs at %d", what, i)
						}
					}
				}
				if r.Mode == ModeNative {
					nat = got
				} else {
					rgbOut = got
				}
			}
		}
		if nat != nil && rgbOut != nil {
			if dm, _, _ := diffStats(nat, rgbOut); dm > 0 {
				differ++
				t.Logf("%-24s mode %-5s native and rgb differ at S=32 by up to %d levels", f.File, f.Mode, dm)
			}
		}
	}
	t.Logf("%d results checked (%d bit-identical, %d reference errors reproduced, %d of images as stored, not turned upright); %d fixtures where native ≠ rgb; max difference per format: %v",
		checked, exact, errs, asStored, differ, worst)
	if checked < 900 || asStored < 70 {
		t.Errorf("only %d results checked, %d as stored", checked, asStored)
	}
}

// equivalentModes: modes whose transforms give the same pixels, which Decode
// may report one for the other (gray+alpha is resized as RGBA with equal
// colour channels; colour without alpha as RGBA with alpha 255).
func equivalentModes(goMode, pilMode string) bool {
	return goMode == "RGBA" && (pilMode == "LA" || pilMode == "RGB")
}

// TestTensorNativeMatchesTorchvision compares a complete torchvision output
// in native mode (an RGBA image with an alpha ramp at S = 32) with Apply,
// bit for bit.
func TestTensorNativeMatchesTorchvision(t *testing.T) {
	want := readNpyF32(t, filepath.Join("testdata", "want", "tensor_rgba_gradient.png_native_s32.npy"), []int{3, 32, 32})
	img, err := DecodeFile(filepath.Join("testdata", "in", "rgba_gradient.png"), DecodeOptions{ExifTranspose: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 3*32*32)
	if err := DefaultTransform(32).Apply(img, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("element %d: %v, torchvision %v", i, got[i], want[i])
		}
	}
}

// TestNormalizeCustomMeanStd: Transform's float64 Mean and Std normalise
// every value exactly as torchvision's float32 Normalize does.
func TestNormalizeCustomMeanStd(t *testing.T) {
	want := readNpyF32(t, filepath.Join("testdata", "want", "normalize_all_values_half.npy"), []int{3, 16, 16})
	img := NewRGB(16, 16)
	for v := 0; v < 256; v++ {
		img.Pix[3*v], img.Pix[3*v+1], img.Pix[3*v+2] = uint8(v), uint8(255-v), uint8(7*v%256)
	}
	got := make([]float32, 3*256)
	normalizeWith(img, newNormTable([3]float64{0.5, 0.5, 0.5}, [3]float64{0.5, 0.5, 0.5}), got)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("value %d: %v, torchvision %v", i, got[i], want[i])
		}
	}
	// The default table equals the package's float32 one.
	def := newNormTable(CLIPMean, CLIPStd)
	if *def != normLUT {
		t.Error("the default transform's table differs from normLUT")
	}
}

// TestDefaultRGBTransformIsPreprocess: the rgb-mode default transform is
// Preprocess, bit for bit, on every fixture.
func TestDefaultRGBTransformIsPreprocess(t *testing.T) {
	m := loadManifest(t)
	for _, f := range m.Fixtures {
		img, err := DecodeFile(filepath.Join("testdata", "in", f.File), DecodeOptions{ExifTranspose: true})
		if err != nil {
			continue
		}
		tr := DefaultTransform(24)
		tr.Mode = ModeRGB
		a, b := make([]float32, 3*24*24), make([]float32, 3*24*24)
		if err := tr.Apply(img, a); err != nil {
			t.Fatal(err)
		}
		Preprocess(img, 24, b)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s: differs at %d", f.File, i)
			}
		}
	}
}

func TestTransformValidate(t *testing.T) {
	ok := DefaultTransform(224)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Transform)
		want string
	}{
		{func(t *Transform) { t.Size = 0 }, "size 0"},
		{func(t *Transform) { t.Size = MaxTransformSize + 1 }, "size"},
		{func(t *Transform) { t.Std[1] = 0 }, "std[1]"},
		{func(t *Transform) { t.Std[2] = math.Inf(1) }, "std[2]"},
		{func(t *Transform) { t.Mean[0] = math.NaN() }, "mean[0]"},
		{func(t *Transform) { t.Interpolation = "lanczos" }, `interpolation "lanczos": want "bicubic" or "bilinear"`},
		{func(t *Transform) { t.ResizeMode = "crop" }, `resize mode "crop": want "shortest", "longest" or "squash"`},
		{func(t *Transform) { t.FillColor = 256 }, "fill color 256"},
		{func(t *Transform) { t.Mode = "auto" }, `mode "auto": want "native" or "rgb"`},
	} {
		tr := ok
		c.edit(&tr)
		err := tr.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
		if err := tr.Apply(image.NewGray(image.Rect(0, 0, 4, 4)), make([]float32, 3*224*224)); err == nil {
			t.Errorf("Apply accepted an invalid transform (%s)", c.want)
		}
	}
	if err := ok.Apply(image.NewGray(image.Rect(0, 0, 4, 4)), make([]float32, 5)); err == nil || !strings.Contains(err.Error(), "length 5") {
		t.Errorf("short dst: %v", err)
	}
}

func TestTransformString(t *testing.T) {
	tr := DefaultTransform(224)
	if got, want := tr.String(), "native shortest bicubic 224 mean=0.48145466,0.4578275,0.40821073 std=0.26862954,0.26130258,0.27577711 exif_transpose=false"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	tr.ResizeMode, tr.FillColor, tr.Mode, tr.Mean, tr.ExifTranspose = ResizeLongest, 7, ModeRGB, [3]float64{0.5, 0.5, 0.5}, true
	if got, want := tr.String(), "rgb longest bicubic 224 mean=0.5,0.5,0.5 std=0.26862954,0.26130258,0.27577711 fill=7 exif_transpose=true"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestKeepRatioSize: open_clip's ResizeKeepRatio(S, longest=1) sizes,
// computed in Python for these inputs.
func TestKeepRatioSize(t *testing.T) {
	for _, c := range []struct{ w, h, s, ww, wh int }{
		{90, 70, 32, 32, 25},    // 70/(90/32) = 24.89
		{70, 90, 32, 25, 32},    //
		{45, 33, 48, 48, 35},    // 33/(45/48) = 35.2
		{3, 200, 224, 3, 224},   // 3.36
		{200, 3, 32, 32, 0},     // 0.48 rounds to 0: the reference cannot resize
		{2, 2, 32, 32, 32},      //
		{5, 2, 32, 32, 13},      // 12.8
		{64, 25, 32, 32, 12},    // 12.5 rounds to even
		{64, 27, 32, 32, 14},    // 13.5 rounds to even
		{97, 61, 224, 224, 141}, // 140.866
	} {
		if w, h := keepRatioSize(c.w, c.h, c.s); w != c.ww || h != c.wh {
			t.Errorf("keepRatioSize(%d, %d, %d) = %d, %d; want %d, %d", c.w, c.h, c.s, w, h, c.ww, c.wh)
		}
	}
	tr := DefaultTransform(32)
	tr.ResizeMode = ResizeLongest
	if err := tr.Apply(image.NewGray(image.Rect(0, 0, 200, 3)), make([]float32, 3*32*32)); err == nil {
		t.Error("a 200×3 image resized to 32×0 was accepted")
	}
}

// TestResample8MatchesRGBResize: the generic n-channel resampler agrees with
// the RGB one of resize.go (which the fixtures check against the reference).
func TestResample8MatchesRGBResize(t *testing.T) {
	for _, c := range []struct{ w, h, ow, oh int }{{97, 61, 40, 30}, {13, 7, 50, 21}, {40, 40, 40, 17}, {5, 9, 5, 30}} {
		src := randomRGB(c.w, c.h, uint64(c.w*c.h))
		win := image.Rect(c.ow/4, c.oh/5, c.ow-1, c.oh)
		want := resizeWindow(src, c.ow, c.oh, win.Min.X, win.Min.Y, win.Dx(), win.Dy(), bicubicFilter)
		got := resample8(&plane8{pix: src.Pix, w: c.w, h: c.h, nch: 3}, c.ow, c.oh, win, bicubicFilter)
		for i := range want.Pix {
			if want.Pix[i] != got.pix[i] {
				t.Fatalf("%v: differs at %d", c, i)
			}
		}
	}
}

// TestNearestIndex: the reference's stepped coordinate, including a case
// where stepping and (i + 0.5)·scale pick different pixels.
func TestNearestIndex(t *testing.T) {
	got := nearestIndex(3, 7, 0, 7)
	want := []int{0, 0, 1, 1, 1, 2, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("nearestIndex(3, 7) = %v, want %v", got, want)
		}
	}
	if w := nearestIndex(10, 4, 1, 2); w[0] != 3 || w[1] != 6 {
		t.Errorf("window: %v", w)
	}
}

// TestParseTransform: ParseTransform inverts String for every field, reads
// a description written before exif_transpose existed as turned upright,
// and refuses malformed ones.
func TestParseTransform(t *testing.T) {
	for _, tr := range []Transform{
		DefaultTransform(224),
		{Size: 48, Mean: [3]float64{0.5, 0.25, 1e-3}, Std: [3]float64{0.5, 2, 0.125}, Interpolation: InterpolationBilinear, ResizeMode: ResizeLongest, FillColor: 77, Mode: ModeRGB, ExifTranspose: true},
		{Size: 32, Mean: CLIPMean, Std: CLIPStd, Interpolation: InterpolationBicubic, ResizeMode: ResizeSquash, Mode: ModeNative},
	} {
		got, err := ParseTransform(tr.String())
		if err != nil || got != tr {
			t.Errorf("ParseTransform(%q) = %+v, %v; want %+v", tr.String(), got, err, tr)
		}
	}
	old := "native shortest bicubic 224 mean=0.48145466,0.4578275,0.40821073 std=0.26862954,0.26130258,0.27577711"
	if got, err := ParseTransform(old); err != nil || !got.ExifTranspose {
		t.Errorf("ParseTransform(%q) = %+v, %v; want ExifTranspose", old, got, err)
	}
	for _, s := range []string{"", "native shortest bicubic", "native shortest bicubic x mean=1,1,1 std=1,1,1", "native shortest bicubic 32 mean=1,1 std=1,1,1",
		"native shortest bicubic 32 mean=1,1,1 std=0,1,1", "native shortest bicubic 32 mean=1,1,1 std=1,1,1 crop=3", "odd shortest bicubic 32 mean=1,1,1 std=1,1,1"} {
		if _, err := ParseTransform(s); err == nil {
			t.Errorf("ParseTransform(%q) accepted", s)
		}
	}
}
