package clip

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/projection"
)

// BenchmarkFeaturize measures what featurize does per train example once
// the data are decoded: forward, backward, per-example gradients of f
// against 300 negatives, and their projection to k dimensions
// (examples/s), the way featurize does it: the gradients go to the
// backend's Projection (PerExampleGradientsOnDevice), which reads them in
// place. Decoding and tokenization are measured in their packages.
func BenchmarkFeaturize(b *testing.B) {
	tiny, _ := clipmodel.Preset("tiny")
	b32, _ := clipmodel.Preset("ViT-B-32")
	for _, c := range []struct {
		name  string
		cfg   clipmodel.Config
		batch int
		k     int
	}{{"tiny", tiny, 8, 2048}, {"ViT-B-32", b32, 4, 512}, {"ViT-B-32", b32, 8, 512}, {"ViT-B-32", b32, 16, 512}} {
		b.Run(fmt.Sprintf("%s/B=%d/k=%d", c.name, c.batch, c.k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			m, err := clipmodel.New(cpu.New(0), c.cfg, func(p clipmodel.Param, dst []float32) error {
				for i := range dst {
					dst[i] = float32(0.02 * rng.NormFloat64())
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			e := c.cfg.EmbedDim
			n := 1000
			tab := Table{Image: make([]float32, n*e), Text: make([]float32, n*e), N: n, Dim: e}
			for i := range tab.Image {
				tab.Image[i], tab.Text[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			sampler := NewSampler(0, 0, n, 300)
			proj, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: c.k, NumParams: m.NumParams()}, runtime.NumCPU())
			if err != nil {
				b.Fatal(err)
			}
			acc := m.Backend().NewProjection(proj, c.batch)
			defer acc.Close()
			s, ctx := c.cfg.Vision.ImageSize, c.cfg.Text.ContextLength
			batch := clipmodel.Batch{N: c.batch, Images: make([]float32, c.batch*3*s*s), Tokens: make([]int32, c.batch*ctx)}
			for i := range batch.Images {
				batch.Images[i] = float32(rng.NormFloat64())
			}
			for bi := range c.batch {
				batch.Tokens[bi*ctx] = int32(c.cfg.Text.VocabSize - 2)
				for t := 1; t < ctx/2; t++ {
					batch.Tokens[bi*ctx+t] = int32(1 + rng.IntN(c.cfg.Text.VocabSize-3))
				}
				batch.Tokens[bi*ctx+ctx/2] = int32(c.cfg.Text.VocabSize - 1)
			}
			out := make([]float32, c.batch*c.k)
			grad := func(emb clipmodel.Embeddings, dphi, dpsi []float32) error {
				for bi := range c.batch {
					neg := sampler.Negatives(bi, bi, 0)
					Output(emb.Image[bi*e:(bi+1)*e], emb.Text[bi*e:(bi+1)*e], tab, neg, 14.3, dphi[bi*e:(bi+1)*e], dpsi[bi*e:(bi+1)*e])
				}
				return nil
			}
			b.ResetTimer()
			for range b.N {
				if _, err := m.PerExampleGradientsOnDevice(batch, grad, acc); err != nil {
					b.Fatal(err)
				}
				acc.Finish(out, c.k)
			}
			b.ReportMetric(float64(c.batch*b.N)/b.Elapsed().Seconds(), "examples/s")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapSys)/1e6, "heap-MB")
			if cb, ok := m.Backend().(*cpu.Backend); ok {
				b.ReportMetric(float64(cb.MemStats().Peak)/1e6, "tensor-peak-MB")
			}
		})
	}
}
