package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// benchShapes are the products trak performs most, plus square references.
var benchShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"square1024", false, false, 1024, 1024, 1024},
	{"square256", false, false, 256, 256, 256},
	{"attn50x64x50", false, true, 50, 50, 64},
	{"attnV50x50x64", false, false, 50, 64, 50},
	{"wgrad768x768k50", true, false, 768, 768, 50},
	{"wgrad768x768k77", true, false, 768, 768, 77},
	{"linear400x3072x768", false, true, 400, 3072, 768},
	{"proj16x128x64", false, false, 16, 128, 64},
}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, k := range Available() {
			g, err := New(k, 0)
			if err != nil {
				b.Fatal(err)
			}
			if k == Generic && s.m*s.n*s.k > 1<<25 {
				continue // seconds per iteration; it is the fallback, not a target
			}
			b.Run(fmt.Sprintf("%s/%s", s.name, k), func(b *testing.B) {
				benchOne(b, g, s.tA, s.tB, s.m, s.n, s.k)
			})
		}
	}
}

// benchOne reports the mean rate (GFLOP/s) and the rate of the fastest
// iteration (best-GFLOP/s): on a machine shared with other work the mean
// mostly measures the other work.
func benchOne(b *testing.B, g *Gemm, tA, tB bool, m, n, k int) {
	rng := rand.New(rand.NewPCG(3, 4))
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	a := randSlice(rng, m*k)
	bb := randSlice(rng, k*n)
	c := make([]float32, m*n)
	g.Sgemm(tA, tB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	best := time.Duration(math.MaxInt64)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		g.Sgemm(tA, tB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
		best = min(best, time.Since(t0))
	}
	flop := 2 * float64(m) * float64(n) * float64(k)
	b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flop/best.Seconds()/1e9, "best-GFLOP/s")
}

// BenchmarkGonum1024 is the in-run baseline: what trak used before.
func BenchmarkGonum1024(b *testing.B) {
	const n = 1024
	rng := rand.New(rand.NewPCG(3, 4))
	a := blas32.General{Rows: n, Cols: n, Stride: n, Data: randSlice(rng, n*n)}
	bb := blas32.General{Rows: n, Cols: n, Stride: n, Data: randSlice(rng, n*n)}
	c := blas32.General{Rows: n, Cols: n, Stride: n, Data: make([]float32, n*n)}
	best := time.Duration(math.MaxInt64)
	for b.Loop() {
		t0 := time.Now()
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, bb, 0, c)
		best = min(best, time.Since(t0))
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(2*n*n*n/best.Seconds()/1e9, "best-GFLOP/s")
}

// BenchmarkSgemmBatchAttention is one attention layer's score products for a
// batch of 4 images: 48 heads of 50×64×50 (QKᵀ), spread over the threads.
func BenchmarkSgemmBatchAttention(b *testing.B) {
	const heads, m, n, k = 48, 50, 50, 64
	rng := rand.New(rand.NewPCG(5, 6))
	g, err := New(Best(), 0)
	if err != nil {
		b.Fatal(err)
	}
	ps := make([]Product, heads)
	for i := range ps {
		ps[i] = Product{TB: true, M: m, N: n, K: k, Alpha: 1, A: randSlice(rng, m*k), LDA: k, B: randSlice(rng, n*k), LDB: k, C: make([]float32, m*n), LDC: n}
	}
	g.SgemmBatch(ps)
	best := time.Duration(math.MaxInt64)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		g.SgemmBatch(ps)
		best = min(best, time.Since(t0))
	}
	flop := 2 * float64(heads*m*n*k)
	b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flop/best.Seconds()/1e9, "best-GFLOP/s")
}
