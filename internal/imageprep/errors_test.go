package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "in", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTemp writes data to a file called name in a temporary directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// expectError decodes the file and checks that it fails with an error that
// names it (and wraps target, if given).
func expectError(t *testing.T, path string, target error) error {
	t.Helper()
	img, err := DecodeFile(path, DecodeOptions{})
	if err == nil {
		t.Fatalf("%s: decoded a %v image, want an error", path, img.Bounds())
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file %s", err, path)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not wrap %v", err, target)
	}
	return err
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// hugeHeaders returns, per format, a file whose header declares an image far
// over DefaultMaxPixels (and whose pixel data is missing).
func hugeHeaders(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}

	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 20000)
	binary.BigEndian.PutUint32(ihdr[4:], 20000)
	ihdr[8], ihdr[9] = 8, 2
	out["png"] = append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)

	out["gif"] = append([]byte("GIF89a"), 0x60, 0xea, 0x60, 0xea, 0, 0, 0) // 60000×60000

	// A real JPEG with the frame header (SOF0) patched to 60000×60000.
	jpg := bytes.Clone(readFixture(t, "sub420.jpg"))
	i := bytes.Index(jpg, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("sub420.jpg: no SOF0")
	}
	binary.BigEndian.PutUint16(jpg[i+5:], 60000)
	binary.BigEndian.PutUint16(jpg[i+7:], 60000)
	out["jpeg"] = jpg

	bmp := make([]byte, 54)
	copy(bmp, "BM")
	binary.LittleEndian.PutUint32(bmp[2:], 54)
	binary.LittleEndian.PutUint32(bmp[10:], 54)
	binary.LittleEndian.PutUint32(bmp[14:], 40)
	binary.LittleEndian.PutUint32(bmp[18:], 30000)
	binary.LittleEndian.PutUint32(bmp[22:], 30000)
	binary.LittleEndian.PutUint16(bmp[26:], 1)
	binary.LittleEndian.PutUint16(bmp[28:], 24)
	out["bmp"] = bmp

	// A real TIFF with ImageWidth and ImageLength patched to 65535.
	tif := bytes.Clone(readFixture(t, "gray.tif"))
	patchTIFFDims(t, tif, 65535)
	out["tiff"] = tif

	// A real lossless WebP with the VP8L header's 14-bit sizes set to 16384.
	wp := bytes.Clone(readFixture(t, "lossless.webp"))
	i = bytes.Index(wp, []byte("VP8L"))
	if i < 0 || wp[i+8] != 0x2f {
		t.Fatal("lossless.webp: no VP8L header")
	}
	wp[i+9], wp[i+10], wp[i+11] = 0xff, 0xff, 0xff
	wp[i+12] |= 0x0f
	out["webp"] = wp
	return out
}

// patchTIFFDims sets the ImageWidth and ImageLength entries of a
// little-endian TIFF's first IFD to v.
func patchTIFFDims(t *testing.T, b []byte, v uint16) {
	t.Helper()
	if string(b[:4]) != "II*\x00" {
		t.Fatal("not a little-endian TIFF")
	}
	off := int(binary.LittleEndian.Uint32(b[4:]))
	n := int(binary.LittleEndian.Uint16(b[off:]))
	patched := 0
	for i := 0; i < n; i++ {
		e := off + 2 + 12*i
		if tag := binary.LittleEndian.Uint16(b[e:]); tag == 256 || tag == 257 {
			switch binary.LittleEndian.Uint16(b[e+2:]) {
			case 3:
				binary.LittleEndian.PutUint16(b[e+8:], v)
			case 4:
				binary.LittleEndian.PutUint32(b[e+8:], uint32(v))
			}
			patched++
		}
	}
	if patched != 2 {
		t.Fatal("TIFF dimensions not found")
	}
}

// TestPixelLimit: images over the limit are refused from their header, with
// an error naming the file and the limit.
func TestPixelLimit(t *testing.T) {
	for f, data := range hugeHeaders(t) {
		t.Run(f, func(t *testing.T) {
			err := expectError(t, writeTemp(t, "huge."+f, data), ErrTooLarge)
			if !strings.Contains(err.Error(), strconv.Itoa(DefaultMaxPixels)) {
				t.Errorf("error %q does not state the limit", err)
			}
			if f != "png" {
				return // the other decoders would allocate the image before failing
			}
			// Without a limit the header passes and the missing data fails
			// (the PNG decoder allocates nothing before the first IDAT).
			_, err = Decode(bytes.NewReader(data), "huge", DecodeOptions{MaxPixels: -1})
			if err == nil || errors.Is(err, ErrTooLarge) {
				t.Errorf("unlimited: got %v, want a corrupt-data error", err)
			}
		})
	}
	// A configurable limit: rgb_odd.png is 97×61 = 5917 pixels.
	path := filepath.Join("testdata", "in", "rgb_odd.png")
	if _, err := DecodeFile(path, DecodeOptions{MaxPixels: 5917}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := DecodeFile(path, DecodeOptions{MaxPixels: 5916})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "5916") {
		t.Errorf("over the limit: got %v", err)
	}
	if err := PreprocessFile(path, Options{Size: 32, MaxPixels: 100}, make([]float32, 3*32*32)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("PreprocessFile over the limit: got %v", err)
	}
}

