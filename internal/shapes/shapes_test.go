package shapes

import (
	"bytes"
	"encoding/csv"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameExample(a, b Example) bool {
	return a.Index == b.Index && a.Caption == b.Caption && a.TrueAttrs == b.TrueAttrs &&
		a.CaptionAttrs == b.CaptionAttrs && a.Noisy == b.Noisy && a.CenterX == b.CenterX &&
		a.CenterY == b.CenterY && a.Radius == b.Radius && a.Image.Rect == b.Image.Rect &&
		bytes.Equal(a.Image.Pix, b.Image.Pix)
}

func TestDeterministic(t *testing.T) {
	opt := Options{N: 10, Seed: 7, NoisyShare: 0.3}
	a, b := Generate(opt), Generate(opt)
	for i := range a {
		if !sameExample(a[i], b[i]) {
			t.Fatalf("example %d differs between two runs", i)
		}
		if !bytes.Equal(encodePNG(t, a[i].Image), encodePNG(t, b[i].Image)) {
			t.Fatalf("example %d: PNG bytes differ between two runs", i)
		}
	}
	opt.N = 100
	long := Generate(opt)
	for i := range a {
		if !sameExample(a[i], long[i]) {
			t.Fatalf("example %d differs between N=10 and N=100", i)
		}
	}
	// Any example alone, in any order, equals its place in the full set.
	for _, i := range []int{99, 57, 3, 0} {
		if !sameExample(GenerateAt(opt, i), long[i]) {
			t.Fatalf("GenerateAt(%d) differs from Generate's example %d", i, i)
		}
	}
}

func TestSeedsDiffer(t *testing.T) {
	a := Generate(Options{N: 20, Seed: 1})
	b := Generate(Options{N: 20, Seed: 2})
	for i := range a {
		if bytes.Equal(a[i].Image.Pix, b[i].Image.Pix) {
			t.Errorf("example %d has the same image for seeds 1 and 2", i)
		}
		if i > 0 && bytes.Equal(a[i].Image.Pix, a[i-1].Image.Pix) {
			t.Errorf("examples %d and %d have the same image", i-1, i)
		}
	}
	same := 0
	for i := range a {
		if a[i].TrueAttrs == b[i].TrueAttrs {
			same++
		}
	}
	// 300 attribute combinations: two seeds should almost never agree.
	if same > 2 {
		t.Errorf("%d of %d examples share all attributes across seeds", same, len(a))
	}
}

func TestNoiseChangesCaptionOnly(t *testing.T) {
	clean := Generate(Options{N: 200, Seed: 3})
	noisy := Generate(Options{N: 200, Seed: 3, NoisyShare: 0.5})
	for i := range clean {
		c, n := clean[i], noisy[i]
		if !bytes.Equal(c.Image.Pix, n.Image.Pix) || c.TrueAttrs != n.TrueAttrs {
			t.Fatalf("example %d: the noisy share changed the picture", i)
		}
		if !n.Noisy && n.Caption != c.Caption {
			t.Fatalf("example %d: clean caption %q changed to %q", i, c.Caption, n.Caption)
		}
	}
}

// within reports whether count is within 4 standard deviations of the
// binomial mean n·p; with fixed seeds the tests are deterministic, and 4σ
// keeps them from depending on a lucky seed.
func within(count, n int, p float64) (ok bool, lo, hi float64) {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	lo, hi = mean-4*sd, mean+4*sd
	return float64(count) >= lo && float64(count) <= hi, lo, hi
}

func templateOf(ex Example) int {
	for k := range NumTemplates {
		if FormatCaption(ex.CaptionAttrs, k) == ex.Caption {
			return k
		}
	}
	return -1
}

func TestUniformAttributes(t *testing.T) {
	const n = 3000
	exs := Generate(Options{N: n, Seed: 11})
	counts := map[string]map[string]int{"shape": {}, "color": {}, "size": {}, "position": {}, "template": {}}
	for _, ex := range exs {
		a := ex.TrueAttrs
		counts["shape"][a.Shape]++
		counts["color"][a.Color]++
		counts["size"][a.Size]++
		counts["position"][a.Position]++
		counts["template"][strconv.Itoa(templateOf(ex))]++
	}
	var templates []string
	for k := range NumTemplates {
		templates = append(templates, strconv.Itoa(k))
	}
	for attr, values := range map[string][]string{
		"shape": Shapes(), "color": Colors(), "size": Sizes(), "position": Positions(), "template": templates,
	} {
		if len(counts[attr]) != len(values) {
			t.Errorf("%s: saw values %v, want exactly %v", attr, counts[attr], values)
		}
		for _, v := range values {
			c := counts[attr][v]
			if ok, lo, hi := within(c, n, 1/float64(len(values))); !ok {
				t.Errorf("%s %s: %d of %d, want within [%.0f, %.0f]", attr, v, c, n, lo, hi)
			}
		}
	}
}

func TestParseCaptionRoundTrip(t *testing.T) {
	cases := 0
	for _, sh := range Shapes() {
		for _, co := range Colors() {
			for _, sz := range Sizes() {
				for _, po := range Positions() {
					a := Attrs{Shape: sh, Color: co, Size: sz, Position: po}
					if !a.Valid() {
						t.Fatalf("%v not valid", a)
					}
					for k := range NumTemplates {
						c := FormatCaption(a, k)
						got, ok := ParseCaption(c)
						if !ok || got != a {
							t.Fatalf("ParseCaption(%q) = %v, %v; want %v", c, got, ok, a)
						}
						cases++
					}
				}
			}
		}
	}
	if want := 5 * 6 * 2 * 5 * NumTemplates; cases != want {
		t.Errorf("checked %d captions, want %d", cases, want)
	}

	want := Attrs{Shape: "triangle", Color: "red", Size: "small", Position: "left"}
	for _, c := range []string{
		"a small red triangle on the left",
		"small red triangle, left",
		"A Small RED triangle, on the LEFT.",
		"small red triangle left, a red one",
	} {
		if got, ok := ParseCaption(c); !ok || got != want {
			t.Errorf("ParseCaption(%q) = %v, %v; want %v", c, got, ok, want)
		}
	}
	if got, ok := ParseCaption("a large blue circle in the centre"); !ok || got.Position != "center" {
		t.Errorf(`"centre" read as %v, %v`, got, ok)
	}
	for _, c := range []string{
		"",
		"a red triangle on the left",            // no size
		"a small red triangle",                  // no position
		"a small red blue triangle on the left", // two colours
		"a small red triangle left and right",   // two positions
		"a small red triangles on the left",     // plural is not a shape word
	} {
		if got, ok := ParseCaption(c); ok {
			t.Errorf("ParseCaption(%q) = %v, true; want false", c, got)
		}
	}
}

func TestFormatCaptionPanicsOutOfRange(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("FormatCaption with template NumTemplates did not panic")
		}
	}()
	FormatCaption(Attrs{"circle", "red", "small", "left"}, NumTemplates)
}

