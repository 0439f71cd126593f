package imageprep

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"math/rand/v2"
	"runtime"
	"testing"
)

func randomRGB(w, h int, seed uint64) *RGB {
	r := rand.New(rand.NewPCG(seed, 7))
	m := NewRGB(w, h)
	for i := range m.Pix {
		m.Pix[i] = byte(r.Uint32())
	}
	return m
}

func TestResizedSizeAndCrop(t *testing.T) {
	for _, c := range []struct{ w, h, s, ww, wh int }{
		{1000, 750, 224, 298, 224},
		{750, 1000, 224, 224, 298},
		{3, 200, 224, 224, 14933},
		{200, 3, 32, 2133, 32},
		{224, 301, 224, 224, 301},
		{97, 61, 224, 356, 224},
		{50, 50, 32, 32, 32},
	} {
		if w, h := ResizedSize(c.w, c.h, c.s); w != c.ww || h != c.wh {
			t.Errorf("ResizedSize(%d, %d, %d) = %d, %d; want %d, %d", c.w, c.h, c.s, w, h, c.ww, c.wh)
		}
	}
	// torchvision's int(round((n − S)/2)): Python rounds halves to even.
	for _, c := range []struct{ n, s, want int }{
		{224, 224, 0}, {225, 224, 0}, {226, 224, 1}, {227, 224, 2}, {301, 224, 38}, {303, 224, 40}, {298, 224, 37},
	} {
		if got := cropOffset(c.n, c.s); got != c.want {
			t.Errorf("cropOffset(%d, %d) = %d, want %d", c.n, c.s, got, c.want)
		}
	}
}

// TestResizeWindow: computing only the crop equals cropping the full resize.
func TestResizeWindow(t *testing.T) {
	for _, c := range []struct{ w, h, s int }{{97, 61, 32}, {61, 97, 48}, {300, 200, 224}, {5, 9, 16}, {40, 32, 32}} {
		src := randomRGB(c.w, c.h, uint64(c.w))
		w, h := ResizedSize(c.w, c.h, c.s)
		full := Resize(src, w, h)
		x0, y0 := cropOffset(w, c.s), cropOffset(h, c.s)
		want := NewRGB(c.s, c.s)
		for y := 0; y < c.s; y++ {
			copy(want.Pix[3*c.s*y:3*c.s*(y+1)], full.Pix[3*((y0+y)*w+x0):])
		}
		if got := ResizeCrop(src, c.s); !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("%dx%d S=%d: ResizeCrop differs from cropping Resize", c.w, c.h, c.s)
		}
	}
}

func TestResizeProperties(t *testing.T) {
	src := randomRGB(13, 7, 1)
	if got := Resize(src, 13, 7); !bytes.Equal(got.Pix, src.Pix) || &got.Pix[0] == &src.Pix[0] {
		t.Error("same-size Resize is not an equal copy")
	}
	// Only one axis changing runs one pass; the other axis is untouched.
	rows := Resize(src, 13, 20)
	cols := Resize(src, 30, 7)
	if rows.W != 13 || rows.H != 20 || cols.W != 30 || cols.H != 7 {
		t.Fatal("wrong sizes")
	}
	// A constant image stays constant (the weights sum to one in fixed point
	// closely enough), shrinking and enlarging.
	c := NewRGB(37, 23)
	for i := range c.Pix {
		c.Pix[i] = []uint8{0, 128, 255}[i%3]
	}
	for _, sz := range [][2]int{{5, 3}, {100, 61}, {37, 200}, {1, 1}} {
		r := Resize(c, sz[0], sz[1])
		for i, v := range r.Pix {
			if v != []uint8{0, 128, 255}[i%3] {
				t.Fatalf("constant image resized to %v: value %d at %d", sz, v, i)
			}
		}
	}
}

