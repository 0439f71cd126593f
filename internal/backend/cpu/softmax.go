package cpu

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// Softmax sets each row of y to the softmax of the same row of x, for x
// and y of shape (…, T) with the same rows:
//
//	y[r, j] = exp(x[r, j] − m) / Σ_l exp(x[r, l] − m),  m = max_l x[r, l].
//
// The exponentials and their sum are computed in float64 and each
// quotient rounded once. −Inf entries come out 0; a row without a finite
// maximum (all −Inf, or any +Inf or NaN) comes out NaN.
//
// With causal, x is (…, T, T) (any number of rows that is a multiple of T)
// and row r is query position i = r mod T: its columns j > i take no part
// (their x may hold anything, NaN included) and are set to exactly 0. y
// may be x.
func (be *Backend) Softmax(y, x *backend.Tensor, causal bool) {
	const op = "Softmax"
	yd, xd := data(op, "y", y), data(op, "x", x)
	rows, t := sameMatrix(op, "y", y, "x", x)
	if causal && (t == 0 || rows%t != 0) {
		panicf(op, "causal x %v is not (…, T, T)", x)
	}
	be.split(rows, len(xd), func(lo, hi int) {
		e := make([]float64, t)
		for r := lo; r < hi; r++ {
			xr, yr := xd[r*t:(r+1)*t], yd[r*t:(r+1)*t]
			valid := t
			if causal {
				valid = r%t + 1
			}
			m := math.Inf(-1)
			for _, v := range xr[:valid] {
				m = max(m, float64(v))
			}
			var s float64
			for j, v := range xr[:valid] {
				e[j] = math.Exp(float64(v) - m)
				s += e[j]
			}
			for j := range valid {
				yr[j] = float32(e[j] / s)
			}
			clear(yr[valid:])
		}
	})
}

// SoftmaxBack sets each row of dx to the gradient through Softmax, given
// dy and Softmax's output y (all of the same rows × columns):
//
//	dx[r, j] = y[r, j]·(dy[r, j] − Σ_l dy[r, l]·y[r, l]),
//
// with the sum in float64. Where y is 0 (masked entries of a causal
// softmax) dx is 0. dx may be dy or y.
func (be *Backend) SoftmaxBack(dx, dy, y *backend.Tensor) {
	const op = "SoftmaxBack"
	dxd, dyd, yd := data(op, "dx", dx), data(op, "dy", dy), data(op, "y", y)
	rows, t := sameMatrix(op, "dx", dx, "y", y)
	sameMatrix(op, "dy", dy, "y", y)
	be.split(rows, len(yd), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, dr, out := yd[r*t:(r+1)*t], dyd[r*t:(r+1)*t], dxd[r*t:(r+1)*t]
			var s float64
			for j, v := range dr {
				s += float64(v) * float64(yr[j])
			}
			for j, v := range dr {
				out[j] = float32(float64(yr[j]) * (float64(v) - s))
			}
		}
	})
}
