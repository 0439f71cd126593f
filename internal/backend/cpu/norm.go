package cpu

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// colBlock is the width of the column blocks LayerNormBack's per-example
// sums are split into; a constant, so that the split (and the result) does
// not depend on the number of threads.
const colBlock = 256

// LayerNorm normalises each row of x (N, W) into y (N, W):
//
//	y[r, j] = (x[r, j] − mean[r])·rstd[r]·gamma[j] + beta[j],
//	mean[r] = Σ_j x[r, j] / W,
//	rstd[r] = 1/√(Σ_j (x[r, j] − mean[r])² / W + eps),
//
// storing mean and rstd (N elements each); gamma and beta have W. Mean and
// variance are computed in float64 in two passes over the row, and y from
// the float64 mean and rstd before they are rounded for storage. A
// constant row has variance 0, x̂ = 0 and y = beta. y may be x.
func (be *Backend) LayerNorm(y, mean, rstd, x, gamma, beta *backend.Tensor, eps float32) {
	const op = "LayerNorm"
	yd, md, sd, xd := data(op, "y", y), data(op, "mean", mean), data(op, "rstd", rstd), data(op, "x", x)
	gd, bd := data(op, "gamma", gamma), data(op, "beta", beta)
	rows, w := sameMatrix(op, "y", y, "x", x)
	vector(op, "mean", mean, rows, "x's rows")
	vector(op, "rstd", rstd, rows, "x's rows")
	vector(op, "gamma", gamma, w, "x's width")
	vector(op, "beta", beta, w, "x's width")
	if w == 0 {
		panicf(op, "x %v has empty rows", x)
	}
	be.split(rows, len(xd), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xd[r*w:(r+1)*w], yd[r*w:(r+1)*w]
			mu, rs := meanRstd(xr, eps)
			md[r], sd[r] = float32(mu), float32(rs)
			for j, v := range xr {
				yr[j] = float32((float64(v)-mu)*rs*float64(gd[j]) + float64(bd[j]))
			}
		}
	})
}

// meanRstd returns the mean of row and 1/√(variance + eps), with the
// biased variance, in float64 and two passes.
func meanRstd(row []float32, eps float32) (mean, rstd float64) {
	var s float64
	for _, v := range row {
		s += float64(v)
	}
	mean = s / float64(len(row))
	var ss float64
	for _, v := range row {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, 1 / math.Sqrt(ss/float64(len(row))+float64(eps))
}

// LayerNormBack sets dx (N, W) to the gradient of a loss with respect to
// LayerNorm's input x, given dy = ∂loss/∂y, x, gamma and LayerNorm's saved
// mean and rstd; and dgamma, dbeta (B, W) to the per-example parameter
// gradients. With x̂ = (x − mean)·rstd and g = dy·gamma, row by row:
//
//	dx = rstd·(g − mean_j(g) − x̂·mean_j(g·x̂)),
//	dgamma[b, j] = Σ_r dy[r, j]·x̂[r, j],  dbeta[b, j] = Σ_r dy[r, j],
//
// the sums over the N/B rows r of example b (N must be a multiple of B).
// Row means and the per-example sums run in float64. dx may be dy or x.
func (be *Backend) LayerNormBack(dx, dgamma, dbeta, dy, x, gamma, mean, rstd *backend.Tensor) {
	const op = "LayerNormBack"
	dxd, dgd, dbd := data(op, "dx", dx), data(op, "dgamma", dgamma), data(op, "dbeta", dbeta)
	dyd, xd, gd := data(op, "dy", dy), data(op, "x", x), data(op, "gamma", gamma)
	md, sd := data(op, "mean", mean), data(op, "rstd", rstd)
	rows, w := sameMatrix(op, "dx", dx, "x", x)
	sameMatrix(op, "dy", dy, "x", x)
	vector(op, "gamma", gamma, w, "x's width")
	vector(op, "mean", mean, rows, "x's rows")
	vector(op, "rstd", rstd, rows, "x's rows")
	nb, gw := sameMatrix(op, "dgamma", dgamma, "dbeta", dbeta)
	if gw != w || nb == 0 || rows%nb != 0 {
		panicf(op, "dgamma %v is not (B, %d) with B dividing x %v's %d rows", dgamma, w, x, rows)
	}
	if w == 0 {
		panicf(op, "x %v has empty rows", x)
	}
	per := rows / nb

	// Per-example sums first (dx may overwrite dy), one task per example
	// and block of colBlock columns, each summing its rows in order.
	blocks := (w + colBlock - 1) / colBlock
	be.split(nb*blocks, 2*len(xd), func(lo, hi int) {
		accG := make([]float64, colBlock)
		accB := make([]float64, colBlock)
		for task := lo; task < hi; task++ {
			b, j0 := task/blocks, (task%blocks)*colBlock
			j1 := min(j0+colBlock, w)
			ag, ab := accG[:j1-j0], accB[:j1-j0]
			clear(ag)
			clear(ab)
			for r := b * per; r < (b+1)*per; r++ {
				mu, rs := float64(md[r]), float64(sd[r])
				xr, dr := xd[r*w+j0:r*w+j1], dyd[r*w+j0:r*w+j1]
				for j, v := range dr {
					g := float64(v)
					ag[j] += g * (float64(xr[j]) - mu) * rs
					ab[j] += g
				}
			}
			for j := range ag {
				dgd[b*w+j0+j] = float32(ag[j])
				dbd[b*w+j0+j] = float32(ab[j])
			}
		}
	})

	be.split(rows, 2*len(xd), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			mu, rs := float64(md[r]), float64(sd[r])
			xr, dr, out := xd[r*w:(r+1)*w], dyd[r*w:(r+1)*w], dxd[r*w:(r+1)*w]
			var sg, sgx float64
			for j, v := range dr {
				g := float64(v) * float64(gd[j])
				sg += g
				sgx += g * (float64(xr[j]) - mu) * rs
			}
			mg, mgx := sg/float64(w), sgx/float64(w)
			for j, v := range dr {
				g := float64(v) * float64(gd[j])
				xh := (float64(xr[j]) - mu) * rs
				out[j] = float32(rs * (g - mg - xh*mgx))
			}
		}
	})
}

