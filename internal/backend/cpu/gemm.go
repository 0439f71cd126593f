package cpu

import (
	"slices"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/gemm"
)

// Gemm computes C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i] for every batch
// index i of C (batch..., m, n), with op(A) = Aᵀ when tA and op(B) = Bᵀ
// when tB. A is (batch..., m, k), or (batch..., k, m) when tA, with C's
// batch dimensions exactly, or 2-D, in which case the same A serves every
// i; likewise B, (batch..., k, n) or (batch..., n, k) when tB, or 2-D.
//
// With beta = 0, C's previous content is not read. C must not overlap A or
// B. The products follow internal/gemm's numeric contract, so every element
// of C is the same whatever the batch size, the element's position, the
// thread count and the kernel.
//
// When A is batched, not transposed, and B is 2-D (a linear layer applied
// to a batch), the batch is one product on (batch·m, k), split over the
// backend's threads inside it. Otherwise the batch items are separate
// products handed to gemm's SgemmBatch: small ones run whole, side by side
// on the threads; one big enough to split runs alone on all of them.
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
	if (aBatched || batch == 1) && !tA && !bBatched {
		// Rows of A and C are contiguous across the batch: one product.
		be.gemm.Sgemm(false, tB, batch*m, n, k, alpha, ad, max(ac, 1), bd, max(bc, 1), beta, cd, n)
		return
	}
	aSize, bSize, cSize := ar*ac, br*bc, m*n
	ps := make([]gemm.Product, batch)
	for i := range ps {
		ai, bi := ad, bd
		if aBatched {
			ai = ad[i*aSize : (i+1)*aSize]
		}
		if bBatched {
			bi = bd[i*bSize : (i+1)*bSize]
		}
		ps[i] = gemm.Product{TA: tA, TB: tB, M: m, N: n, K: k, Alpha: alpha, A: ai, LDA: max(ac, 1),
			B: bi, LDB: max(bc, 1), Beta: beta, C: cd[i*cSize : (i+1)*cSize], LDC: n}
	}
	be.gemm.SgemmBatch(ps)
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
