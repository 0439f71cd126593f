package backendtest

import (
	"fmt"
	"math"
)

// gradEps is the relative step of the central differences: h_i =
// gradEps·s_i with s_i the typical magnitude of x's row (its RMS). In
// float64, the truncation error h²·|f”'|/6 is then ≈ 2·10⁻¹¹ and the
// cancellation error 2⁻⁵³·|f|/h ≈ 10⁻¹¹·|f| for the O(1) data used here.
const gradEps = 1e-5

// fdRel and fdNoise bound what finite differences can resolve: a
// difference from them of up to fdRel times the gradient's largest entry
// (truncation) plus fdNoise·(|f(x)| + 1)/h_i (cancellation: f is evaluated
// to a few float64 roundings, 2⁻⁵³ each, of its magnitude) is not an
// error. Both sit well above the float64 errors above and well below the
// float32 ones the tolerances allow (a few u ≈ 10⁻⁷ relative).
const (
	fdRel   = 1e-8
	fdNoise = 64.0 / (1 << 53)
)

// fdBudget bounds the work of checking every partial derivative by finite
// differences: 2·len(x) evaluations of a loss that touches cost values.
// Beyond it, one random direction is checked.
const fdBudget = 4 << 20

// fullFD reports whether every partial derivative of a loss of n inputs
// whose evaluation touches cost values is to be checked.
func fullFD(n, cost int) bool { return 2*n*cost <= fdBudget }

// rowSteps returns finite-difference steps for x (rows × w): gradEps times
// the RMS of each row (0, no check, for a row of zeros).
func rowSteps(x []float64, rows, w int) []float64 {
	h := make([]float64, rows*w)
	for r := range rows {
		var ss float64
		for j := range w {
			ss += x[r*w+j] * x[r*w+j]
		}
		rms := math.Sqrt(ss / float64(w))
		for j := range w {
			h[r*w+j] = gradEps * rms
		}
	}
	return h
}

// fdGrad returns (f(x + h_i·e_i) − f(x − h_i·e_i))/2h_i for each i, NaN
// where h_i = 0.
func fdGrad(f func([]float64) float64, x, h []float64) []float64 {
	g := make([]float64, len(x))
	xp := append([]float64(nil), x...)
	for i := range x {
		if h[i] == 0 {
			g[i] = math.NaN()
			continue
		}
		xp[i] = x[i] + h[i]
		fp := f(xp)
		xp[i] = x[i] - h[i]
		fm := f(xp)
		xp[i] = x[i]
		g[i] = (fp - fm) / (2 * h[i])
	}
	return g
}

// fdDir returns the derivative of f at x along v (scaled by the steps h):
// (f(x + h⊙v) − f(x − h⊙v))/2, which approximates Σ_i h_i·v_i·∂f/∂x_i.
func fdDir(f func([]float64) float64, x, h, v []float64) float64 {
	xp, xm := make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		xp[i], xm[i] = x[i]+h[i]*v[i], x[i]-h[i]*v[i]
	}
	return (f(xp) - f(xm)) / 2
}

// checkGrad checks a backend gradient got (float32) of the scalar loss f
// at x against finite differences, with the same per-element tolerance
// tol·scale as the analytic check plus fdRel of the largest partial
// derivative. With ref, the analytic float64 reference gradient, it first
// checks that the reference itself agrees with finite differences (a
// failure there is a fault of this suite). With full, every partial
// derivative is checked; otherwise the one along dir. It reports whether
// the check passed.
func checkGrad(r reporter, what string, f func([]float64) float64, x, h []float64, got []float32, ref, scale []float64, tol float64, dir []float64, full bool) bool {
	r.Helper()
	noise := fdNoise * (math.Abs(f(x)) + 1)
	if full {
		fd := fdGrad(f, x, h)
		var big float64
		for _, v := range fd {
			if !math.IsNaN(v) {
				big = math.Max(big, math.Abs(v))
			}
		}
		for i, v := range fd {
			if math.IsNaN(v) {
				continue
			}
			slack := fdRel*big + noise/h[i]
			if ref != nil && !(math.Abs(ref[i]-v) <= slack) {
				r.Errorf("%s: reference gradient [%d] = %g but finite differences give %g (suite bug)", what, i, ref[i], v)
				return false
			}
			if d := math.Abs(float64(got[i]) - v); !(d <= tol*scale[i]+slack) {
				r.Errorf("%s: [%d] = %g, finite differences give %g (error %.3g, bound %.3g)", what, i, got[i], v, d, tol*scale[i]+slack)
				return false
			}
		}
		return true
	}
	want := fdDir(f, x, h, dir)
	var s, bound, big float64
	for i := range x {
		s += float64(got[i]) * h[i] * dir[i]
		bound += tol * scale[i] * math.Abs(h[i]*dir[i])
		big += math.Abs(float64(got[i]) * h[i] * dir[i])
	}
	slack := fdRel*big + noise
	bound += slack
	if ref != nil {
		var rs float64
		for i := range x {
			rs += ref[i] * h[i] * dir[i]
		}
		if !(math.Abs(rs-want) <= slack) {
			r.Errorf("%s: reference directional derivative %g but finite differences give %g (suite bug)", what, rs, want)
			return false
		}
	}
	if d := math.Abs(s - want); !(d <= bound) {
		r.Errorf("%s: directional derivative %g, finite differences give %g (error %.3g, bound %.3g)", what, s, want, d, bound)
		return false
	}
	return true
}

// checkRows applies checkGrad row by row to a row-wise kernel's gradient
// (x, h, got, ref, scale, dir all rows × w), with loss(i) the loss of row
// i: every partial derivative of the first fullRows rows, and the
// directional derivative of the others. It stops at the first failing row.
func checkRows(r reporter, what string, rows, w, fullRows int, loss func(i int) func([]float64) float64, x, h []float64, got []float32, ref, scale []float64, tol float64, dir []float64) {
	r.Helper()
	for i := range rows {
		lo, hi := i*w, (i+1)*w
		if !checkGrad(r, fmt.Sprintf("%s, row %d", what, i), loss(i), x[lo:hi], h[lo:hi], got[lo:hi], ref[lo:hi], scale[lo:hi], tol, dir[lo:hi], i < fullRows) {
			return
		}
	}
}

// weighted returns the loss Σ w_i·y_i of an output y.
func weighted(w, y []float64) float64 {
	var s float64
	for i := range w {
		s += w[i] * y[i]
	}
	return s
}

// name formats a case name.
func name(format string, args ...any) string { return fmt.Sprintf(format, args...) }