// L2Normalize sets each row of y (N, W) to x/max(‖x‖, eps) and norm[r] to
// the row's Euclidean norm ‖x‖ (N elements). The norm is accumulated in
// float64 (no overflow or underflow is possible for float32 data) and
// rounded; the division uses the rounded norm, as L2NormalizeBack does.
// y may be x.
func (be *Backend) L2Normalize(y, norm, x *backend.Tensor, eps float32) {
	const op = "L2Normalize"
	yd, nd, xd := data(op, "y", y), data(op, "norm", norm), data(op, "x", x)
	rows, w := sameMatrix(op, "y", y, "x", x)
	vector(op, "norm", norm, rows, "x's rows")
	be.split(rows, len(xd), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xd[r*w:(r+1)*w], yd[r*w:(r+1)*w]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			n := float32(math.Sqrt(ss))
			nd[r] = n
			d := float64(max(n, eps))
			for j, v := range xr {
				yr[j] = float32(float64(v) / d)
			}
		}
	})
}

// L2NormalizeBack sets each row of dx (N, W) to the gradient through
// L2Normalize, given dy, L2Normalize's output y and norm:
//
//	dx = (dy − y·(y·dy)) / ‖x‖   where ‖x‖ ≥ eps,
//	dx = dy / eps                 where ‖x‖ < eps,
//
// with the dot product y·dy in float64. dx may be dy.
func (be *Backend) L2NormalizeBack(dx, dy, y, norm *backend.Tensor, eps float32) {
	const op = "L2NormalizeBack"
	dxd, dyd, yd, nd := data(op, "dx", dx), data(op, "dy", dy), data(op, "y", y), data(op, "norm", norm)
	rows, w := sameMatrix(op, "dx", dx, "y", y)
	sameMatrix(op, "dy", dy, "y", y)
	vector(op, "norm", norm, rows, "y's rows")
	be.split(rows, len(yd), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, dr, out := yd[r*w:(r+1)*w], dyd[r*w:(r+1)*w], dxd[r*w:(r+1)*w]
			if nd[r] < eps {
				e := float64(eps)
				for j, v := range dr {
					out[j] = float32(float64(v) / e)
				}
				continue
			}
			var dot float64
			for j, v := range dr {
				dot += float64(v) * float64(yr[j])
			}
			d := float64(nd[r])
			for j, v := range dr {
				out[j] = float32((float64(v) - float64(yr[j])*dot) / d)
			}
		}
	})
}
