package backendtest

import "math"

// The references below are deliberately plain: float64 loops that follow
// the interface's formulas index by index, sharing nothing with any
// backend. Each also returns, where a tolerance needs one, the elementwise
// magnitude the error bound is proportional to.

// gemmShape describes one Gemm call: C (batch..., m, n) =
// alpha·op(A)·op(B) + beta·C, with A (B) shared by every batch item when
// shareA (shareB).
type gemmShape struct {
	batch          []int
	m, n, k        int
	tA, tB         bool
	shareA, shareB bool
	alpha, beta    float32
}

func (g gemmShape) aShape() []int {
	d := []int{g.m, g.k}
	if g.tA {
		d = []int{g.k, g.m}
	}
	if g.shareA {
		return d
	}
	return append(append([]int{}, g.batch...), d...)
}

func (g gemmShape) bShape() []int {
	d := []int{g.k, g.n}
	if g.tB {
		d = []int{g.n, g.k}
	}
	if g.shareB {
		return d
	}
	return append(append([]int{}, g.batch...), d...)
}

func (g gemmShape) cShape() []int { return append(append([]int{}, g.batch...), g.m, g.n) }

// refGemm returns C and the magnitude |alpha|·|op(A)|·|op(B)| + |beta·C|
// elementwise. With beta = 0, C is not read.
func refGemm(g gemmShape, a, b, c []float64) (want, scale []float64) {
	batch := prod(g.batch...)
	m, n, k := g.m, g.n, g.k
	want, scale = make([]float64, batch*m*n), make([]float64, batch*m*n)
	alpha, beta := float64(g.alpha), float64(g.beta)
	for p := range batch {
		ao, bo := p*m*k, p*k*n
		if g.shareA {
			ao = 0
		}
		if g.shareB {
			bo = 0
		}
		for i := range m {
			for j := range n {
				var s, sa float64
				for l := range k {
					av := a[ao+i*k+l]
					if g.tA {
						av = a[ao+l*m+i]
					}
					bv := b[bo+l*n+j]
					if g.tB {
						bv = b[bo+j*k+l]
					}
					s += av * bv
					sa += math.Abs(av * bv)
				}
				o := (p*m+i)*n + j
				want[o], scale[o] = alpha*s, math.Abs(alpha)*sa
				if beta != 0 {
					want[o] += beta * c[o]
					scale[o] += math.Abs(beta * c[o])
				}
			}
		}
	}
	return want, scale
}

// refLayerNorm returns y, mean and rstd of LayerNorm over rows of width w,
// and κ[r] = 1 + mean_j|x[r, j]|·rstd[r], the factor by which an error in
// the mean of a row (at most ~w·u·mean|x| in float32) grows relative to
// x̂.
func refLayerNorm(x, gamma, beta []float64, rows, w int, eps float64) (y, mean, rstd, kappa []float64) {
	y = make([]float64, rows*w)
	mean, rstd, kappa = make([]float64, rows), make([]float64, rows), make([]float64, rows)
	for r := range rows {
		var s, sa float64
		for j := range w {
			s += x[r*w+j]
			sa += math.Abs(x[r*w+j])
		}
		mu := s / float64(w)
		var ss float64
		for j := range w {
			ss += (x[r*w+j] - mu) * (x[r*w+j] - mu)
		}
		rs := 1 / math.Sqrt(ss/float64(w)+eps)
		mean[r], rstd[r], kappa[r] = mu, rs, 1+sa/float64(w)*rs
		for j := range w {
			y[r*w+j] = (x[r*w+j]-mu)*rs*gamma[j] + beta[j]
		}
	}
	return y, mean, rstd, kappa
}

// refLayerNormBack returns dx, dgamma and dbeta (nb, w) from dy, x, gamma
// and the saved mean and rstd, by the formulas of the interface.
func refLayerNormBack(dy, x, gamma, mean, rstd []float64, rows, w, nb int) (dx, dgamma, dbeta []float64) {
	dx, dgamma, dbeta = make([]float64, rows*w), make([]float64, nb*w), make([]float64, nb*w)
	per := rows / nb
	for r := range rows {
		b := r / per
		var mg, mgx float64
		for j := range w {
			xh := (x[r*w+j] - mean[r]) * rstd[r]
			g := dy[r*w+j] * gamma[j]
			mg += g / float64(w)
			mgx += g * xh / float64(w)
			dgamma[b*w+j] += dy[r*w+j] * xh
			dbeta[b*w+j] += dy[r*w+j]
		}
		for j := range w {
			xh := (x[r*w+j] - mean[r]) * rstd[r]
			dx[r*w+j] = rstd[r] * (dy[r*w+j]*gamma[j] - mg - xh*mgx)
		}
	}
	return dx, dgamma, dbeta
}

