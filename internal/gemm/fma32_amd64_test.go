//go:build amd64

package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// TestFMA32Hardware compares fma32 with the processor's VFMADD231PS, reached
// through the AVX2 kernel with kc = 1 (acc = x·1 + 0 = x for x ≠ −0, then
// c = fma(alpha, acc, c)). Tolerance: none. It covers far more inputs than
// math/big can check in the time.
func TestFMA32Hardware(t *testing.T) {
	if !hasAVX2() {
		t.Skip("no AVX2+FMA on this CPU: nothing to compare with")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	ap := make([]float32, 6)
	bp := make([]float32, 16)
	for i := range bp {
		bp[i] = 1
	}
	c := make([]float32, 96)
	want := make([]float32, 96)
	calls := 60000
	if testing.Short() || testutil.RaceEnabled {
		calls = 6000
	}
	for call := range calls {
		var alpha float32
		gen := func() float32 {
			switch rng.IntN(4) {
			case 0:
				return math.Float32frombits(rng.Uint32())
			case 1:
				return specials[rng.IntN(len(specials))]
			default:
				return float32(rng.NormFloat64())
			}
		}
		if call%2 == 0 {
			var x, y float32
			alpha, x, y = midpointCase(rng)
			ap[0], c[0] = x, y
			for i := 1; i < 6; i++ {
				ap[i] = gen()
			}
		} else {
			alpha = gen()
			for i := range ap {
				ap[i] = gen()
			}
		}
		for i := range ap {
			if ap[i] == 0 {
				ap[i] = 0 // acc is +0 for a −0 input
			}
		}
		for i := range c {
			if i != 0 || call%2 != 0 {
				c[i] = gen()
			}
			want[i] = fma32(alpha, ap[i/16], c[i])
		}
		microAVX2(1, ap, 1, 6, bp, 16, c, 16, 6, 16, alpha, 0, 1)
		for i := range c {
			if !sameFloat(c[i], want[i]) {
				t.Fatalf("fma(%g, %g, ·): hardware %g (%08x), fma32 %g (%08x)", alpha, ap[i/16], c[i], math.Float32bits(c[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
}
