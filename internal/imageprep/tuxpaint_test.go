package imageprep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tuxpaintDir holds Debian's tuxpaint-stamps-default photos (mostly RGBA
// PNG cut-outs with colour left under alpha 0).
const tuxpaintDir = "/usr/share/tuxpaint/stamps"

// TestTuxpaintStamps checks real transparent photos: two stamps against the
// reference's outputs in both modes (testdata/tuxpaint.json, written by the
// fixture script), and over every RGBA stamp that native and rgb differ.
// Skipped when the stamps are not installed.
func TestTuxpaintStamps(t *testing.T) {
	if _, err := os.Stat(tuxpaintDir); err != nil {
		t.Skipf("%s not installed (apt-get install tuxpaint-stamps-default)", tuxpaintDir)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "tuxpaint.json"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []struct{ File, SHA256, Native, RGB string }
	if err := json.Unmarshal(raw, &refs); err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		path := filepath.Join(tuxpaintDir, r.File)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", r.File, err)
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != r.SHA256 {
			t.Logf("%s: installed stamp differs from the one the reference was made from; skipped", r.File)
			continue
		}
		img, err := DecodeFile(path, DecodeOptions{ExifTranspose: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ mode, want string }{{ModeNative, r.Native}, {ModeRGB, r.RGB}} {
			tr := DefaultTransform(224)
			tr.Mode = c.mode
			got, err := tr.pixels(img)
			if err != nil {
				t.Fatal(err)
			}
			if dm, _, n := diffStats(got, readWant(t, c.want)); dm != 0 {
				t.Errorf("%s %s: %d values differ from the reference (max %d)", r.File, c.mode, n, dm)
			}
		}
	}
	// Over the stamps: native differs from rgb on RGBA images; report by how
	// much in normalised units.
	var n, differ int
	var worst float64
	var worstFile string
	native, rgb := DefaultTransform(224), DefaultTransform(224)
	rgb.Mode = ModeRGB
	a, b := make([]float32, 3*224*224), make([]float32, 3*224*224)
	err = filepath.WalkDir(tuxpaintDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".png") || (testing.Short() && n >= 40) {
			return err
		}
		img, err := DecodeFile(path, DecodeOptions{ExifTranspose: true})
		if err != nil || modeOf(img) != "RGBA" {
			return nil
		}
		n++
		if native.Apply(img, a) != nil || rgb.Apply(img, b) != nil {
			t.Errorf("%s: transform failed", path)
			return nil
		}
		var m float64
		for i := range a {
			m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
		}
		if m > 0 {
			differ++
		}
		if m > worst {
			worst, worstFile = m, path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d RGBA stamps: native ≠ rgb on %d, by up to %.3f normalised units (%s)", n, differ, worst, worstFile)
	if n > 0 && differ == 0 {
		t.Error("native and rgb agree on every RGBA stamp")
	}
}
