package logreg

import (
	"math"
	"math/rand/v2"
)

// eps is the float64 unit roundoff, 2⁻⁵².
const eps = 0x1p-52

// float32Invisible is half the smallest positive float32 (2⁻¹⁴⁹): Q and the
// gradients are stored as float32, so a float64 error below this magnitude
// rounds away and can never be observed downstream.
const float32Invisible = 0x1p-150

// newRand returns a generator with a fixed seed, so every test is repeatable.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x74657374)) }

// maxAbs returns max(|v|) over v (0 for an empty slice).
func maxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// sameBits reports whether a and b have the same length and bitwise-equal
// elements (so -0 ≠ +0, and it is exact where == on floats would hide a
// sign-of-zero change).
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func sameBits32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// randomModel returns a model with N(0, scale²) weights and biases.
func randomModel(rng *rand.Rand, c, d int, scale float64) *Model {
	m := &Model{C: c, D: d, W: make([]float64, c*d), B: make([]float64, c)}
	for i := range m.W {
		m.W[i] = scale * rng.NormFloat64()
	}
	for i := range m.B {
		m.B[i] = scale * rng.NormFloat64()
	}
	return m
}

// randomData returns n examples with N(0, scale²) features and uniform
// labels in [0, c).
func randomData(rng *rand.Rand, n, d, c int, scale float64) *Data {
	out := &Data{N: n, D: d, X: make([]float64, n*d), Y: make([]int, n)}
	for i := range out.X {
		out.X[i] = scale * rng.NormFloat64()
	}
	for i := range out.Y {
		out.Y[i] = rng.IntN(c)
	}
	return out
}
