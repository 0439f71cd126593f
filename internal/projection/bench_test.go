package projection

import (
	"fmt"
	"runtime"
	"testing"
)

// benchProject projects batches of B examples of p parameters to k
// dimensions, adding the gradient in slices of 65,536 parameters (a layer at
// a time, as the model delivers it), and reports parameters per second (p per
// batch), example-parameters per second (p·B) and the GEMM rate.
func benchProject(b *testing.B, kind Kind, p, k, batch int) {
	workers := runtime.GOMAXPROCS(0)
	pr, err := New(Spec{Kind: kind, Dim: k, Seed: 1, NumParams: int64(p)}, workers)
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 1 << 16
	g := make([]float32, batch*chunk)
	copy(g, exampleGrad(1, len(g)))
	out := make([]float32, batch*k)
	a := pr.NewAccumulator(batch)
	defer a.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < p; off += chunk {
			a.Add(int64(off), min(chunk, p-off), g, chunk)
		}
		a.Finish(out, k)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(p)*float64(b.N)/sec, "params/s")
	b.ReportMetric(float64(p)*float64(batch)*float64(b.N)/sec, "example-params/s")
	b.ReportMetric(2*float64(p)*float64(k)*float64(batch)*float64(b.N)/sec/1e9, "GFLOP/s")
}

func BenchmarkProjectRademacherSmall(b *testing.B) {
	benchProject(b, Rademacher, 1<<17, 512, 8)
}

func BenchmarkProjectRademacherMedium(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("B=%d", batch), func(b *testing.B) {
			benchProject(b, Rademacher, 1<<19, 2048, batch)
		})
	}
}

func BenchmarkProjectNormal(b *testing.B) {
	benchProject(b, Normal, 1<<17, 512, 8)
}

// BenchmarkGenerate measures generating P alone, in entries per second on
// one goroutine.
func BenchmarkGenerate(b *testing.B) {
	for _, kind := range []Kind{Rademacher, Normal} {
		b.Run(string(kind), func(b *testing.B) {
			pr, err := New(Spec{Kind: kind, Dim: groupCols, Seed: 1, NumParams: 1 << 40}, 1)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, BlockRows*groupCols)
			var row int64
			for i := 0; i < b.N; i++ {
				pr.fillGroup(dst, groupCols, row, BlockRows, 0, groupCols)
				row += BlockRows
			}
			b.ReportMetric(float64(BlockRows*groupCols)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
