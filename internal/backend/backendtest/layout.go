package backendtest

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// headCases are (B, T, H, hd): ones, odd heads and head widths, T = 1,
// and CLIP-like text and vision shapes (the last two above 64Ki values).
var headCases = [][4]int{{1, 1, 1, 1}, {2, 3, 3, 5}, {2, 1, 4, 3}, {3, 50, 12, 7}, {1, 77, 8, 64}, {2, 50, 12, 64}}

// testHeads checks SplitQKV, JoinQKV, MergeHeads and SplitHeads, which
// move data and so must match the references exactly; that each pair is
// inverse; and that JoinQKV and SplitHeads are the adjoints of SplitQKV
// and MergeHeads: ⟨Ax, y⟩ = ⟨x, Aᵀy⟩, both sides summed in float64 over
// float32 products (exact in float64), so equal to within rounding of
// the sums, 1e-12 of Σ|terms|.
func testHeads(r reporter, b backend.Backend) {
	for _, c := range headCases {
		nb, t, h, hd := c[0], c[1], c[2], c[3]
		w := h * hd
		r.Run(name("B=%d,T=%d,H=%d,hd=%d", nb, t, h, hd), func(r reporter) {
			g := rng(name("Heads/%v", c))
			qkv := normal(g, nb*t*3*w, 0, 1)
			ys := [3][]float32{normal(g, nb*t*w, 0, 1), normal(g, nb*t*w, 0, 1), normal(g, nb*t*w, 0, 1)}
			tqkv := b.Upload(qkv, nb, t, 3*w)
			tq, tk, tv := b.New(nb, h, t, hd), b.New(nb, h, t, hd), b.New(nb, h, t, hd)
			tback := b.Upload(filled(len(qkv), float32(math.NaN())), nb, t, 3*w)
			defer freeAll(b, tqkv, tq, tk, tv, tback)

			b.SplitQKV(tq, tk, tv, tqkv, h)
			q, k, v := refSplitQKV(f64(qkv), nb, t, h, hd)
			gq, gk, gv := download(b, tq), download(b, tk), download(b, tv)
			exact(r, "SplitQKV q", gq, q)
			exact(r, "SplitQKV k", gk, k)
			exact(r, "SplitQKV v", gv, v)
			b.JoinQKV(tback, tq, tk, tv, h)
			exact(r, "JoinQKV(SplitQKV(x))", download(b, tback), f64(qkv))

			// Adjoint: ⟨SplitQKV(x), y⟩ = ⟨x, JoinQKV(y)⟩.
			ty := [3]*backend.Tensor{b.Upload(ys[0], nb, h, t, hd), b.Upload(ys[1], nb, h, t, hd), b.Upload(ys[2], nb, h, t, hd)}
			defer freeAll(b, ty[0], ty[1], ty[2])
			b.JoinQKV(tback, ty[0], ty[1], ty[2], h)
			var lhs, lhsAbs float64
			for i, part := range [3][]float32{gq, gk, gv} {
				s, sa := dot(f64(part), f64(ys[i]))
				lhs, lhsAbs = lhs+s, lhsAbs+sa
			}
			rhs, _ := dot(f64(qkv), f64(download(b, tback)))
			if math.Abs(lhs-rhs) > 1e-12*lhsAbs {
				r.Errorf("⟨SplitQKV(x), y⟩ = %g but ⟨x, JoinQKV(y)⟩ = %g", lhs, rhs)
			}

			// MergeHeads and SplitHeads.
			src := normal(g, nb*t*w, 0, 1)
			tsrc, tm, ts := b.Upload(src, nb, h, t, hd), b.Upload(filled(nb*t*w, float32(math.NaN())), nb, t, w), b.New(nb, h, t, hd)
			defer freeAll(b, tsrc, tm, ts)
			b.MergeHeads(tm, tsrc, h)
			merged := download(b, tm)
			exact(r, "MergeHeads", merged, refMergeHeads(f64(src), nb, t, h, hd))
			b.SplitHeads(ts, tm, h)
			exact(r, "SplitHeads(MergeHeads(x))", download(b, ts), f64(src))
			// Adjoint: ⟨MergeHeads(x), y⟩ = ⟨x, SplitHeads(y)⟩.
			yy := normal(g, nb*t*w, 0, 1)
			tyy := b.Upload(yy, nb, t, w)
			defer b.Free(tyy)
			b.SplitHeads(ts, tyy, h)
			lhs, lhsAbs = dot(f64(merged), f64(yy))
			rhs, _ = dot(f64(src), f64(download(b, ts)))
			if math.Abs(lhs-rhs) > 1e-12*lhsAbs {
				r.Errorf("⟨MergeHeads(x), y⟩ = %g but ⟨x, SplitHeads(y)⟩ = %g", lhs, rhs)
			}
		})
	}
}