func TestCubicKernel(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{0, 1}, {1, 0}, {-1, 0}, {2, 0}, {2.5, 0}, {0.5, 0.5625}, {-1.5, -0.0625},
	} {
		if got := cubic(c.x); got != c.want {
			t.Errorf("cubic(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

// TestToRGB checks conversions against values computed with the reference
// (PIL 9.4's convert("RGB")).
func TestToRGB(t *testing.T) {
	cmyk := image.NewCMYK(image.Rect(0, 0, 4, 1))
	copy(cmyk.Pix, []uint8{10, 200, 30, 40, 255, 255, 255, 255, 128, 64, 32, 16, 0, 0, 0, 0})
	wantPix(t, "CMYK", ToRGB(cmyk), []uint8{207, 46, 190, 0, 0, 0, 119, 179, 209, 255, 255, 255})

	// Premultiplied colour: PIL's RGBa -> RGB divides by alpha, truncating.
	rgba := image.NewRGBA(image.Rect(0, 0, 3, 1))
	copy(rgba.Pix, []uint8{100, 50, 25, 128, 7, 8, 9, 0, 200, 100, 0, 100})
	wantPix(t, "RGBA", ToRGB(rgba), []uint8{199, 99, 49, 7, 8, 9, 255, 255, 0})

	// 16-bit gray clamps to 0..255.
	g16 := image.NewGray16(image.Rect(0, 0, 4, 1))
	for i, v := range []uint16{0, 200, 256, 65535} {
		g16.SetGray16(i, 0, color.Gray16{Y: v})
	}
	wantPix(t, "Gray16", ToRGB(g16), []uint8{0, 0, 0, 200, 200, 200, 255, 255, 255, 255, 255, 255})

	// 16-bit colour keeps the high byte, alpha ignored.
	n64 := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	n64.SetNRGBA64(0, 0, color.NRGBA64{R: 0x12ff, G: 0xab00, B: 0x0080, A: 0})
	wantPix(t, "NRGBA64", ToRGB(n64), []uint8{0x12, 0xab, 0x00})

	// Alpha is dropped without compositing.
	n := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(n.Pix, []uint8{10, 20, 30, 0, 40, 50, 60, 77})
	wantPix(t, "NRGBA", ToRGB(n), []uint8{10, 20, 30, 40, 50, 60})

	// A transparent palette entry keeps its colour; indices past the palette
	// are black.
	p := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{color.NRGBA{1, 2, 3, 0}, color.RGBA{4, 5, 6, 255}})
	copy(p.Pix, []uint8{0, 1, 9})
	wantPix(t, "Paletted", ToRGB(p), []uint8{1, 2, 3, 4, 5, 6, 0, 0, 0})

	// Sub-images: the origin is the sub-image's.
	big := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for i := range big.Pix {
		big.Pix[i] = uint8(i)
	}
	sub := big.SubImage(image.Rect(1, 2, 3, 4))
	got := ToRGB(sub)
	if got.W != 2 || got.H != 2 {
		t.Fatalf("sub-image: %d×%d", got.W, got.H)
	}
	wantPix(t, "sub-image", got, []uint8{36, 37, 38, 40, 41, 42, 52, 53, 54, 56, 57, 58})

	// Other types go through the colour model.
	a := image.NewAlpha(image.Rect(0, 0, 1, 1))
	a.SetAlpha(0, 0, color.Alpha{A: 255})
	wantPix(t, "Alpha", ToRGB(a), []uint8{255, 255, 255})

	// *RGB is returned as is.
	r := NewRGB(1, 1)
	if ToRGB(r) != r {
		t.Error("ToRGB(*RGB) copied")
	}
}

func wantPix(t *testing.T, what string, m *RGB, want []uint8) {
	t.Helper()
	if !bytes.Equal(m.Pix, want) {
		t.Errorf("%s: got %v, want %v", what, m.Pix, want)
	}
}

// exifTIFF builds a TIFF structure with one IFD entry for tag 0x0112.
func exifTIFF(bo binary.ByteOrder, typ uint16, count uint32, value uint32) []byte {
	b := make([]byte, 8+2+12+4)
	if bo == binary.LittleEndian {
		copy(b, "II")
	} else {
		copy(b, "MM")
	}
	bo.PutUint16(b[2:], 42)
	bo.PutUint32(b[4:], 8)
	bo.PutUint16(b[8:], 1)
	bo.PutUint16(b[10:], orientationTag)
	bo.PutUint16(b[12:], typ)
	bo.PutUint32(b[14:], count)
	if typ == 3 {
		bo.PutUint16(b[18:], uint16(value))
	} else {
		bo.PutUint32(b[18:], value)
	}
	return b
}

func TestTIFFOrientation(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"short LE", exifTIFF(le, 3, 1, 6), 6},
		{"short BE", exifTIFF(be, 3, 1, 8), 8},
		{"long", exifTIFF(le, 4, 1, 3), 3},
		{"with Exif prefix", append([]byte("Exif\x00\x00"), exifTIFF(be, 3, 1, 5)...), 5},
		{"out of range", exifTIFF(le, 3, 1, 9), 1},
		{"zero", exifTIFF(le, 3, 1, 0), 1},
		{"count 2", exifTIFF(le, 3, 2, 6), 1},
		{"ascii", exifTIFF(le, 2, 1, 6), 1},
		{"truncated", exifTIFF(le, 3, 1, 6)[:20], 1},
		{"bad magic", append([]byte("IX"), exifTIFF(le, 3, 1, 6)[2:]...), 1},
		{"empty", nil, 1},
	} {
		if got := tiffOrientation(c.b); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestOrient checks the eight orientations on a 3×2 image whose pixels are
// numbered 0..5 row by row (so that every transform is distinguishable).
func TestOrient(t *testing.T) {
	src := NewRGB(3, 2)
	for i := 0; i < 6; i++ {
		src.Pix[3*i] = uint8(i)
	}
	// Upright views, written out row by row (the stored image is what a
	// camera recorded; orientation o says how to turn it for display).
	want := map[int][]uint8{
		1: {0, 1, 2, 3, 4, 5},
		2: {2, 1, 0, 5, 4, 3}, // mirrored left-right
		3: {5, 4, 3, 2, 1, 0}, // rotated 180°
		4: {3, 4, 5, 0, 1, 2}, // mirrored top-bottom
		5: {0, 3, 1, 4, 2, 5}, // transposed: 2×3
		6: {3, 0, 4, 1, 5, 2}, // rotated 90° clockwise
		7: {5, 2, 4, 1, 3, 0}, // transversed
		8: {2, 5, 1, 4, 0, 3}, // rotated 90° counter-clockwise
	}
	for o := 1; o <= 8; o++ {
		got := orient(src, o)
		if o >= 5 && (got.W != 2 || got.H != 3) || o < 5 && (got.W != 3 || got.H != 2) {
			t.Errorf("orientation %d: %d×%d", o, got.W, got.H)
			continue
		}
		for i, v := range want[o] {
			if got.Pix[3*i] != v {
				t.Errorf("orientation %d: got %v, want %v", o, []uint8{got.Pix[0], got.Pix[3], got.Pix[6], got.Pix[9], got.Pix[12], got.Pix[15]}, want[o])
				break
			}
		}
	}
}

func TestPreprocessPanicsOnWrongLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	Preprocess(NewRGB(4, 4), 4, make([]float32, 3))
}

func TestRGBImage(t *testing.T) {
	m := NewRGB(2, 1)
	copy(m.Pix, []uint8{1, 2, 3, 4, 5, 6})
	if m.Bounds() != image.Rect(0, 0, 2, 1) || m.At(1, 0) != (color.RGBA{4, 5, 6, 255}) || m.At(2, 0) != (color.RGBA{}) {
		t.Error("RGB does not behave as an image.Image")
	}
	if m.ColorModel() != color.RGBAModel {
		t.Error("colour model")
	}
}

// TestElongated: a 1×60000 image resizes to 224×13,440,000 before the crop;
// only the crop's weights and pixels are computed, so this takes little
// memory.
func TestElongated(t *testing.T) {
	src := randomRGB(1, 60000, 3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := ResizeCrop(src, 224)
	runtime.ReadMemStats(&after)
	if out.W != 224 || out.H != 224 {
		t.Fatalf("%d×%d", out.W, out.H)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("allocated %d bytes", n)
	}
	// Every row of the crop comes from one input pixel (a 1-pixel-wide
	// column enlarged): all 224 pixels of a row are equal.
	for y := 0; y < 224; y++ {
		row := out.Pix[3*224*y : 3*224*(y+1)]
		for x := 1; x < 224; x++ {
			if !bytes.Equal(row[3*x:3*x+3], row[:3]) {
				t.Fatalf("row %d not constant", y)
			}
		}
	}
}