func TestNoisyShare(t *testing.T) {
	const n, share = 2000, 0.2
	exs := Generate(Options{N: n, Seed: 5, NoisyShare: share})
	noisy, colorNoise := 0, 0
	for _, ex := range exs {
		parsed, ok := ParseCaption(ex.Caption)
		if !ok || parsed != ex.CaptionAttrs {
			t.Fatalf("example %d: caption %q parses to %v, %v; CaptionAttrs %v", ex.Index, ex.Caption, parsed, ok, ex.CaptionAttrs)
		}
		if ex.Noisy != (ex.CaptionAttrs != ex.TrueAttrs) {
			t.Fatalf("example %d: Noisy %v with attrs %v vs %v", ex.Index, ex.Noisy, ex.CaptionAttrs, ex.TrueAttrs)
		}
		if !ex.Noisy {
			continue
		}
		noisy++
		c, tr := ex.CaptionAttrs, ex.TrueAttrs
		if c.Size != tr.Size || c.Position != tr.Position || (c.Color != tr.Color) == (c.Shape != tr.Shape) {
			t.Fatalf("example %d: noisy caption %v should differ from the truth %v in exactly its colour or shape", ex.Index, c, tr)
		}
		if !c.Valid() {
			t.Fatalf("example %d: noisy caption attributes %v not valid", ex.Index, c)
		}
		if c.Color != tr.Color {
			colorNoise++
		}
	}
	if ok, lo, hi := within(noisy, n, share); !ok {
		t.Errorf("%d noisy of %d, want within [%.0f, %.0f]", noisy, n, lo, hi)
	}
	if ok, lo, hi := within(colorNoise, noisy, 0.5); !ok {
		t.Errorf("%d of %d noisy captions have a wrong colour, want within [%.0f, %.0f]", colorNoise, noisy, lo, hi)
	}

	for _, share := range []float64{0, 1} {
		for _, ex := range Generate(Options{N: 200, Seed: 5, NoisyShare: share}) {
			if ex.Noisy != (share == 1) {
				t.Fatalf("share %v: example %d has Noisy %v", share, ex.Index, ex.Noisy)
			}
		}
	}
}