// sigmoid returns σ(z) and 1 − σ(z) without cancellation.
func sigmoid(z float64) (s, sc float64) {
	if z >= 0 {
		e := math.Exp(-z)
		return 1 / (1 + e), e / (1 + e)
	}
	e := math.Exp(z)
	return e / (1 + e), 1 / (1 + e)
}

// refGELU returns act(x), act'(x), and the magnitudes of the float32
// evaluation errors of each: for the exact GELU x·Φ(x), Φ is computed to a
// few u absolutely and its argument is rounded (error φ(x)·|x|·u), so
// |δy| ≲ u·(|y| + |x|·(1 + |x|φ(x))); for QuickGELU x·σ(z), z = 1.702x,
// likewise with σ(z)σ(−z)·|z| for the argument; the derivatives similarly
// (for QuickGELU's, σ's absolute error of a few u also reaches the
// z·σ·(1−σ) term, hence a |z|).
func refGELU(x float64, quick bool) (y, d, yScale, dScale float64) {
	ax := math.Abs(x)
	if quick {
		z := 1.702 * x
		s, sc := sigmoid(z)
		y = x * s
		d = s + z*s*sc
		ds := s * sc * math.Abs(z)
		return y, d, math.Abs(y) + ax*(1+ds), math.Abs(d) + 1 + math.Abs(z) + ds*(1+math.Abs(z))
	}
	phi := math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
	cdf := math.Erfc(-x/math.Sqrt2) / 2
	y = x * cdf
	d = cdf + x*phi
	return y, d, math.Abs(y) + ax*(1+ax*phi), math.Abs(d) + 1 + ax*phi*(1+x*x)
}

// refSoftmax returns the softmax of each row of x (rows × t), causal or
// not, and the magnitude of a float32 evaluation's error: the rounding of
// x − max (error u·|x − max|, which exp turns into a relative one), the
// sum of t terms (relative t·u) and a few roundings, so
// |δy_j| ≲ u·y_j·(t + 8 + 2|x_j − m| + 2Σ_l y_l|x_l − m|). Masked entries
// and entries whose exponential underflows have scale 0: they must be 0.
func refSoftmax(x []float64, rows, t int, causal bool) (y, scale []float64) {
	y, scale = make([]float64, rows*t), make([]float64, rows*t)
	for r := range rows {
		valid := t
		if causal {
			valid = r%t + 1
		}
		row := x[r*t : r*t+valid]
		copy(y[r*t:], softmaxRow(x[r*t:(r+1)*t], valid))
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var spread float64
		for j, v := range row {
			if y[r*t+j] > 0 {
				spread += y[r*t+j] * math.Abs(v-m)
			}
		}
		for j, v := range row {
			if yj := y[r*t+j]; yj > 0 {
				scale[r*t+j] = yj * (float64(t) + 8 + 2*math.Abs(v-m) + 2*spread)
			}
		}
	}
	return y, scale
}

