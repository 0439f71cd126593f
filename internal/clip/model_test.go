package clip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
)

// testConfigs are tiny models covering both activations, several heads,
// and more than one block per tower.
func testConfigs() map[string]Config {
	base := Config{
		EmbedDim: 8,
		Vision:   VisionConfig{ImageSize: 8, Layers: 2, Width: 8, HeadWidth: 4, PatchSize: 4, MLPRatio: 4},
		Text:     TextConfig{ContextLength: 5, VocabSize: 12, Width: 8, Heads: 2, Layers: 2, MLPRatio: 4},
	}
	quick := base
	quick.QuickGELU = true
	quick.Vision.Layers, quick.Text.Layers, quick.Text.Heads = 1, 1, 4
	// A large LayerNorm epsilon, so that a forward or backward pass that
	// ignored Config.LayerNormEps would differ visibly from the reference.
	eps := base
	eps.LayerNormEps = 0.05
	return map[string]Config{"gelu": base, "quickgelu": quick, "eps": eps}
}

// randomWeights draws weights at scales that give every parameter a
// visible gradient.
func randomWeights(c Config, seed uint64) map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := map[string][]float32{}
	for _, p := range c.Params() {
		v := make([]float32, p.Len())
		fan := 1
		if len(p.Shape) >= 2 {
			fan = p.Len() / p.Shape[0]
		}
		for i := range v {
			switch {
			case strings.HasSuffix(p.Name, "ln_1.weight"), strings.HasSuffix(p.Name, "ln_2.weight"), strings.Contains(p.Name, "ln_") && strings.HasSuffix(p.Name, ".weight"):
				v[i] = float32(1 + 0.2*rng.NormFloat64())
			case p.Name == "logit_scale":
				v[i] = float32(math.Log(1 / 0.07))
			case len(p.Shape) == 1:
				v[i] = float32(0.2 * rng.NormFloat64())
			default:
				v[i] = float32(rng.NormFloat64() / math.Sqrt(float64(fan)))
			}
		}
		w[p.Name] = v
	}
	return w
}

