package cpu

import (
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/trak-dev/trak/internal/backend"
)

// Gemm computes C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i] for every batch
// index i of C (batch..., m, n), with op(A) = Aᵀ when tA and op(B) = Bᵀ
// when tB. A is (batch..., m, k), or (batch..., k, m) when tA, with C's
// batch dimensions exactly, or 2-D, in which case the same A serves every
// i; likewise B, (batch..., k, n) or (batch..., n, k) when tB, or 2-D.
//
// With beta = 0, C's previous content is not read (the BLAS contract,
// which gonum's Sgemm honours by zeroing C; k = 0 is handled here the same
// way). C must not overlap A or B.
//
// When A is batched, not transposed, and B is 2-D (a linear layer applied
// to a batch), the batch is one blas32 call on (batch·m, k). Otherwise the
// batch items are separate calls, split over the backend's goroutines.
func (be *Backend) Gemm(tA, tB bool, alpha float32, a, b *backend.Tensor, beta float32, c *backend.Tensor) {
	const op = "Gemm"
	ad, bd, cd := data(op, "A", a), data(op, "B", b), data(op, "C", c)
	r := len(c.Shape)
	if r < 2 {
		panicf(op, "C %v has fewer than 2 dimensions", c)
	}
	batchDims := c.Shape[:r-2]
	m, n := c.Shape[r-2], c.Shape[r-1]
	batch := shapeLen(op, batchDims)
	aBatched := gemmOperand(op, "A", a, c, batchDims)
	bBatched := gemmOperand(op, "B", b, c, batchDims)
	ar, ac := a.Shape[len(a.Shape)-2], a.Shape[len(a.Shape)-1]
	br, bc := b.Shape[len(b.Shape)-2], b.Shape[len(b.Shape)-1]
	am, ak := ar, ac
	if tA {
		am, ak = ac, ar
	}
	bk, bn := br, bc
	if tB {
		bk, bn = bc, br
	}
	if am != m || bn != n || ak != bk {
		panicf(op, "op(A) is %d×%d and op(B) is %d×%d, C is %d×%d per batch item (A %v tA=%t, B %v tB=%t, C %v)",
			am, ak, bk, bn, m, n, a, tA, b, tB, c)
	}
	k := ak
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	if k == 0 {
		// An empty sum: C = beta·C, with beta = 0 not reading C.
		if beta == 0 {
			clear(cd)
		} else if beta != 1 {
			be.Scale(c, beta)
		}
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	gb := blas32.General{Rows: br, Cols: bc, Stride: bc, Data: bd}
	if (aBatched || batch == 1) && !tA && !bBatched {
		// Rows of A and C are contiguous across the batch: one product.
		ga := blas32.General{Rows: batch * m, Cols: k, Stride: k, Data: ad}
		gc := blas32.General{Rows: batch * m, Cols: n, Stride: n, Data: cd}
		if tb == blas.Trans {
			// gonum's kernel for a transposed B is a dot product per
			// element; copying Bᵀ once and using the axpy kernel is about
			// 1.5× faster for the tall products of linear layers
			// (BenchmarkGemmLinearT against BenchmarkGemmLinear). It is
			// done whatever the number of rows, so that a row's result never
			// depends on how many rows are multiplied with it (the features
			// must not depend on the batch).
			bt := be.transpose(gb)
			defer be.scratch.Put(bt)
			gb, tb = blas32.General{Rows: bc, Cols: br, Stride: br, Data: *bt}, blas.NoTrans
		}
		blas32.Gemm(ta, tb, alpha, ga, gb, beta, gc)
		return
	}
	aSize, bSize, cSize := ar*ac, br*bc, m*n
	be.split(batch, batch*m*n*k, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ga := blas32.General{Rows: ar, Cols: ac, Stride: ac, Data: ad}
			if aBatched {
				ga.Data = ad[i*aSize : (i+1)*aSize]
			}
			gbi := gb
			if bBatched {
				gbi.Data = bd[i*bSize : (i+1)*bSize]
			}
			gc := blas32.General{Rows: m, Cols: n, Stride: n, Data: cd[i*cSize : (i+1)*cSize]}
			blas32.Gemm(ta, tb, alpha, ga, gbi, beta, gc)
		}
	})
}

// gemmOperand checks that t is 2-D (shared by every batch item) or has C's
// batch dimensions followed by two, and reports whether it is batched.
func gemmOperand(op, name string, t, c *backend.Tensor, batchDims []int) bool {
	switch {
	case len(t.Shape) == 2:
		return false
	case len(t.Shape) == len(c.Shape) && slices.Equal(t.Shape[:len(batchDims)], batchDims):
		return true
	}
	panicf(op, "%s %v is neither 2-D nor batched like C %v", name, t, c)
	return false
}

// transpose returns gᵀ in a pooled buffer (put it back in be.scratch).
func (be *Backend) transpose(g blas32.General) *[]float32 {
	p, _ := be.scratch.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	n := g.Rows * g.Cols
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	out := *p
	const tile = 32
	for i0 := 0; i0 < g.Rows; i0 += tile {
		for j0 := 0; j0 < g.Cols; j0 += tile {
			for i := i0; i < min(i0+tile, g.Rows); i++ {
				row := g.Data[i*g.Stride : i*g.Stride+g.Cols]
				for j := j0; j < min(j0+tile, g.Cols); j++ {
					out[j*g.Rows+i] = row[j]
				}
			}
		}
	}
	return p
}