func TestShapeColorAtCenter(t *testing.T) {
	for _, size := range []int{MinSize, 32, 64, 100} {
		for _, ex := range Generate(Options{N: 300, Size: size, Seed: 13}) {
			c := ex.Image.NRGBAAt(int(ex.CenterX), int(ex.CenterY))
			if got := NearestColor(c); got != ex.TrueAttrs.Color {
				t.Fatalf("size %d, example %d (%v): centre pixel %v is nearest %s", size, ex.Index, ex.TrueAttrs, c, got)
			}
		}
	}
}

// chroma is the spread of a pixel's channels: high for the saturated shape
// colours, low for the muted backgrounds.
func chroma(c color.NRGBA) int {
	return int(max(c.R, c.G, c.B)) - int(min(c.R, c.G, c.B))
}

func TestShapeGeometry(t *testing.T) {
	const size = 64
	exs := Generate(Options{N: 600, Size: size, Seed: 17})
	var area = map[string]float64{}
	var count = map[string]int{}
	for _, ex := range exs {
		a := ex.TrueAttrs
		if got := RegionOf(ex.CenterX, ex.CenterY, size); got != a.Position {
			t.Fatalf("example %d: centre (%.1f, %.1f) lies in region %q, want %q", ex.Index, ex.CenterX, ex.CenterY, got, a.Position)
		}
		// The background is muted (chroma ≤ about 50) and every shape
		// colour is saturated (chroma ≥ 100), so the shape's pixels are
		// those of high chroma: their centroid is the shape's centre.
		var n, sx, sy float64
		for y := range size {
			for x := range size {
				if c := ex.Image.NRGBAAt(x, y); chroma(c) >= 80 {
					n++
					sx += float64(x) + 0.5
					sy += float64(y) + 0.5
				}
			}
		}
		if n == 0 {
			t.Fatalf("example %d: no saturated pixels", ex.Index)
		}
		mx, my := sx/n, sy/n
		if d := math.Hypot(mx-ex.CenterX, my-ex.CenterY); d > 1 {
			t.Errorf("example %d (%v): drawn centroid (%.1f, %.1f) is %.2f px from the centre (%.1f, %.1f)",
				ex.Index, a, mx, my, d, ex.CenterX, ex.CenterY)
		}
		if got := RegionOf(mx, my, size); got != a.Position {
			t.Errorf("example %d: drawn centroid (%.1f, %.1f) lies in region %q, want %q", ex.Index, mx, my, got, a.Position)
		}
		area[a.Size] += n
		count[a.Size]++
	}
	small, large := area["small"]/float64(count["small"]), area["large"]/float64(count["large"])
	if large < 3*small {
		t.Errorf("mean shape area: small %.0f px, large %.0f px; want large ≥ 3× small", small, large)
	}
}

func TestPalette(t *testing.T) {
	for _, name := range Colors() {
		c, ok := Palette(name)
		if !ok || NearestColor(c) != name {
			t.Errorf("Palette(%q) = %v, %v", name, c, ok)
		}
		if chroma(c) < 100+2*colorJitter {
			t.Errorf("%s: chroma %d too low to stand out from the background", name, chroma(c))
		}
		for _, other := range Colors() {
			o, _ := Palette(other)
			d := math.Sqrt(float64(sq(int(c.R)-int(o.R)) + sq(int(c.G)-int(o.G)) + sq(int(c.B)-int(o.B))))
			// Jitter moves a colour at most √3·colorJitter ≈ 21 levels.
			if other != name && d < 75 {
				t.Errorf("%s and %s are only %.0f apart", name, other, d)
			}
		}
	}
	if _, ok := Palette("grey"); ok {
		t.Error(`Palette("grey") succeeded`)
	}
}

func sq(x int) int { return x * x }