// testPatchify checks Patchify exactly against refPatchify, for (B, S, P)
// with one patch, one pixel per patch, and CLIP's ViT-B/32 and /16 grids.
func testPatchify(r reporter, b backend.Backend) {
	for _, c := range [][3]int{{1, 1, 1}, {1, 4, 2}, {2, 6, 3}, {1, 7, 7}, {2, 12, 4}, {1, 3, 1}, {2, 64, 32}, {1, 224, 16}} {
		nb, s, p := c[0], c[1], c[2]
		r.Run(name("B=%d,S=%d,P=%d", nb, s, p), func(r reporter) {
			img := normal(rng(name("Patchify/%v", c)), nb*3*s*s, 0, 1)
			g := s / p
			ti, td := b.Upload(img, nb, 3, s, s), b.Upload(filled(nb*3*s*s, float32(math.NaN())), nb, g*g, 3*p*p)
			defer freeAll(b, ti, td)
			b.Patchify(td, ti, p)
			exact(r, "patches", download(b, td), refPatchify(f64(img), nb, s, p))
		})
	}
}

// testTokens checks CopyTokens, SetToken, GatherTokens and ScatterTokens
// exactly, and ScatterTokens as GatherTokens' adjoint.
func testTokens(r reporter, b backend.Backend) {
	// CopyTokens: (B, Td, Ts, W, dstT0, srcT0, n).
	for _, c := range [][7]int{{1, 1, 1, 1, 0, 0, 1}, {2, 50, 49, 7, 1, 0, 49}, {2, 50, 50, 7, 0, 1, 49}, {3, 5, 5, 4, 2, 1, 3}, {2, 4, 6, 3, 1, 2, 0}, {2, 77, 77, 65, 0, 0, 77}} {
		nb, td, ts, w, d0, s0, n := c[0], c[1], c[2], c[3], c[4], c[5], c[6]
		r.Run(name("CopyTokens/%v", c), func(r reporter) {
			g := rng(name("CopyTokens/%v", c))
			dst, src := normal(g, nb*td*w, 0, 1), normal(g, nb*ts*w, 0, 1)
			tdst, tsrc := b.Upload(dst, nb, td, w), b.Upload(src, nb, ts, w)
			defer freeAll(b, tdst, tsrc)
			b.CopyTokens(tdst, d0, tsrc, s0, n)
			want := f64(dst)
			for e := range nb {
				for i := range n {
					for j := range w {
						want[(e*td+d0+i)*w+j] = float64(src[(e*ts+s0+i)*w+j])
					}
				}
			}
			exact(r, "dst", download(b, tdst), want)
		})
	}
	// SetToken: (B, T, W, t).
	for _, c := range [][4]int{{1, 1, 1, 0}, {3, 50, 7, 0}, {2, 5, 9, 4}} {
		nb, t, w, tok := c[0], c[1], c[2], c[3]
		r.Run(name("SetToken/%v", c), func(r reporter) {
			g := rng(name("SetToken/%v", c))
			dst, v := normal(g, nb*t*w, 0, 1), normal(g, w, 0, 1)
			tdst, tv := b.Upload(dst, nb, t, w), b.Upload(v, w)
			defer freeAll(b, tdst, tv)
			b.SetToken(tdst, tok, tv)
			want := f64(dst)
			for e := range nb {
				for j := range w {
					want[(e*t+tok)*w+j] = float64(v[j])
				}
			}
			exact(r, "dst", download(b, tdst), want)
		})
	}
	// GatherTokens and ScatterTokens: (B, T, W) with positions at both ends.
	for _, c := range [][3]int{{1, 1, 1}, {3, 77, 65}, {4, 50, 7}} {
		nb, t, w := c[0], c[1], c[2]
		r.Run(name("GatherScatterTokens/%v", c), func(r reporter) {
			g := rng(name("Tokens/%v", c))
			pos := make([]int, nb)
			for e := range pos {
				pos[e] = []int{0, t - 1, g.IntN(t)}[e%3]
			}
			src, rows := normal(g, nb*t*w, 0, 1), normal(g, nb*w, 0, 1)
			tsrc, tdst := b.Upload(src, nb, t, w), b.Upload(filled(nb*w, float32(math.NaN())), nb, w)
			trows, tsc := b.Upload(rows, nb, w), b.Upload(filled(nb*t*w, float32(math.NaN())), nb, t, w)
			defer freeAll(b, tsrc, tdst, trows, tsc)
			b.GatherTokens(tdst, tsrc, pos)
			gathered := download(b, tdst)
			want := make([]float64, nb*w)
			for e := range nb {
				for j := range w {
					want[e*w+j] = float64(src[(e*t+pos[e])*w+j])
				}
			}
			exact(r, "GatherTokens", gathered, want)
			b.ScatterTokens(tsc, trows, pos)
			scattered := download(b, tsc)
			want = make([]float64, nb*t*w)
			for e := range nb {
				for j := range w {
					want[(e*t+pos[e])*w+j] = float64(rows[e*w+j])
				}
			}
			exact(r, "ScatterTokens", scattered, want)
			lhs, lhsAbs := dot(f64(gathered), f64(rows))
			rhs, _ := dot(f64(src), f64(scattered))
			if math.Abs(lhs-rhs) > 1e-12*lhsAbs {
				r.Errorf("⟨GatherTokens(x), y⟩ = %g but ⟨x, ScatterTokens(y)⟩ = %g", lhs, rhs)
			}
		})
	}
}

