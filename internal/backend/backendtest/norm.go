package backendtest

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// lnEps is the LayerNorm epsilon of the cases (the CLIP model's).
const lnEps = 1e-5

// lnCase is a LayerNorm input: nb examples of per rows of width w, drawn
// from N(offset, sd²), and optionally constant rows.
type lnCase struct {
	nb, per, w  int
	offset, sd  float64
	constRows   bool
	description string
}

var lnCases = []lnCase{
	{nb: 1, per: 1, w: 1, sd: 1},
	{nb: 1, per: 1, w: 2, sd: 1},
	{nb: 2, per: 3, w: 5, sd: 1},
	{nb: 3, per: 1, w: 63, sd: 2},
	{nb: 1, per: 2, w: 64, sd: 1},
	{nb: 5, per: 1, w: 65, sd: 0.5},
	{nb: 3, per: 4, w: 64, sd: 1},
	{nb: 2, per: 5, w: 65, sd: 1},
	{nb: 1, per: 7, w: 33, sd: 1},
	{nb: 2, per: 2, w: 768, offset: 3, sd: 1, description: "offset"},
	{nb: 2, per: 4, w: 33, sd: 1, constRows: true, description: "constant rows"},
	{nb: 2, per: 50, w: 63, sd: 1},
	{nb: 2, per: 65, w: 520, sd: 1, description: "large"},
}

// input returns x, gamma and beta for the case.
func (c lnCase) input(key string) (x, gamma, beta []float32) {
	g := rng(key)
	rows := c.nb * c.per
	x = normal(g, rows*c.w, c.offset, c.sd)
	if c.constRows {
		// Row 0 all 0.75 (whose sums are exact in any order, so that
		// every implementation finds variance 0), row 1 all 0.
		for j := range c.w {
			x[j], x[c.w+j] = 0.75, 0
		}
	}
	return x, normal(g, c.w, 1, 0.5), normal(g, c.w, 0, 0.5)
}

func (c lnCase) String() string {
	s := name("B=%d,R=%d,W=%d", c.nb, c.per, c.w)
	if c.description != "" {
		s += " " + c.description
	}
	return s
}

// testLayerNorm checks y, mean and rstd. A float32 two-pass (or Welford)
// implementation errs in the mean by ≲ W·u·mean|x|, which shifts x̂ by
// that times rstd (the factor κ = 1 + mean|x|·rstd of refLayerNorm), and
// in the variance by ≲ W·u relatively; so the tolerance is (W+8)·u times
// |gamma|·(|x̂| + 1)·κ + |beta| for y, mean|x| for mean and rstd·κ for
// rstd. A constant row has variance 0, so y = beta there.
func testLayerNorm(r reporter, b backend.Backend) {
	for _, c := range lnCases {
		r.Run(c.String(), func(r reporter) {
			rows, w := c.nb*c.per, c.w
			x, gamma, beta := c.input("LayerNorm/" + c.String())
			tx, tg, tb := b.Upload(x, rows, w), b.Upload(gamma, w), b.Upload(beta, w)
			ty, tm, ts := b.New(rows, w), b.New(rows), b.New(rows)
			defer freeAll(b, tx, tg, tb, ty, tm, ts)
			b.LayerNorm(ty, tm, ts, tx, tg, tb, lnEps)
			y, mean, rstd, kappa := refLayerNorm(f64(x), f64(gamma), f64(beta), rows, w, lnEps)
			ys, ms, rs := make([]float64, rows*w), make([]float64, rows), make([]float64, rows)
			for i := range rows {
				var sa float64
				for j := range w {
					xh := (float64(x[i*w+j]) - mean[i]) * rstd[i]
					ys[i*w+j] = math.Abs(float64(gamma[j]))*(math.Abs(xh)+1)*kappa[i] + math.Abs(float64(beta[j]))
					sa += math.Abs(float64(x[i*w+j]))
				}
				ms[i], rs[i] = sa/float64(w), rstd[i]*kappa[i]
			}
			tol := float64(w+8) * u
			compare(r, "y", download(b, ty), y, ys, tol)
			compare(r, "mean", download(b, tm), mean, ms, tol)
			compare(r, "rstd", download(b, ts), rstd, rs, tol)
		})
	}
}

