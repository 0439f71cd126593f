package cpu

import (
	"math"
)

// Exact GELU without math.Erfc in the common case
//
// GELU and GELUBack evaluate Φ(x) (and φ(x)) by cubic Hermite interpolation
// between nodes every 1/256 on [-4, 8), where the node values come from
// math.Erfc and math.Exp, and bound the error of the result: the
// interpolation error on the interval (h⁴/384 times the largest fourth
// derivative, from a table built with the nodes) plus the rounding of
// float64 arithmetic and of the reference evaluation itself. When every
// value within that bound of the float64 result rounds to the same float32,
// that float32 is the one the reference evaluation (v·Φ(v) with math.Erfc,
// in float64) rounds to, and it is returned; otherwise (a result within the
// bound of a float32 rounding boundary, about one in ten thousand, or an
// input outside [-4, 8), a NaN or an infinity) the reference evaluation
// runs. So the outputs are bit for bit those of the reference, at a
// fraction of its cost (TestGELUTableBitwise checks millions of inputs).

const (
	geluLo    = -4.0
	geluHi    = 8.0
	geluScale = 256 // nodes per unit
	geluNodes = int((geluHi-geluLo)*geluScale) + 1
)

// geluNode holds Φ and φ at a node x, and bounds of the interpolation error
// of Φ and of φ on the interval that starts at x.
type geluNode struct {
	cdf, pdf       float64
	errCDF, errPDF float64
}

// geluTable is built once, at package initialisation, and never written
// again.
var geluTable = buildGELUTable()

func buildGELUTable() []geluNode {
	t := make([]geluNode, geluNodes)
	for i := range t {
		x := geluLo + float64(i)/geluScale
		t[i].cdf = normCDF(x)
		t[i].pdf = normPDF(x)
	}
	const h = 1.0 / geluScale
	h4 := h * h * h * h / 384
	for i := 0; i+1 < len(t); i++ {
		x0 := geluLo + float64(i)/geluScale
		// The fourth derivatives of Φ and φ, (3x − x³)φ and
		// (x⁴ − 6x² + 3)φ, bounded over the interval by their largest
		// magnitude at 9 points, doubled.
		var d4cdf, d4pdf float64
		for k := 0; k <= 8; k++ {
			x := x0 + h*float64(k)/8
			p := normPDF(x)
			d4cdf = max(d4cdf, math.Abs((3*x-x*x*x)*p))
			d4pdf = max(d4pdf, math.Abs((x*x*x*x-6*x*x+3)*p))
		}
		// Rounding: the Hermite sum of terms at most about 1 in
		// magnitude, a few float64 roundings.
		const round = 1e-15
		t[i].errCDF = 2*h4*d4cdf + round
		t[i].errPDF = 2*h4*d4pdf + round
	}
	return t
}

// normPDF returns φ(x), the standard normal density.
func normPDF(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) }

// geluInterp returns Φ(v) and φ(v) interpolated, with bounds of their
// errors, for v in [geluLo, geluHi).
func geluInterp(v float64) (cdf, pdf, errCDF, errPDF float64) {
	u := (v - geluLo) * geluScale // exact: v is a float32
	i := int(u)
	t := u - float64(i)
	n0, n1 := &geluTable[i], &geluTable[i+1]
	x0 := geluLo + float64(i)/geluScale
	x1 := x0 + 1.0/geluScale
	t2 := t * t
	t3 := t2 * t
	h00 := 2*t3 - 3*t2 + 1
	h10 := t3 - 2*t2 + t
	h01 := -2*t3 + 3*t2
	h11 := t3 - t2
	const h = 1.0 / geluScale
	cdf = h00*n0.cdf + h10*h*n0.pdf + h01*n1.cdf + h11*h*n1.pdf
	pdf = h00*n0.pdf - h10*h*x0*n0.pdf + h01*n1.pdf - h11*h*x1*n1.pdf
	return cdf, pdf, n0.errCDF, n0.errPDF
}

// refRelErr bounds the relative error of the reference evaluation in
// float64 (math.Erfc and math.Exp are accurate to about an ulp).
const refRelErr = 1e-15

// certain returns float32(r) and true when every value within eps of r
// rounds to it.
func certain(r, eps float64) (float32, bool) {
	f := float32(r)
	return f, float32(r-eps) == f && float32(r+eps) == f
}

// geluExact returns float32(v·Φ(v)), as the reference evaluation rounds it.
func geluExact(v float64) float32 {
	if v >= geluLo && v < geluHi {
		cdf, _, errCDF, _ := geluInterp(v)
		r := v * cdf
		if f, ok := certain(r, math.Abs(v)*errCDF+math.Abs(r)*refRelErr); ok {
			return f
		}
	}
	return float32(v * normCDF(v))
}

// geluBackExact returns float32(dy·(Φ(v) + v·φ(v))), as the reference
// evaluation rounds it.
func geluBackExact(dy, v float64) float32 {
	if v >= geluLo && v < geluHi {
		cdf, pdf, errCDF, errPDF := geluInterp(v)
		d := cdf + v*pdf
		r := dy * d
		eps := math.Abs(dy)*(errCDF+math.Abs(v)*errPDF+math.Abs(d)*refRelErr) + math.Abs(r)*refRelErr
		if f, ok := certain(r, eps); ok {
			return f
		}
	}
	return float32(dy * (normCDF(v) + v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi)))
}