func buildModel(t testing.TB, c Config, w map[string][]float32, threads int) *Model {
	t.Helper()
	m, err := New(cpu.New(threads), c, func(p Param, dst []float32) error {
		copy(dst, w[p.Name])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomBatch returns n images and captions of varying length.
func randomBatch(c Config, n int, seed uint64) Batch {
	rng := rand.New(rand.NewPCG(seed, 2))
	s, ctx, v := c.Vision.ImageSize, c.Text.ContextLength, c.Text.VocabSize
	b := Batch{N: n, Images: make([]float32, n*3*s*s), Tokens: make([]int32, n*ctx)}
	for i := range b.Images {
		b.Images[i] = float32(rng.NormFloat64())
	}
	for e := range n {
		length := 1 + (e*2+1)%(ctx-1) // end-of-text at varying positions, one at the last
		if e == n-1 {
			length = ctx - 1
		}
		row := b.Tokens[e*ctx : (e+1)*ctx]
		row[0] = int32(v - 2)
		for t := 1; t < length; t++ {
			row[t] = int32(1 + rng.IntN(v-3))
		}
		row[length] = int32(v - 1)
	}
	return b
}

// denseSink collects the delivered per-example gradients into B × p
// float64 vectors and checks that no parameter is delivered twice.
type denseSink struct {
	batch int
	p     int64
	g     [][]float64
	seen  []bool
	err   error
}

func newDenseSink(batch int, p int64) *denseSink {
	s := &denseSink{batch: batch, p: p, seen: make([]bool, p)}
	for range batch {
		s.g = append(s.g, make([]float64, p))
	}
	return s
}

func (s *denseSink) Add(offset int64, n int, g []float32, stride int) {
	for j := range int64(n) {
		if s.seen[offset+j] && s.err == nil {
			s.err = fmt.Errorf("parameter %d delivered twice", offset+j)
		}
		s.seen[offset+j] = true
	}
	for b := range s.batch {
		for j := range n {
			s.g[b][offset+int64(j)] = float64(g[b*stride+j])
		}
	}
}

// testOutput is s_b = φ_b·u_b + ψ_b·v_b + φ_b·ψ_b, with its gradient.
type testOutput struct{ u, v []float64 }

func newTestOutput(n, e int, seed uint64) testOutput {
	rng := rand.New(rand.NewPCG(seed, 3))
	o := testOutput{u: make([]float64, n*e), v: make([]float64, n*e)}
	for i := range o.u {
		o.u[i], o.v[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	return o
}

func (o testOutput) value(b int, phi, psi []float64) float64 {
	e := len(phi)
	s := 0.0
	for j := range e {
		s += phi[j]*o.u[b*e+j] + psi[j]*o.v[b*e+j] + phi[j]*psi[j]
	}
	return s
}

func (o testOutput) grad(emb Embeddings, dphi, dpsi []float32) error {
	for i := range dphi {
		dphi[i] = float32(o.u[i] + float64(emb.Text[i]))
		dpsi[i] = float32(o.v[i] + float64(emb.Image[i]))
	}
	return nil
}

func to64(w map[string][]float32) map[string][]float64 {
	out := map[string][]float64{}
	for k, v := range w {
		out[k] = make([]float64, len(v))
		for i, x := range v {
			out[k][i] = float64(x)
		}
	}
	return out
}

// TestForwardMatchesReference64: the backend forward pass agrees with the
// float64 loop implementation. float32 arithmetic through two blocks of
// width 8 keeps ~1e-6 relative error; 2e-5 on unit-norm embeddings leaves
// a margin of ten.
func TestForwardMatchesReference64(t *testing.T) {
	const tol = 2e-5
	for name, c := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			w := randomWeights(c, 1)
			m := buildModel(t, c, w, 2)
			batch := randomBatch(c, 3, 1)
			emb, err := m.Encode(batch)
			if err != nil {
				t.Fatal(err)
			}
			ref := &ref64{c: c, w: to64(w)}
			s, ctx, e := c.Vision.ImageSize, c.Text.ContextLength, c.EmbedDim
			for b := range batch.N {
				img := make([]float64, 3*s*s)
				for i := range img {
					img[i] = float64(batch.Images[b*3*s*s+i])
				}
				phi, psi := ref.image(img), ref.text(batch.Tokens[b*ctx:(b+1)*ctx])
				for j := range e {
					if d := math.Abs(phi[j] - float64(emb.Image[b*e+j])); d > tol {
						t.Errorf("example %d φ[%d]: %g vs float64 %g", b, j, emb.Image[b*e+j], phi[j])
					}
					if d := math.Abs(psi[j] - float64(emb.Text[b*e+j])); d > tol {
						t.Errorf("example %d ψ[%d]: %g vs float64 %g", b, j, emb.Text[b*e+j], psi[j])
					}
				}
			}
		})
	}
}

// TestGradientsFiniteDifferences compares every example's gradient with
// central finite differences of s_b computed in float64 by the independent
// loop implementation: for coordinates sampled from every parameter tensor,
// and for random directions over all parameters at once.
func TestGradientsFiniteDifferences(t *testing.T) {
	// h = 1e-4 in float64 gives a truncation error ~h²·|s'''| ≈ 1e-8 and a
	// rounding error ~1e-16/h ≈ 1e-12; the model's gradient is float32,
	// with ~1e-6 relative error per operation through a few dozen
	// operations. Tolerance: 1e-4 absolute + 1e-3 relative per coordinate,
	// 2e-4 relative for directional derivatives (which average out
	// per-coordinate rounding).
	const h, absTol, relTol, dirTol = 1e-4, 1e-4, 1e-3, 2e-4
	for name, c := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			w := randomWeights(c, 2)
			m := buildModel(t, c, w, 2)
			batch := randomBatch(c, 3, 2)
			out := newTestOutput(batch.N, c.EmbedDim, 2)
			sink := newDenseSink(batch.N, c.NumParams())
			if _, err := m.PerExampleGradients(batch, out.grad, sink); err != nil {
				t.Fatal(err)
			}
			if sink.err != nil {
				t.Fatal(sink.err)
			}
			w64 := to64(w)
			ref := &ref64{c: c, w: w64}
			s, ctx := c.Vision.ImageSize, c.Text.ContextLength
			sOf := func(b int) float64 {
				img := make([]float64, 3*s*s)
				for i := range img {
					img[i] = float64(batch.Images[b*3*s*s+i])
				}
				return out.value(b, ref.image(img), ref.text(batch.Tokens[b*ctx:(b+1)*ctx]))
			}
			rng := rand.New(rand.NewPCG(7, 7))
			worstCoord, worstDir := 0.0, 0.0 // largest error as a share of its tolerance
			defer func() { t.Logf("largest error / tolerance: coordinates %.3f, directions %.3f", worstCoord, worstDir) }()
			for _, p := range c.Params() {
				vals := w64[p.Name]
				for range 3 {
					i := rng.IntN(len(vals))
					for b := range batch.N {
						old := vals[i]
						vals[i] = old + h
						up := sOf(b)
						vals[i] = old - h
						down := sOf(b)
						vals[i] = old
						fd := (up - down) / (2 * h)
						got := sink.g[b][p.Offset+int64(i)]
						worstCoord = math.Max(worstCoord, math.Abs(got-fd)/(absTol+relTol*math.Abs(fd)))
						if math.Abs(got-fd) > absTol+relTol*math.Abs(fd) {
							t.Errorf("%s[%d], example %d: gradient %.6g, finite difference %.6g", p.Name, i, b, got, fd)
						}
					}
				}
			}
			// Directional derivatives over all parameters.
			for trial := range 3 {
				dir := map[string][]float64{}
				for _, p := range c.Params() {
					d := make([]float64, p.Len())
					for i := range d {
						d[i] = rng.NormFloat64()
					}
					dir[p.Name] = d
				}
				shift := func(sign float64) {
					for name, d := range dir {
						for i := range d {
							w64[name][i] += sign * h * d[i]
						}
					}
				}
				for b := range batch.N {
					shift(1)
					up := sOf(b)
					shift(-2)
					down := sOf(b)
					shift(1)
					fd := (up - down) / (2 * h)
					got := 0.0
					for _, p := range c.Params() {
						for i, d := range dir[p.Name] {
							got += d * sink.g[b][p.Offset+int64(i)]
						}
					}
					worstDir = math.Max(worstDir, math.Abs(got-fd)/(dirTol*math.Abs(fd)+absTol))
					if math.Abs(got-fd) > dirTol*math.Abs(fd)+absTol {
						t.Errorf("direction %d, example %d: ∇s·d = %.8g, finite difference %.8g", trial, b, got, fd)
					}
				}
			}
			// logit_scale does not enter s: its gradient is exactly zero.
			ls := c.Params()[2]
			for b := range batch.N {
				if v := sink.g[b][ls.Offset]; v != 0 {
					t.Errorf("example %d: logit_scale gradient %g, want 0", b, v)
				}
			}
		})
	}
}