// testGather checks Gather exactly, with repeated ids and the first and
// last rows of the table.
func testGather(r reporter, b backend.Backend) {
	for _, c := range [][3]int{{1, 1, 1}, {10, 7, 23}, {100, 65, 70}, {50, 1500, 50}} {
		v, w, n := c[0], c[1], c[2]
		r.Run(name("V=%d,W=%d,N=%d", v, w, n), func(r reporter) {
			g := rng(name("Gather/%v", c))
			table := normal(g, v*w, 0, 1)
			ids := make([]int32, n)
			for i := range ids {
				ids[i] = int32(g.IntN(v))
			}
			ids[0], ids[n-1] = int32(v-1), 0
			tt, td := b.Upload(table, v, w), b.Upload(filled(n*w, float32(math.NaN())), n, w)
			defer freeAll(b, tt, td)
			b.Gather(td, tt, ids)
			want := make([]float64, n*w)
			for i, id := range ids {
				for j := range w {
					want[i*w+j] = float64(table[int(id)*w+j])
				}
			}
			exact(r, "dst", download(b, td), want)
		})
	}
}

// testGatherBack checks GatherBack against float64 sums, within the error
// of a float32 sum of T terms in any order (T·u·Σ|src|), over a dst full
// of NaN (every entry must be written); rows include ids some examples do
// not use and one no example uses, in no particular order; and its shape
// panics.
func testGatherBack(r reporter, b backend.Backend) {
	for _, c := range [][4]int{{1, 1, 1, 1}, {3, 7, 5, 6}, {2, 77, 64, 40}, {9, 20, 3, 4}} {
		nb, t, w, vocab := c[0], c[1], c[2], c[3]
		r.Run(name("B=%d,T=%d,W=%d,V=%d", nb, t, w, vocab), func(r reporter) {
			g := rng(name("GatherBack/%v", c))
			src := normal(g, nb*t*w, 0, 1)
			ids := make([]int32, nb*t)
			for i := range ids {
				ids[i] = int32(g.IntN(vocab))
			}
			rows := []int32{int32(vocab)} // used by no token
			for _, v := range g.Perm(vocab) {
				rows = append(rows, int32(v))
			}
			nr := len(rows)
			ts, td := b.Upload(src, nb, t, w), b.Upload(filled(nb*nr*w, float32(math.NaN())), nb, nr, w)
			defer freeAll(b, ts, td)
			b.GatherBack(td, ts, ids, rows)
			want, scale := make([]float64, nb*nr*w), make([]float64, nb*nr*w)
			for bi := range nb {
				for i, id := range rows {
					for tok := range t {
						if ids[bi*t+tok] != id {
							continue
						}
						for j := range w {
							x := float64(src[(bi*t+tok)*w+j])
							want[(bi*nr+i)*w+j] += x
							scale[(bi*nr+i)*w+j] += math.Abs(x)
						}
					}
				}
			}
			compare(r, "dst", download(b, td), want, scale, float64(t)*u)
		})
	}
	r.Run("shapes", func(r reporter) {
		src, dst := b.New(2, 3, 4), b.New(2, 2, 4)
		defer freeAll(b, src, dst)
		ids := make([]int32, 6)
		expectPanic(r, "GatherBack", "3 rows for dst of 2", func() { b.GatherBack(dst, src, ids, []int32{0, 1, 2}) })
		expectPanic(r, "GatherBack", "5 ids for 2 × 3 tokens", func() { b.GatherBack(dst, src, ids[:5], []int32{0, 1}) })
		expectPanic(r, "GatherBack", "a row given twice", func() { b.GatherBack(dst, src, ids, []int32{1, 1}) })
		bad := b.New(2, 2, 5)
		defer b.Free(bad)
		expectPanic(r, "GatherBack", "dst width 5 for src width 4", func() { b.GatherBack(bad, src, ids, []int32{0, 1}) })
	})
}
