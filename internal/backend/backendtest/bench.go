package backendtest

import (
	"testing"

	"github.com/trak-dev/trak/internal/backend"
)

// GemmBench is a Gemm to measure: C (Batch, M, N) = op(A)·op(B), with A
// (B) shared by the batch when ShareA (ShareB). Batch 0 means no batch
// dimension.
type GemmBench struct {
	Batch, M, N, K int
	TA, TB         bool
	ShareA, ShareB bool
}

// CLIP-like Gemm sizes (ViT-B: width 768, MLP 3072; 16 examples of 50
// tokens).
var (
	// GemmLinear is an MLP layer on a batch's tokens: (16·50, 768) ×
	// (768, 3072).
	GemmLinear = GemmBench{M: 16 * 50, N: 3072, K: 768}
	// GemmLinearT is the same with the weight stored (out, in), as the
	// model does: (16·50, 768) × (3072, 768)ᵀ.
	GemmLinearT = GemmBench{M: 16 * 50, N: 3072, K: 768, TB: true}
	// GemmPerExampleWeight is the per-example gradient of that layer's
	// weight: 16 × (3072×50)·(50×768), i.e. dYᵀ·X per example.
	GemmPerExampleWeight = GemmBench{Batch: 16, M: 3072, N: 768, K: 50, TA: true}
	// GemmAttention is the attention scores of 16 examples of 12 heads:
	// (16·12) × (50×64)·(64×50).
	GemmAttention = GemmBench{Batch: 16 * 12, M: 50, N: 50, K: 64, TB: true}
)

// BenchGemm measures g on be and reports GFLOP/s (2·Batch·M·N·K per op).
func BenchGemm(b *testing.B, be backend.Backend, g GemmBench) {
	gs := gemmShape{m: g.M, n: g.N, k: g.K, tA: g.TA, tB: g.TB, shareA: g.ShareA, shareB: g.ShareB, alpha: 1}
	batch := max(g.Batch, 1)
	if g.Batch > 0 {
		gs.batch = []int{g.Batch}
	}
	rg := rng("BenchGemm")
	ta, tb, tc := be.Upload(normal(rg, prod(gs.aShape()...), 0, 1), gs.aShape()...), be.Upload(normal(rg, prod(gs.bShape()...), 0, 1), gs.bShape()...), be.New(gs.cShape()...)
	defer freeAll(be, ta, tb, tc)
	be.Gemm(g.TA, g.TB, 1, ta, tb, 0, tc) // warm up
	b.ResetTimer()
	for b.Loop() {
		be.Gemm(g.TA, g.TB, 1, ta, tb, 0, tc)
	}
	flops := 2 * float64(batch) * float64(g.M) * float64(g.N) * float64(g.K)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchRowOps measures the row kernels at CLIP-like sizes (16 examples of
// 50 tokens, width 768, MLP 3072, 12 heads) and reports each one's
// throughput in millions of elements per second, as sub-benchmarks.
func BenchRowOps(b *testing.B, be backend.Backend) {
	const n, w, mlp, heads, t = 16 * 50, 768, 3072, 12, 50
	rg := rng("BenchRowOps")
	x, y, dy := be.Upload(normal(rg, n*w, 0, 1), n, w), be.New(n, w), be.Upload(normal(rg, n*w, 0, 1), n, w)
	gamma, beta, mean, rstd := be.Upload(normal(rg, w, 1, 0.5), w), be.New(w), be.New(n), be.New(n)
	dg, db := be.New(16, w), be.New(16, w)
	f, a := be.Upload(normal(rg, n*mlp, 0, 1), n, mlp), be.New(n, mlp)
	s, p, ds := be.Upload(normal(rg, 16*heads*t*t, 0, 1), 16*heads, t, t), be.New(16*heads, t, t), be.New(16*heads, t, t)
	defer freeAll(be, x, y, dy, gamma, beta, mean, rstd, dg, db, f, a, s, p, ds)
	be.LayerNorm(y, mean, rstd, x, gamma, beta, 1e-5)
	be.Softmax(p, s, true)
	for _, c := range []struct {
		name  string
		elems int
		f     func()
	}{
		{"LayerNorm", n * w, func() { be.LayerNorm(y, mean, rstd, x, gamma, beta, 1e-5) }},
		{"LayerNormBack", n * w, func() { be.LayerNormBack(y, dg, db, dy, x, gamma, mean, rstd) }},
		{"GELU", n * mlp, func() { be.GELU(a, f, false) }},
		{"QuickGELU", n * mlp, func() { be.GELU(a, f, true) }},
		{"GELUBack", n * mlp, func() { be.GELUBack(a, f, f, false) }},
		{"SoftmaxCausal", 16 * heads * t * t, func() { be.Softmax(p, s, true) }},
		{"SoftmaxBack", 16 * heads * t * t, func() { be.SoftmaxBack(ds, s, p) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f()
			}
			b.ReportMetric(float64(c.elems)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
		})
	}
}