// softmaxRow returns the softmax of row[:valid], padded with zeros to
// len(row).
func softmaxRow(row []float64, valid int) []float64 {
	y := make([]float64, len(row))
	m := math.Inf(-1)
	for _, v := range row[:valid] {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range row[:valid] {
		s += math.Exp(v - m)
	}
	for j, v := range row[:valid] {
		y[j] = math.Exp(v-m) / s
	}
	return y
}

// refSoftmaxBack returns dx = y⊙(dy − Σ dy⊙y) row by row, and the
// magnitude y_j·(|dy_j| + Σ_l |dy_l|·y_l) that a t-term float32 sum's error
// is proportional to.
func refSoftmaxBack(dy, y []float64, rows, t int) (dx, scale []float64) {
	dx, scale = make([]float64, rows*t), make([]float64, rows*t)
	for r := range rows {
		var s, sa float64
		for j := range t {
			s += dy[r*t+j] * y[r*t+j]
			sa += math.Abs(dy[r*t+j] * y[r*t+j])
		}
		for j := range t {
			dx[r*t+j] = y[r*t+j] * (dy[r*t+j] - s)
			scale[r*t+j] = math.Abs(y[r*t+j]) * (math.Abs(dy[r*t+j]) + sa)
		}
	}
	return dx, scale
}

// refL2Normalize returns y = x/max(‖x‖, eps) and ‖x‖ row by row.
func refL2Normalize(x []float64, rows, w int, eps float64) (y, norm []float64) {
	y, norm = make([]float64, rows*w), make([]float64, rows)
	for r := range rows {
		var ss float64
		for j := range w {
			ss += x[r*w+j] * x[r*w+j]
		}
		norm[r] = math.Sqrt(ss)
		d := math.Max(norm[r], eps)
		for j := range w {
			y[r*w+j] = x[r*w+j] / d
		}
	}
	return y, norm
}

// refL2NormalizeBack returns dx from dy, y and norm by the interface's
// formula, and the magnitude (|dy_j| + |y_j|·Σ|y_l||dy_l|)/max(‖x‖, eps)
// that a w-term float32 dot product's error is proportional to.
func refL2NormalizeBack(dy, y, norm []float64, rows, w int, eps float64) (dx, scale []float64) {
	dx, scale = make([]float64, rows*w), make([]float64, rows*w)
	for r := range rows {
		if norm[r] < eps {
			for j := range w {
				dx[r*w+j] = dy[r*w+j] / eps
				scale[r*w+j] = math.Abs(dx[r*w+j])
			}
			continue
		}
		var s, sa float64
		for j := range w {
			s += y[r*w+j] * dy[r*w+j]
			sa += math.Abs(y[r*w+j] * dy[r*w+j])
		}
		for j := range w {
			dx[r*w+j] = (dy[r*w+j] - y[r*w+j]*s) / norm[r]
			scale[r*w+j] = (math.Abs(dy[r*w+j]) + math.Abs(y[r*w+j])*sa) / norm[r]
		}
	}
	return dx, scale
}

// refSplitQKV returns q, k, v (B, H, T, hd) from qkv (B, T, 3W), walking
// qkv in its own order.
func refSplitQKV(qkv []float64, nb, t, h, hd int) (q, k, v []float64) {
	w := h * hd
	out := [3][]float64{make([]float64, nb*t*w), make([]float64, nb*t*w), make([]float64, nb*t*w)}
	for b := range nb {
		for tt := range t {
			for col := range 3 * w {
				part, head, i := col/w, col%w/hd, col%hd
				out[part][((b*h+head)*t+tt)*hd+i] = qkv[(b*t+tt)*3*w+col]
			}
		}
	}
	return out[0], out[1], out[2]
}

// refMergeHeads returns (B, T, W) from (B, H, T, hd), walking the source.
func refMergeHeads(src []float64, nb, t, h, hd int) []float64 {
	dst := make([]float64, len(src))
	for b := range nb {
		for head := range h {
			for tt := range t {
				for i := range hd {
					dst[(b*t+tt)*h*hd+head*hd+i] = src[((b*h+head)*t+tt)*hd+i]
				}
			}
		}
	}
	return dst
}

// refPatchify returns (B, G², 3·P·P) patches of images (B, 3, S, S),
// walking the images pixel by pixel.
func refPatchify(img []float64, nb, s, p int) []float64 {
	g := s / p
	dst := make([]float64, len(img))
	for b := range nb {
		for c := range 3 {
			for y := range s {
				for x := range s {
					patch := (y/p)*g + x/p
					dst[(b*g*g+patch)*3*p*p+c*p*p+(y%p)*p+x%p] = img[((b*3+c)*s+y)*s+x]
				}
			}
		}
	}
	return dst
}

// dot returns Σ a_i·b_i in float64 and Σ|a_i·b_i|.
func dot(a, b []float64) (s, sa float64) {
	for i := range a {
		s += a[i] * b[i]
		sa += math.Abs(a[i] * b[i])
	}
	return s, sa
}