func TestRegionOf(t *testing.T) {
	for _, c := range []struct {
		x, y float64
		want string
	}{
		{16, 32, "left"}, {48, 32, "right"}, {32, 10, "top"}, {32, 54, "bottom"}, {32, 32, "center"},
		{5, 5, ""}, {60, 60, ""}, {-1, 32, ""}, {64, 32, ""},
	} {
		if got := RegionOf(c.x, c.y, 64); got != c.want {
			t.Errorf("RegionOf(%v, %v, 64) = %q, want %q", c.x, c.y, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, o := range []Options{
		{N: -1}, {Size: MinSize - 1}, {Size: MaxSize + 1}, {NoisyShare: -0.1}, {NoisyShare: 1.5}, {NoisyShare: math.NaN()},
	} {
		if o.Validate() == nil {
			t.Errorf("%+v: no error", o)
		}
		if _, err := WriteDataset(t.TempDir(), o, ""); err == nil {
			t.Errorf("WriteDataset %+v: no error", o)
		}
	}
	if err := (Options{N: 0, Size: MinSize, NoisyShare: 1}).Validate(); err != nil {
		t.Error(err)
	}
	if exs := Generate(Options{}); len(exs) != 0 {
		t.Errorf("N=0 gave %d examples", len(exs))
	}
	if ex := GenerateAt(Options{}, 0); ex.Image.Rect.Dx() != DefaultSize || ex.Image.Rect.Dy() != DefaultSize {
		t.Errorf("default image is %v", ex.Image.Rect)
	}
	defer func() {
		if recover() == nil {
			t.Error("Generate with invalid options did not panic")
		}
	}()
	Generate(Options{N: 1, NoisyShare: 2})
}

func TestWriteDataset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	opt := Options{N: 25, Size: 48, Seed: 21, NoisyShare: 0.3}
	csvPath, err := WriteDataset(dir, opt, "train.csv")
	if err != nil {
		t.Fatal(err)
	}
	if csvPath != filepath.Join(dir, "train.csv") {
		t.Errorf("CSV path %s", csvPath)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "filepath,title,shape,color,size,position,noisy" {
		t.Fatalf("header %v", recs[0])
	}
	if len(recs) != opt.N+1 {
		t.Fatalf("%d rows, want %d", len(recs)-1, opt.N)
	}
	noisy := 0
	for i, rec := range recs[1:] {
		want := GenerateAt(opt, i)
		if rec[0] != ImageName(i, opt.N) || filepath.IsAbs(rec[0]) {
			t.Errorf("row %d: filepath %q", i, rec[0])
		}
		imgFile, err := os.Open(filepath.Join(dir, filepath.FromSlash(rec[0])))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(imgFile)
		imgFile.Close()
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if img.Bounds() != image.Rect(0, 0, 48, 48) {
			t.Errorf("row %d: image bounds %v", i, img.Bounds())
		}
		if !samePixels(img, want.Image) {
			t.Errorf("row %d: decoded image differs from the generated one", i)
		}
		ta := want.TrueAttrs
		if rec[1] != want.Caption || rec[2] != ta.Shape || rec[3] != ta.Color || rec[4] != ta.Size || rec[5] != ta.Position {
			t.Errorf("row %d: %v, want caption %q and true attributes %v", i, rec, want.Caption, ta)
		}
		if rec[6] != strconv.Itoa(b2i(want.Noisy)) {
			t.Errorf("row %d: noisy %q, example's %v", i, rec[6], want.Noisy)
		}
		if want.Noisy {
			noisy++
		}
	}
	if noisy == 0 {
		t.Error("no noisy rows at share 0.3")
	}
	ents, err := os.ReadDir(filepath.Join(dir, ImageDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != opt.N {
		t.Errorf("%d entries in %s, want %d (no temporary files)", len(ents), ImageDir, opt.N)
	}

	// The default CSV name, and a rewrite over an existing data set.
	if p, err := WriteDataset(dir, opt, ""); err != nil || filepath.Base(p) != DefaultCSVName {
		t.Errorf("default name: %s, %v", p, err)
	}
	for _, bad := range []string{"sub/x.csv", "..", "."} {
		if _, err := WriteDataset(dir, opt, bad); err == nil {
			t.Errorf("CSV name %q accepted", bad)
		}
	}
}

// samePixels reports whether img holds the pixels of want. (The PNG encoder
// stores an opaque image without alpha, so it decodes as another type.)
func samePixels(img image.Image, want *image.NRGBA) bool {
	if img.Bounds() != want.Rect {
		return false
	}
	for y := want.Rect.Min.Y; y < want.Rect.Max.Y; y++ {
		for x := want.Rect.Min.X; x < want.Rect.Max.X; x++ {
			if color.NRGBAModel.Convert(img.At(x, y)) != want.NRGBAAt(x, y) {
				return false
			}
		}
	}
	return true
}

func TestImageName(t *testing.T) {
	for _, c := range []struct {
		i, n int
		want string
	}{
		{0, 1, "images/00000.png"}, {42, 100, "images/00042.png"}, {7, 123456, "images/000007.png"}, {0, 0, "images/00000.png"},
	} {
		if got := ImageName(c.i, c.n); got != c.want {
			t.Errorf("ImageName(%d, %d) = %q, want %q", c.i, c.n, got, c.want)
		}
	}
}

func BenchmarkGenerateAt(b *testing.B) {
	opt := Options{Size: 64, Seed: 1}
	i := 0
	for b.Loop() {
		GenerateAt(opt, i)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "examples/s")
}

func BenchmarkGenerate(b *testing.B) {
	opt := Options{N: 256, Size: 64, Seed: 1}
	for b.Loop() {
		Generate(opt)
	}
	b.ReportMetric(float64(b.N*opt.N)/b.Elapsed().Seconds(), "examples/s")
}