// cpuBackend is the backend of the tests: a poisoning one, so that every
// test of the model also checks that no freed tensor (or view of one) is
// read or written again: a read yields NaN, a write panics on reuse.
func cpuBackend() *cpu.Backend { return cpu.NewPoisoning(0) }

// TestNonFiniteWeights: New refuses a parameter holding NaN or ±Inf, and a
// logit_scale whose temperature exp(logit_scale) overflows float32 (any
// value above ln(MaxFloat32) ≈ 88.72), naming the parameter; a large but
// representable temperature is accepted.
func TestNonFiniteWeights(t *testing.T) {
	c := testConfigs()["gelu"]
	for _, tc := range []struct {
		name  string
		param string
		value float32
		want  string // "" accepts
	}{
		{"NaN weight", "visual.conv1.weight", float32(math.NaN()), "visual.conv1.weight has 1 non-finite values"},
		{"infinite bias", "transformer.resblocks.1.mlp.c_fc.bias", float32(math.Inf(-1)), "transformer.resblocks.1.mlp.c_fc.bias has 1 non-finite"},
		{"NaN logit_scale", "logit_scale", float32(math.NaN()), "logit_scale has 1 non-finite"},
		{"overflowing logit_scale", "logit_scale", 89, "temperature, overflows float32"},
		{"large logit_scale", "logit_scale", 88, ""},
	} {
		w := randomWeights(c, 1)
		w[tc.param][0] = tc.value
		m, err := New(cpu.New(1), c, func(p Param, dst []float32) error { copy(dst, w[p.Name]); return nil })
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else {
				m.Free()
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