// testLayerNormBack checks dx, dgamma and dbeta, given the saved mean and
// rstd (the reference's, rounded to float32), against refLayerNormBack and
// against finite differences of L = Σ dy⊙LayerNorm(x) (for dgamma and
// dbeta of example b, of the part of L on example b's rows). Tolerances:
// dx's row means are W-term sums, so (W+8)·u·κ·rstd·(|g| + mean|g| +
// |x̂|·mean|g·x̂|), g = dy·gamma, κ = 1 + |mean|·rstd bounding the effect of
// rounding the saved mean; dgamma and dbeta are R-term sums over the
// example's rows, so (R+4)·u·Σ_r |dy|·(|x̂| + |mean|·rstd) and
// (R+2)·u·Σ_r |dy|.
func testLayerNormBack(r reporter, b backend.Backend) {
	for _, c := range lnCases {
		r.Run(c.String(), func(r reporter) {
			nb, per, w := c.nb, c.per, c.w
			rows := nb * per
			x, gamma, beta := c.input("LayerNormBack/" + c.String())
			dy := normal(rng("LayerNormBack/dy/"+c.String()), rows*w, 0, 1)
			xf, gf, bf, dyf := f64(x), f64(gamma), f64(beta), f64(dy)
			_, mean, rstd, _ := refLayerNorm(xf, gf, bf, rows, w, lnEps)
			mean32, rstd32 := f32(mean), f32(rstd)
			tx, tg, tdy := b.Upload(x, rows, w), b.Upload(gamma, w), b.Upload(dy, rows, w)
			tm, ts := b.Upload(mean32, rows), b.Upload(rstd32, rows)
			tdx, tdg, tdb := b.New(rows, w), b.Upload(filled(nb*w, float32(math.NaN())), nb, w), b.New(nb, w)
			defer freeAll(b, tx, tg, tdy, tm, ts, tdx, tdg, tdb)
			b.LayerNormBack(tdx, tdg, tdb, tdy, tx, tg, tm, ts)
			dx, dgamma, dbeta := download(b, tdx), download(b, tdg), download(b, tdb)

			mf, rf := f64(mean32), f64(rstd32)
			rdx, rdg, rdb := refLayerNormBack(dyf, xf, gf, mf, rf, rows, w, nb)
			dxs, dgs, dbs := make([]float64, rows*w), make([]float64, nb*w), make([]float64, nb*w)
			for i := range rows {
				var mg, mgx float64
				for j := range w {
					xh := (xf[i*w+j] - mf[i]) * rf[i]
					mg += math.Abs(dyf[i*w+j]*gf[j]) / float64(w)
					mgx += math.Abs(dyf[i*w+j]*gf[j]*xh) / float64(w)
				}
				kappa := 1 + math.Abs(mf[i])*rf[i]
				for j := range w {
					xh := (xf[i*w+j] - mf[i]) * rf[i]
					dxs[i*w+j] = kappa * rf[i] * (math.Abs(dyf[i*w+j]*gf[j]) + mg + math.Abs(xh)*mgx)
					dgs[i/per*w+j] += math.Abs(dyf[i*w+j]) * (math.Abs(xh) + math.Abs(mf[i])*rf[i])
					dbs[i/per*w+j] += math.Abs(dyf[i*w+j])
				}
			}
			tolX, tolG, tolB := float64(w+8)*u, float64(per+4)*u, float64(per+2)*u
			compare(r, "dx", dx, rdx, dxs, tolX)
			compare(r, "dgamma", dgamma, rdg, dgs, tolG)
			compare(r, "dbeta", dbeta, rdb, dbs, tolB)
			if c.constRows {
				// rstd = 1/√eps makes the loss too curved for the steps.
				return
			}

			// Finite differences see the exact forward pass, so the
			// reference they check is the one from the unrounded mean and
			// rstd; the backend's difference from it (the rounding of the
			// saved values) is within κ of the tolerances.
			edx, edg, edb := refLayerNormBack(dyf, xf, gf, mean, rstd, rows, w, nb)
			loss := func(x []float64) float64 {
				y, _, _, _ := refLayerNorm(x, gf, bf, rows, w, lnEps)
				return weighted(dyf, y)
			}
			dir := f64(normal(rng("LayerNormBack/dir/"+c.String()), rows*w, 0, 1))
			checkGrad(r, "dx by finite differences", loss, xf, rowSteps(xf, rows, w), dx, edx, dxs, tolX, dir, fullFD(rows*w, rows*w))
			for ex := range nb {
				// L_b as a function of gamma, then of beta.
				mask := make([]float64, rows*w)
				copy(mask[ex*per*w:(ex+1)*per*w], dyf[ex*per*w:(ex+1)*per*w])
				lg := func(g []float64) float64 {
					y, _, _, _ := refLayerNorm(xf, g, bf, rows, w, lnEps)
					return weighted(mask, y)
				}
				lb := func(bb []float64) float64 {
					y, _, _, _ := refLayerNorm(xf, gf, bb, rows, w, lnEps)
					return weighted(mask, y)
				}
				vdir := f64(normal(rng(name("LayerNormBack/vdir/%d/%s", ex, c)), w, 0, 1))
				h := rowSteps(gf, 1, w)
				checkGrad(r, name("dgamma[%d] by finite differences", ex), lg, gf, h, dgamma[ex*w:(ex+1)*w], edg[ex*w:(ex+1)*w], dgs[ex*w:(ex+1)*w], tolG, vdir, fullFD(w, rows*w))
				checkGrad(r, name("dbeta[%d] by finite differences", ex), lb, bf, h, dbeta[ex*w:(ex+1)*w], edb[ex*w:(ex+1)*w], dbs[ex*w:(ex+1)*w], tolB, vdir, fullFD(w, rows*w))
			}
		})
	}
}

