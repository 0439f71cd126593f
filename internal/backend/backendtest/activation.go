package backendtest

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// geluInput returns n values from N(0, 3²) with, at the front, values in
// the tails and around 0 (no infinities, where GELU is not specified).
func geluInput(key string, n int) []float32 {
	x := normal(rng(key), n, 0, 3)
	copy(x, []float32{0, 1e-20, -1e-20, 0.5, -0.5, 5, -5, 10, -10, -20, -40, 40, 88, -88, 1e4, -1e4})
	return x
}

// testGELU checks both activations against refGELU with tolerance 8·u
// times its error magnitude (a few roundings of y, and of Φ or σ and their
// argument, times |x|).
func testGELU(r reporter, b backend.Backend) {
	for _, quick := range []bool{false, true} {
		for _, n := range lengths {
			r.Run(name("quick=%t,n=%d", quick, n), func(r reporter) {
				x := geluInput(name("GELU/%t/%d", quick, n), n)
				tx, ty := b.Upload(x, n), b.New(n)
				defer freeAll(b, tx, ty)
				b.GELU(ty, tx, quick)
				want, scale := make([]float64, n), make([]float64, n)
				for i, v := range x {
					want[i], _, scale[i], _ = refGELU(float64(v), quick)
				}
				compare(r, "y", download(b, ty), want, scale, 8*u)
			})
		}
	}
}

// testGELUBack checks dx = dy·act'(x) against refGELU's derivative with
// tolerance 8·u times |dy| times its error magnitude, and against central
// differences of the float64 activation, element by element (the loss
// Σ dy⊙act(x) is separable), with steps gradEps·max(1, |x|).
func testGELUBack(r reporter, b backend.Backend) {
	for _, quick := range []bool{false, true} {
		for _, n := range lengths {
			r.Run(name("quick=%t,n=%d", quick, n), func(r reporter) {
				x := geluInput(name("GELUBack/%t/%d", quick, n), n)
				dy := normal(rng(name("GELUBack/dy/%t/%d", quick, n)), n, 0, 1)
				tx, tdy, tdx := b.Upload(x, n), b.Upload(dy, n), b.New(n)
				defer freeAll(b, tx, tdy, tdx)
				b.GELUBack(tdx, tdy, tx, quick)
				dx := download(b, tdx)
				want, scale, fd := make([]float64, n), make([]float64, n), make([]float64, n)
				for i, v := range x {
					xv, g := float64(v), float64(dy[i])
					_, d, _, ds := refGELU(xv, quick)
					want[i], scale[i] = g*d, math.Abs(g)*ds
					h := gradEps * math.Max(1, math.Abs(xv))
					yp, _, _, _ := refGELU(xv+h, quick)
					ym, _, _, _ := refGELU(xv-h, quick)
					fd[i] = (yp - ym) / (2 * h)
					if dd := math.Abs(fd[i] - d); dd > fdRel*math.Max(1, math.Abs(d)) {
						r.Errorf("reference act'(%g) = %g but finite differences give %g (suite bug)", xv, d, fd[i])
						return
					}
					fd[i] *= g
				}
				if compare(r, "dx", dx, want, scale, 8*u) {
					// Finite differences agree with the reference to fdRel.
					for i := range scale {
						scale[i] += fdRel / (8 * u) * math.Abs(float64(dy[i]))
					}
					compare(r, "dx by finite differences", dx, fd, scale, 8*u)
				}
			})
		}
	}
}
