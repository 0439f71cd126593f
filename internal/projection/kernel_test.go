package projection

import (
	"fmt"
	"math"
	"testing"

	"github.com/trak-dev/trak/internal/gemm"
)

// TestAccumulatorKernels: the dense kinds' features are the same bits with
// every GEMM kernel this CPU runs (tolerance 0: the package documentation
// defines each partial element by element, and internal/gemm's kernels all
// compute that definition), and they agree with a float64 evaluation of
// Σ_r g[r]·P[r, c] to within the float32 partials' rounding.
func TestAccumulatorKernels(t *testing.T) {
	const p, k, batch = 3*BlockRows + 77, 300, 5
	grads := make([][]float32, batch)
	ids := make([]int, batch)
	for i := range grads {
		grads[i], ids[i] = exampleGrad(40+i, p), i
	}
	g := batchOf(ids, grads, p, p)
	for _, kind := range []Kind{Rademacher, Normal} {
		pr := mustNew(t, Spec{Kind: kind, Dim: k, Seed: 5, ModelID: 1, NumParams: p}, 2)
		run := func(kernel gemm.Kernel) []float32 {
			a := pr.NewAccumulatorKernel(batch, kernel)
			defer a.Close()
			for off := 0; off < p; off += 1000 {
				a.Add(int64(off), min(1000, p-off), g[off:], p)
			}
			out := make([]float32, batch*k)
			a.Finish(out, k)
			return out
		}
		want := run(gemm.Generic)
		for _, kernel := range gemm.Available() {
			t.Run(fmt.Sprintf("%s/%s", kind, kernel), func(t *testing.T) {
				if i := sameBits(run(kernel), want); i >= 0 {
					t.Errorf("feature %d differs from the generic kernel's", i)
				}
			})
		}
		// Each float32 partial of R = 512 terms is within 512·2⁻²⁴·Σ|g·P|
		// of its exact value (the exact sum of the partials adds nothing),
		// so the feature is within that of the float64 sum, plus its own
		// rounding.
		for b := range batch {
			for c := 0; c < k; c += 37 {
				var sum, abs float64
				for r := range p {
					e := float64(grads[b][r]) * float64(pr.Entry(int64(r), c))
					sum += e
					abs += math.Abs(e)
				}
				if got := float64(want[b*k+c]); math.Abs(got-sum) > BlockRows*0x1p-24*abs+0x1p-24*math.Abs(sum) {
					t.Errorf("%s: feature [%d, %d] = %g, float64 sum %g (Σ|terms| %g)", kind, b, c, got, sum, abs)
				}
			}
		}
	}
}
