package gemm

import "math"

// fusedFMA reports whether the Generic kernel may write its fused
// multiply-add as the float32 expression x*y + z: the compiler must fuse it
// (compilerFuses) and the result must be fma32's on inputs where one
// rounding and two differ. It is computed once; it changes speed only,
// since both ways compute fma32.
var fusedFMA = compilerFuses && fusedAgrees()

// mulAdd is x*y + z in the very form the Generic kernel's inner loop uses.
//
//go:noinline
func mulAdd(x, y, z float32) float32 { return x*y + z }

func fusedAgrees() bool {
	// (1 + 2⁻²³)² = 1 + 2⁻²² + 2⁻⁴⁶: rounded alone the product loses 2⁻⁴⁶,
	// so minus (1 + 2⁻²²) it is 0 unfused and 2⁻⁴⁶ fused. The other cases
	// are a double-rounding midpoint and signed zeros.
	cases := [][3]float32{
		{1 + 0x1p-23, 1 + 0x1p-23, -(1 + 0x1p-22)},
		{1 + 0x1p-23, 1 - 0x1p-23, -1},
		{0x1p-75, 0x1p-75, 1},
		{float32(math.Copysign(0, -1)), 1, 0},
		{3, 1.0 / 3, -1},
		{0x1.fffffep+127, 2, -0x1.fffffep+127},
	}
	for _, c := range cases {
		if got, want := mulAdd(c[0], c[1], c[2]), fma32Slow(c[0], c[1], c[2]); got != want || (got == 0 && (1/got > 0) != (1/want > 0)) {
			return false
		}
	}
	return true
}