// TestCorruptFiles: truncated and damaged files of every format, empty and
// text files give errors that name the file.
func TestCorruptFiles(t *testing.T) {
	sources := map[string]string{
		"png": "rgb_odd.png", "jpeg": "sub420.jpg", "progressive": "progressive.jpg", "gif": "palette.gif",
		"bmp": "rgb24.bmp", "tiff": "rgb_lzw.tif", "webp-lossy": "lossy.webp", "webp-lossless": "lossless.webp",
	}
	for kind, name := range sources {
		data := readFixture(t, name)
		for _, n := range []int{len(data) / 2, 40, 16, 13, 4} {
			t.Run(kind+"/truncated-"+strconv.Itoa(n), func(t *testing.T) {
				expectError(t, writeTemp(t, "cut-"+name, data[:n]), nil)
			})
		}
		t.Run(kind+"/garbage-after-signature", func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			g := bytes.Clone(data)
			for i := 16; i < len(g); i++ {
				g[i] = byte(r.Uint32())
			}
			expectError(t, writeTemp(t, "garbage-"+name, g), nil)
		})
	}
	t.Run("png-bad-crc", func(t *testing.T) {
		g := bytes.Clone(readFixture(t, "rgb_odd.png"))
		g[len(g)/2] ^= 0x55 // inside IDAT: the CRC no longer matches
		expectError(t, writeTemp(t, "crc.png", g), nil)
	})
	t.Run("empty", func(t *testing.T) {
		expectError(t, writeTemp(t, "empty.jpg", nil), ErrFormat)
	})
	t.Run("text", func(t *testing.T) {
		err := expectError(t, writeTemp(t, "notes.png", []byte("this is not an image\n")), ErrFormat)
		if !strings.Contains(err.Error(), "PNG, JPEG") {
			t.Errorf("error %q does not list the formats", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "absent.png")
		if _, err := DecodeFile(p, DecodeOptions{}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("got %v", err)
		}
		if err := PreprocessFile(p, Options{Size: 8}, make([]float32, 3*64)); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("PreprocessFile: got %v", err)
		}
	})
}

// TestFormatByContent: the extension is ignored.
func TestFormatByContent(t *testing.T) {
	p := writeTemp(t, "actually-a-jpeg.png", readFixture(t, "sub420.jpg"))
	a, err := DecodeFile(p, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeFile(filepath.Join("testdata", "in", "sub420.jpg"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ToRGB(a).Pix, ToRGB(b).Pix) {
		t.Error("same bytes decoded differently under another name")
	}
}

func TestPreprocessFileArguments(t *testing.T) {
	path := filepath.Join("testdata", "in", "tiny2x2.png")
	if err := PreprocessFile(path, Options{Size: 0}, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("size 0: got %v", err)
	}
	if err := PreprocessFile(path, Options{Size: 4}, make([]float32, 10)); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("short dst: got %v", err)
	}
}

// FuzzDecode: arbitrary bytes never panic (the Go decoders' panics are
// turned into errors; this package's own code must not panic at all), errors
// name the input, and whatever decodes can be preprocessed.
func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "in"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "in", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 16<<10 {
			f.Add(b)
			f.Add(b[:len(b)*2/3])
		}
	}
	dst := make([]float32, 3*8*8)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(bytes.NewReader(data), "fuzz-input", DecodeOptions{MaxPixels: 1 << 16})
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz-input") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		// Turned upright, the same data decodes too, to an image of the
		// same size or its transpose.
		up, err := Decode(bytes.NewReader(data), "fuzz-input", DecodeOptions{MaxPixels: 1 << 16, ExifTranspose: true})
		if err != nil {
			t.Fatalf("decodes as stored but not with ExifTranspose: %v", err)
		}
		if a, b := img.Bounds().Size(), up.Bounds().Size(); a != b && a != (image.Point{b.Y, b.X}) {
			t.Fatalf("as stored %v, upright %v", a, b)
		}
		rgb := ToRGB(img)
		b := img.Bounds()
		if rgb.W != b.Dx() || rgb.H != b.Dy() || len(rgb.Pix) != 3*rgb.W*rgb.H || rgb.W*rgb.H > 1<<16 {
			t.Fatalf("decoded %v into %d×%d (%d bytes)", b, rgb.W, rgb.H, len(rgb.Pix))
		}
		Preprocess(rgb, 8, dst)
		// Every transform, in both modes, on the decoded image: no panic,
		// and an error only where the reference cannot resize the mode.
		for _, tr := range fuzzTransforms {
			out := make([]float32, 3*tr.Size*tr.Size)
			if err := tr.Apply(img, out); err != nil && !errors.Is(err, ErrModeResize) && tr.ResizeMode != ResizeLongest {
				t.Fatalf("%s: %v", tr, err)
			}
		}
	})
}

// fuzzTransforms are the transforms FuzzDecode applies: native and rgb, each
// interpolation and resize mode, a padding fill.
var fuzzTransforms = func() []Transform {
	var out []Transform
	for _, mode := range []string{ModeNative, ModeRGB} {
		for _, c := range []struct {
			size          int
			interp, rmode string
			fill          int
		}{{8, InterpolationBicubic, ResizeShortest, 0}, {7, InterpolationBilinear, ResizeLongest, 9}, {5, InterpolationBicubic, ResizeSquash, 0}} {
			t := DefaultTransform(c.size)
			t.Mode, t.Interpolation, t.ResizeMode, t.FillColor = mode, c.interp, c.rmode, c.fill
			out = append(out, t)
		}
	}
	return out
}()