// l2Eps is the L2 normalisation epsilon of the cases (the CLIP model's).
const l2Eps = 1e-12

// l2Input returns rows × w values with, when special, row 0 zero and row 1
// so small that its norm is below l2Eps.
func l2Input(key string, rows, w int, special bool) []float32 {
	x := normal(rng(key), rows*w, 0, 1)
	if special {
		for j := range w {
			x[j] = 0
			x[w+j] *= 1e-17
		}
	}
	return x
}

var l2Cases = []struct {
	rows, w int
	special bool
}{{1, 1, false}, {3, 63, false}, {4, 64, false}, {2, 65, false}, {5, 512, true}, {3, 7, true}, {140, 500, false}}

// testL2Normalize checks y and norm: the norm is a W-term sum of squares
// (relative error ≲ (W/2+2)·u) and y one division by it, so the tolerance
// is (W+4)·u relative to each. A zero row gives norm 0 and y = 0; a row
// with norm below eps gives y = x/eps.
func testL2Normalize(r reporter, b backend.Backend) {
	for _, c := range l2Cases {
		r.Run(name("%d×%d", c.rows, c.w), func(r reporter) {
			x := l2Input(name("L2Normalize/%v", c), c.rows, c.w, c.special)
			tx, ty, tn := b.Upload(x, c.rows, c.w), b.New(c.rows, c.w), b.New(c.rows)
			defer freeAll(b, tx, ty, tn)
			b.L2Normalize(ty, tn, tx, l2Eps)
			y, norm := refL2Normalize(f64(x), c.rows, c.w, l2Eps)
			tol := float64(c.w+4) * u
			compare(r, "y", download(b, ty), y, nil, tol)
			compare(r, "norm", download(b, tn), norm, nil, tol)
		})
	}
}

// testL2NormalizeBack checks dx, given y and norm (the reference's,
// rounded), against refL2NormalizeBack with (W+4)·u times its scale (a
// W-term dot product), and against finite differences of each row's
// Σ_j dy⊙y(x) (every partial derivative of the first four rows, which
// hold the zero and tiny rows, and one direction for the others), with
// steps scaled to the row so that they never cross ‖x‖ = eps. Row by row,
// because the rows' gradients differ in size by up to 1/eps, which one
// loss would mix.
func testL2NormalizeBack(r reporter, b backend.Backend) {
	for _, c := range l2Cases {
		r.Run(name("%d×%d", c.rows, c.w), func(r reporter) {
			x := l2Input(name("L2NormalizeBack/%v", c), c.rows, c.w, c.special)
			dy := normal(rng(name("L2NormalizeBack/dy/%v", c)), c.rows*c.w, 0, 1)
			xf, dyf := f64(x), f64(dy)
			y, norm := refL2Normalize(xf, c.rows, c.w, l2Eps)
			y32, n32 := f32(y), f32(norm)
			ty, tn, tdy, tdx := b.Upload(y32, c.rows, c.w), b.Upload(n32, c.rows), b.Upload(dy, c.rows, c.w), b.New(c.rows, c.w)
			defer freeAll(b, ty, tn, tdy, tdx)
			b.L2NormalizeBack(tdx, tdy, ty, tn, l2Eps)
			dx := download(b, tdx)
			rdx, scale := refL2NormalizeBack(dyf, f64(y32), f64(n32), c.rows, c.w, l2Eps)
			tol := float64(c.w+4) * u
			compare(r, "dx", dx, rdx, scale, tol)
			edx, _ := refL2NormalizeBack(dyf, y, norm, c.rows, c.w, l2Eps) // from the exact y
			dir := f64(normal(rng(name("L2NormalizeBack/dir/%v", c)), c.rows*c.w, 0, 1))
			h := rowSteps(xf, c.rows, c.w)
			loss := func(i int) func([]float64) float64 {
				return func(x []float64) float64 {
					y, _ := refL2Normalize(x, 1, c.w, l2Eps)
					return weighted(dyf[i*c.w:(i+1)*c.w], y)
				}
			}
			checkRows(r, "dx by finite differences", c.rows, c.w, 4, loss, xf, h, dx, edx, scale, tol, dir)
		})
	}
}

// freeAll frees tensors.
func freeAll(b backend.Backend, ts ...*backend.Tensor) {
	for _, t := range ts {
		b.Free(t)
	}
}
