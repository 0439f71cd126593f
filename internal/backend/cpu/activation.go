package cpu

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// quickGELUScale is QuickGELU's sigmoid slope.
const quickGELUScale = 1.702

// GELU sets y = act(x) elementwise, for x and y of the same length:
//
//	exact (quick = false): act(x) = x·Φ(x) = x·erfc(−x/√2)/2,
//	quick:                 act(x) = x·σ(1.702·x),
//
// evaluated in float64 and rounded. Φ is computed with math.Erfc rather
// than (1 + erf)/2 so that the far negative tail keeps its relative
// accuracy, and σ without overflow for either sign. y may be x. The exact
// GELU takes a faster route to the same float32 values (gelu_table.go).
func (be *Backend) GELU(y, x *backend.Tensor, quick bool) {
	yd, xd := data("GELU", "y", y), data("GELU", "x", x)
	sameLen("GELU", "y", y, "x", x)
	be.split(len(xd), len(xd), func(lo, hi int) {
		if quick {
			for i := lo; i < hi; i++ {
				v := float64(xd[i])
				s, _ := sigmoid(quickGELUScale * v)
				yd[i] = float32(v * s)
			}
			return
		}
		for i := lo; i < hi; i++ {
			yd[i] = geluExact(float64(xd[i]))
		}
	})
}

// GELUBack sets dx = dy·act'(x) elementwise, for dx, dy and x of the same
// length:
//
//	exact: act'(x) = Φ(x) + x·φ(x),  φ(x) = exp(−x²/2)/√(2π),
//	quick: act'(x) = σ(z) + 1.702·x·σ(z)·σ(−z),  z = 1.702·x,
//
// in float64. dx may be dy or x.
func (be *Backend) GELUBack(dx, dy, x *backend.Tensor, quick bool) {
	dxd, dyd, xd := data("GELUBack", "dx", dx), data("GELUBack", "dy", dy), data("GELUBack", "x", x)
	sameLen("GELUBack", "dx", dx, "x", x)
	sameLen("GELUBack", "dy", dy, "x", x)
	be.split(len(xd), len(xd), func(lo, hi int) {
		if quick {
			for i := lo; i < hi; i++ {
				v := float64(xd[i])
				s, sc := sigmoid(quickGELUScale * v)
				dxd[i] = float32(float64(dyd[i]) * (s + quickGELUScale*v*s*sc))
			}
			return
		}
		for i := lo; i < hi; i++ {
			dxd[i] = geluBackExact(float64(dyd[i]), float64(xd[i]))
		}
	})
}

// normCDF returns Φ(x), the standard normal distribution function.
func normCDF(x float64) float64 { return math.Erfc(-x/math.Sqrt2) / 2 }

// sigmoid returns σ(z) = 1/(1 + e^−z) and σ(−z) = 1 − σ(z), each computed
// without cancellation or overflow.
func sigmoid(z float64) (s, sc float64) {
	if z >= 0 {
		e := math.Exp(-z)
		return 1 / (1 + e), e / (1 + e)
	}
	e := math.Exp(z)
	return e / (1 + e), 1 / (1 + e)
}
