package clip

// Tests against fixtures from scripts/reference/clip_reference.py, an
// independent PyTorch implementation of CLIP written from the architecture
// description, which computes in float64 from the float32 weights.

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/npy"
)

var referenceModels = []string{"tiny-gelu", "tiny-quickgelu"}

func readNpy32(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	f, err := npy.Open(path, npy.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return append([]float32(nil), f.Float32s()...), f.Header().Shape
}

func readTokens(t *testing.T, path string) []int32 {
	t.Helper()
	f, err := npy.Open(path, npy.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []int32
	for _, v := range f.Int64s() {
		out = append(out, int32(v))
	}
	return out
}

func loadReference(t *testing.T, dir, file string) *Model {
	t.Helper()
	cfg, err := LoadConfig(filepath.Join(dir, "open_clip_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.Open(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Load(cpu.New(2), f, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func referenceBatch(t *testing.T, dir string) Batch {
	images, shape := readNpy32(t, filepath.Join(dir, "images.npy"))
	return Batch{N: shape[0], Images: images, Tokens: readTokens(t, filepath.Join(dir, "tokens.npy"))}
}

// TestParamOrderMatchesReference: the reference's named_parameters() order
// and shapes equal Config.Params().
func TestParamOrderMatchesReference(t *testing.T) {
	for _, name := range referenceModels {
		dir := filepath.Join("testdata", name)
		cfg, err := LoadConfig(filepath.Join(dir, "open_clip_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(dir, "params.txt"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		ps := cfg.Params()
		i := 0
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if i >= len(ps) {
				t.Fatalf("%s: reference has more parameters than %d", name, len(ps))
			}
			got := ps[i].Name
			for _, d := range ps[i].Shape {
				got += " " + itoa(d)
			}
			if strings.Join(fields, " ") != got {
				t.Errorf("%s: parameter %d is %q in the reference, %q here", name, i, strings.Join(fields, " "), got)
			}
			i++
		}
		f.Close()
		if i != len(ps) {
			t.Errorf("%s: reference has %d parameters, config %d", name, i, len(ps))
		}
	}
}

// TestEmbeddingsMatchReference: φ and ψ within 1e-5 of the float64
// reference (float32 through two blocks gives ~1e-6 on unit vectors).
func TestEmbeddingsMatchReference(t *testing.T) {
	const tol = 1e-5
	for _, name := range referenceModels {
		for _, file := range []string{"model.safetensors", "model.pt"} {
			t.Run(name+"/"+file, func(t *testing.T) {
				dir := filepath.Join("testdata", name)
				m := loadReference(t, dir, file)
				emb, err := m.Encode(referenceBatch(t, dir))
				if err != nil {
					t.Fatal(err)
				}
				wantImg, _ := readNpy32(t, filepath.Join(dir, "image_emb.npy"))
				wantTxt, _ := readNpy32(t, filepath.Join(dir, "text_emb.npy"))
				if d := maxAbsDiff(emb.Image, wantImg); d > tol {
					t.Errorf("image embeddings differ by %g", d)
				}
				if d := maxAbsDiff(emb.Text, wantTxt); d > tol {
					t.Errorf("text embeddings differ by %g", d)
				}
				scale, _ := readNpy32(t, filepath.Join(dir, "logit_scale.npy"))
				if math.Abs(m.LogitScale()-float64(scale[0])) > 1e-5*float64(scale[0]) {
					t.Errorf("temperature %g, reference %g", m.LogitScale(), scale[0])
				}
			})
		}
	}
}

// TestGradientsMatchReference: every example's gradient of
// s_b = φ_b·u_b + ψ_b·v_b + φ_b·ψ_b with respect to all parameters matches
// PyTorch's float64 autograd. Float32 rounding through the backward pass
// leaves errors ~2e-7 of the largest gradient entry (measured); the bound
// is 2e-6 of that entry plus 1e-4 relative per entry, a margin of about ten.
func TestGradientsMatchReference(t *testing.T) {
	for _, name := range referenceModels {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			m := loadReference(t, dir, "model.safetensors")
			batch := referenceBatch(t, dir)
			u, _ := readNpy32(t, filepath.Join(dir, "u.npy"))
			v, _ := readNpy32(t, filepath.Join(dir, "v.npy"))
			out := testOutput{u: make([]float64, len(u)), v: make([]float64, len(v))}
			for i := range u {
				out.u[i], out.v[i] = float64(u[i]), float64(v[i])
			}
			sink := newDenseSink(batch.N, m.NumParams())
			if _, err := m.PerExampleGradients(batch, out.grad, sink); err != nil {
				t.Fatal(err)
			}
			want, shape := readNpy32(t, filepath.Join(dir, "grads.npy"))
			p := int(m.NumParams())
			if shape[0] != batch.N || shape[1] != p {
				t.Fatalf("reference gradients %v, want [%d %d]", shape, batch.N, p)
			}
			for b := range batch.N {
				row := want[b*p : (b+1)*p]
				scale := 0.0
				for _, x := range row {
					scale = math.Max(scale, math.Abs(float64(x)))
				}
				worst, worstAt := 0.0, 0
				for i, x := range row {
					d := math.Abs(sink.g[b][i] - float64(x))
					if r := d / (2e-6*scale + 1e-4*math.Abs(float64(x))); r > worst {
						worst, worstAt = r, i
					}
				}
				t.Logf("example %d: largest error / tolerance %.3f (parameter %s)", b, worst, paramAt(m, worstAt))
				if worst > 1 {
					t.Errorf("example %d: gradient of %s is %g, reference %g", b, paramAt(m, worstAt), sink.g[b][worstAt], row[worstAt])
				}
			}
		})
	}
}

// TestHalfPrecisionCheckpoints: float16 and bfloat16 files load to the
// float32 weights rounded to those formats.
func TestHalfPrecisionCheckpoints(t *testing.T) {
	dir := filepath.Join("testdata", "tiny-gelu")
	full := loadReference(t, dir, "model.safetensors")
	for _, c := range []struct {
		file string
		rel  float64 // relative rounding of the format: 2^-11 and 2^-8
	}{{"model_f16.safetensors", 1.0 / 2048}, {"model_bf16.safetensors", 1.0 / 256}} {
		half := loadReference(t, dir, c.file)
		for _, p := range full.Params() {
			a, _ := full.Weight(p.Name)
			h, _ := half.Weight(p.Name)
			for i := range a {
				if math.Abs(float64(a[i]-h[i])) > c.rel*math.Abs(float64(a[i]))+1e-7 {
					t.Fatalf("%s %s[%d] = %g, float32 %g", c.file, p.Name, i, h[i], a[i])
				}
			}
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func paramAt(m *Model, i int) string {
	for _, p := range m.Params() {
		if int64(i) >= p.Offset && int64(i) < p.Offset+int64(p.Len()) {
			return p.Name
		}
	}
	return "?"
}
