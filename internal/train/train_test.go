package train

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/clip"
)

func unitRows(rng *rand.Rand, b, e int) []float32 {
	out := make([]float32, b*e)
	for i := range b {
		n := 0.0
		for k := range e {
			v := rng.NormFloat64()
			out[i*e+k] = float32(v)
			n += v * v
		}
		for k := range e {
			out[i*e+k] /= float32(math.Sqrt(n))
		}
	}
	return out
}

// TestContrastiveGradient: the loss gradient against central differences
// in float64 (h = 1e-4 on float32 inputs; the loss is formed in float64
// from float32 inputs, so differences are exact to ~1e-9; gradients are
// returned in float32: 1e-5).
func TestContrastiveGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const b, e, h, tol = 5, 4, 1e-3, 1e-4
	phi, psi := unitRows(rng, b, e), unitRows(rng, b, e)
	temp := 7.0
	dphi, dpsi := make([]float32, b*e), make([]float32, b*e)
	_, dScale := Contrastive(phi, psi, b, e, temp, dphi, dpsi)
	loss := func(p, q []float32, tmp float64) float64 {
		l, _ := Contrastive(p, q, b, e, tmp, make([]float32, b*e), make([]float32, b*e))
		return l
	}
	for i := range phi {
		for _, which := range []struct {
			x []float32
			g []float32
		}{{phi, dphi}, {psi, dpsi}} {
			old := which.x[i]
			which.x[i] = old + h
			up := loss(phi, psi, temp)
			which.x[i] = old - h
			down := loss(phi, psi, temp)
			which.x[i] = old
			fd := (up - down) / float64(float32(old+h)-float32(old-h)) // the float32 step actually taken
			if math.Abs(fd-float64(which.g[i])) > tol*math.Max(1, math.Abs(fd)) {
				t.Errorf("gradient %d: %g, finite difference %g", i, which.g[i], fd)
			}
		}
	}
	s := math.Log(temp)
	fd := (loss(phi, psi, math.Exp(s+1e-6)) - loss(phi, psi, math.Exp(s-1e-6))) / 2e-6
	if math.Abs(fd-dScale) > 1e-6*math.Max(1, math.Abs(fd)) {
		t.Errorf("∂loss/∂logit_scale = %g, finite difference %g", dScale, fd)
	}
}

func tinyModel(t *testing.T, seed uint64) *clip.Model {
	t.Helper()
	cfg := clip.Config{
		EmbedDim: 8,
		Vision:   clip.VisionConfig{ImageSize: 8, Layers: 1, Width: 16, HeadWidth: 8, PatchSize: 4, MLPRatio: 2},
		Text:     clip.TextConfig{ContextLength: 4, VocabSize: 20, Width: 16, Heads: 2, Layers: 1, MLPRatio: 2},
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	m, err := clip.New(cpu.New(1), cfg, func(p clip.Param, dst []float32) error {
		fan := 1
		if len(p.Shape) >= 2 {
			fan = p.Len() / p.Shape[0]
		}
		for i := range dst {
			switch {
			case len(p.Shape) == 1 && strings.HasSuffix(p.Name, "weight"):
				dst[i] = 1 // LayerNorm scales
			case len(p.Shape) == 1:
				dst[i] = 0 // biases, class embedding
			default:
				dst[i] = float32(rng.NormFloat64() / math.Sqrt(float64(fan)))
			}
		}
		if p.Name == "logit_scale" {
			dst[0] = float32(math.Log(1 / 0.07))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pairs are 16 image–caption pairs where caption i (one token) names the
// colour pattern of image i, so a model can learn to match them.
func pairs(m *clip.Model) func(context.Context, []int) (clip.Batch, error) {
	c := m.Config
	s, ctx := c.Vision.ImageSize, c.Text.ContextLength
	return func(_ context.Context, rows []int) (clip.Batch, error) {
		b := clip.Batch{N: len(rows)}
		for _, r := range rows {
			rng := rand.New(rand.NewPCG(uint64(r), 3))
			base := float32(r%4) - 1.5
			for ch := range 3 {
				for i := range s * s {
					b.Images = append(b.Images, base*float32(ch+1)/3+0.1*float32(rng.NormFloat64())+float32(r/4)*float32(i%s)/float32(s))
				}
			}
			toks := make([]int32, ctx)
			toks[0], toks[1], toks[2] = 18, int32(1+r), 19
			b.Tokens = append(b.Tokens, toks...)
		}
		return b, nil
	}
}

// TestTrainingLearns: 40 steps on 16 pairs lower the contrastive loss well
// below its starting value (log 8 ≈ 2.08 for random matching at batch 8),
// and the same seed gives bitwise the same weights.
func TestTrainingLearns(t *testing.T) {
	run := func() ([]Step, []float32) {
		m := tinyModel(t, 1)
		var steps []Step
		opt := Options{Epochs: 30, BatchSize: 8, LR: 1e-2, WeightDecay: 0.01, Warmup: 4, Seed: 3}
		if err := Train(context.Background(), m, 16, pairs(m), opt, func(s Step) { steps = append(steps, s) }); err != nil {
			t.Fatal(err)
		}
		w, _ := m.Weight("visual.proj")
		return steps, w
	}
	steps, w := run()
	first, last := steps[0].Loss, 0.0
	for _, s := range steps[len(steps)-4:] {
		last += s.Loss / 4
	}
	t.Logf("loss %.3f → %.3f over %d steps", first, last, len(steps))
	if last > 0.5*first || last > math.Log(8) {
		t.Errorf("loss went from %.3f to %.3f (chance: log 8 = 2.08): not learning", first, last)
	}
	_, w2 := run()
	for i := range w {
		if math.Float32bits(w[i]) != math.Float32bits(w2[i]) {
			t.Fatal("training is not deterministic for a seed")
		}
	}
}

// TestBatchGradient: the summed per-example gradients of the batch loss
// equal central differences of the loss through the model (float32 model:
// h = 1e-2 relative steps, tolerance 2e-2 relative + 1e-3).
func TestBatchGradient(t *testing.T) {
	m := tinyModel(t, 5)
	load := pairs(m)
	batch, _ := load(context.Background(), []int{0, 3, 5, 6, 9, 12})
	e := m.Config.EmbedDim
	lossOf := func() float64 {
		emb, err := m.Encode(batch)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := Contrastive(emb.Image, emb.Text, batch.N, e, m.LogitScale(), make([]float32, batch.N*e), make([]float32, batch.N*e))
		return l
	}
	sink := &sumSink{g: make([]float64, m.NumParams())}
	if _, err := m.PerExampleGradients(batch, func(emb clip.Embeddings, dphi, dpsi []float32) error {
		Contrastive(emb.Image, emb.Text, batch.N, e, m.LogitScale(), dphi, dpsi)
		return nil
	}, sink); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for i, p := range m.Params() {
		if p.Name == "logit_scale" {
			continue
		}
		w, _ := m.Weight(p.Name)
		j := rng.IntN(len(w))
		h := float32(0.01)
		old := w[j]
		w[j] = old + h
		m.SetWeight(i, w)
		up := lossOf()
		w[j] = old - h
		m.SetWeight(i, w)
		down := lossOf()
		w[j] = old
		m.SetWeight(i, w)
		fd := (up - down) / float64(2*h)
		got := sink.g[p.Offset+int64(j)]
		if math.Abs(got-fd) > 2e-2*math.Abs(fd)+1e-3 {
			t.Errorf("%s[%d]: gradient %g, finite difference %g", p.Name, j, got, fd)
		}
	}
}
