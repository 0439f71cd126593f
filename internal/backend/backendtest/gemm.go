package backendtest

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// gemmCases returns the Gemm cases: every (tA, tB) on single products of
// sizes at and around 64 (gonum's block) and 1; batches with both
// operands batched, A or B shared (weights), both shared; alpha ≠ 1 and
// beta ∈ {0, 0.5, 1}, beta = 0 always over a C full of NaN; k = 0; and the
// model's own shapes (a linear layer on a batch, per-example weight
// gradients, the k = 1 outer products of the projection head).
func gemmCases() []gemmShape {
	var cs []gemmShape
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for _, s := range [][3]int{{1, 1, 1}, {7, 5, 3}, {63, 65, 64}, {65, 1, 63}, {1, 64, 65}, {64, 64, 64}, {2, 3, 129}} {
				cs = append(cs, gemmShape{m: s[0], n: s[1], k: s[2], tA: tA, tB: tB, alpha: 1})
			}
			cs = append(cs,
				gemmShape{batch: []int{2}, m: 5, n: 7, k: 9, tA: tA, tB: tB, alpha: -0.75, beta: 1},
				gemmShape{batch: []int{2, 3}, m: 4, n: 65, k: 3, tA: tA, tB: tB, shareA: true, alpha: 1, beta: 0.5},
				gemmShape{batch: []int{3}, m: 33, n: 17, k: 65, tA: tA, tB: tB, shareB: true, alpha: 2},
				gemmShape{batch: []int{2}, m: 3, n: 4, k: 5, tA: tA, tB: tB, shareA: true, shareB: true, alpha: 1, beta: 1},
				gemmShape{batch: []int{5}, m: 1, n: 1, k: 1, tA: tA, tB: tB, alpha: 1},
				// Square shared operands, where a confusion of tA or tB
				// with the other operand's layout keeps shapes valid.
				gemmShape{batch: []int{3}, m: 17, n: 9, k: 17, tA: tA, tB: tB, shareA: true, alpha: 1},
				gemmShape{batch: []int{2}, m: 5, n: 16, k: 16, tA: tA, tB: tB, shareB: true, alpha: 1},
				gemmShape{batch: []int{2}, m: 8, n: 8, k: 8, tA: tA, tB: tB, alpha: 1},
			)
		}
	}
	return append(cs,
		// k = 0: C = beta·C, and 0 over NaN for beta = 0.
		gemmShape{m: 3, n: 4, k: 0, alpha: 1, beta: 0},
		gemmShape{batch: []int{2}, m: 3, n: 4, k: 0, alpha: 1, beta: 0.5},
		// alpha = 0, beta = 0: C = 0 whatever it held.
		gemmShape{m: 5, n: 6, k: 7, alpha: 0, beta: 0},
		// A linear layer on (B, T, W) tokens with a (out, in) weight.
		gemmShape{batch: []int{3}, m: 50, n: 130, k: 96, tB: true, shareB: true, alpha: 1},
		// The same with the weight not transposed, and on the left.
		gemmShape{batch: []int{2}, m: 77, n: 40, k: 64, shareB: true, alpha: 1, beta: 1},
		gemmShape{batch: []int{2}, m: 40, n: 77, k: 64, tB: true, shareA: true, alpha: 1},
		// Attention scores and their gradients, (B·H, T, hd).
		gemmShape{batch: []int{2, 3}, m: 50, n: 50, k: 7, tB: true, alpha: 0.378},
		gemmShape{batch: []int{6}, m: 50, n: 7, k: 50, tA: true, alpha: 1},
		// Per-example weight gradients Σ_t dyᵀ·x, and k = 1.
		gemmShape{batch: []int{4}, m: 40, n: 24, k: 10, tA: true, alpha: 1},
		gemmShape{batch: []int{3}, m: 16, n: 33, k: 1, tA: true, alpha: 1},
	)
}

// testGemm checks Gemm against refGemm with the bound of any float32
// evaluation order (with or without FMA): |δC| ≤ (k+3)·u·(|alpha|·|op(A)|
// |op(B)| + |beta·C|), γ_k for the k-term sums plus the roundings of the
// alpha and beta products and of the final addition.
func testGemm(r reporter, b backend.Backend) {
	for _, g := range gemmCases() {
		nm := name("tA=%t,tB=%t,batch=%v,m=%d,n=%d,k=%d,shareA=%t,shareB=%t,alpha=%g,beta=%g",
			g.tA, g.tB, g.batch, g.m, g.n, g.k, g.shareA, g.shareB, g.alpha, g.beta)
		r.Run(nm, func(r reporter) {
			rg := rng("Gemm/" + nm)
			a := normal(rg, prod(g.aShape()...), 0, 1)
			bv := normal(rg, prod(g.bShape()...), 0, 1)
			c := normal(rg, prod(g.cShape()...), 0, 1)
			if g.beta == 0 {
				c = filled(len(c), float32(math.NaN()))
			}
			ta, tb, tc := b.Upload(a, g.aShape()...), b.Upload(bv, g.bShape()...), b.Upload(c, g.cShape()...)
			defer b.Free(ta)
			defer b.Free(tb)
			defer b.Free(tc)
			b.Gemm(g.tA, g.tB, g.alpha, ta, tb, g.beta, tc)
			want, scale := refGemm(g, f64(a), f64(bv), f64(c))
			compare(r, "C", download(b, tc), want, scale, float64(g.k+3)*u)
		})
	}
}
