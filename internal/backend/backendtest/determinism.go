package backendtest

import (
	"math"
	"slices"
	"testing"

	"github.com/trak-dev/trak/internal/backend"
)

// Outputs runs every compute method of b once on fixed inputs, most of
// them of 64Ki elements or more (so that a backend that splits large
// kernels does) with row counts that divide evenly by few thread counts,
// and returns each output by name. Comparing the outputs of two backends
// (or of one backend twice) with SameOutputs checks determinism.
func Outputs(b backend.Backend) map[string][]float32 {
	out := map[string][]float32{}
	g := rng("Outputs")
	up := func(mean, sd float64, shape ...int) *backend.Tensor {
		return b.Upload(normal(g, prod(shape...), mean, sd), shape...)
	}
	var live []*backend.Tensor
	keep := func(ts ...*backend.Tensor) {
		live = append(live, ts...)
	}
	defer func() { freeAll(b, live...) }()
	save := func(nm string, t *backend.Tensor) { out[nm] = download(b, t) }

	// Gemm: the fused linear layer, per-item batches with A or B shared,
	// per-example weight gradients.
	for _, gs := range []gemmShape{
		{batch: []int{5}, m: 67, n: 131, k: 129, tB: true, shareB: true, alpha: 1},
		{batch: []int{5}, m: 67, n: 131, k: 129, tA: true, shareA: true, alpha: 0.5, beta: 1},
		{batch: []int{7}, m: 61, n: 33, k: 50, tA: true, alpha: 1},
		{batch: []int{2, 3}, m: 50, n: 50, k: 33, tB: true, alpha: 0.25},
	} {
		a, bb, c := up(0, 1, gs.aShape()...), up(0, 1, gs.bShape()...), up(0, 1, gs.cShape()...)
		keep(a, bb, c)
		b.Gemm(gs.tA, gs.tB, gs.alpha, a, bb, gs.beta, c)
		save(name("Gemm %v", gs), c)
	}

	const nb, per, w = 3, 89, 251 // 67017 elements
	rows := nb * per
	x, y, gamma, beta := up(0.5, 1, rows, w), up(0, 1, rows, w), up(1, 0.5, w), up(0, 0.5, w)
	pe := up(0, 1, per, w)
	keep(x, y, gamma, beta, pe)
	b.Copy(y, x)
	b.Add(y, x)
	b.Scale(y, 0.7)
	b.AddBias(y, gamma)
	b.AddBroadcast(b.Reshape(y, nb, per, w), pe)
	save("elementwise", y)
	sum := b.New(nb, w)
	keep(sum)
	b.SumPerExample(sum, x)
	save("SumPerExample", sum)
	// GatherBack: x as (B, T, W) tokens with ids from a vocabulary of 10.
	tokIDs, gi := make([]int32, rows), rng("Outputs/GatherBack")
	for i := range tokIDs {
		tokIDs[i] = int32(gi.IntN(10))
	}
	emb := b.New(nb, 10, w)
	keep(emb)
	b.GatherBack(emb, b.Reshape(x, nb, per, w), tokIDs, []int32{9, 8, 7, 6, 5, 4, 3, 2, 1, 0})
	save("GatherBack", emb)

	ln, mean, rstd := b.New(rows, w), b.New(rows), b.New(rows)
	dx, dg, db, dy := b.New(rows, w), b.New(nb, w), b.New(nb, w), up(0, 1, rows, w)
	keep(ln, mean, rstd, dx, dg, db, dy)
	b.LayerNorm(ln, mean, rstd, x, gamma, beta, 1e-5)
	b.LayerNormBack(dx, dg, db, dy, x, gamma, mean, rstd)
	for nm, t := range map[string]*backend.Tensor{"LayerNorm y": ln, "LayerNorm mean": mean, "LayerNorm rstd": rstd, "LayerNormBack dx": dx, "LayerNormBack dgamma": dg, "LayerNormBack dbeta": db} {
		save(nm, t)
	}
	for _, quick := range []bool{false, true} {
		b.GELU(ln, x, quick)
		save(name("GELU quick=%t", quick), ln)
		b.GELUBack(ln, dy, x, quick)
		save(name("GELUBack quick=%t", quick), ln)
	}
	norm := b.New(rows)
	keep(norm)
	b.L2Normalize(ln, norm, x, 1e-12)
	save("L2Normalize y", ln)
	save("L2Normalize norm", norm)
	b.L2NormalizeBack(dx, dy, ln, norm, 1e-12)
	save("L2NormalizeBack", dx)

	sx, sy, sdx := up(0, 3, 2, 7, 75, 75), b.New(2, 7, 75, 75), b.New(2, 7, 75, 75)
	sdy := up(0, 1, 2, 7, 75, 75)
	keep(sx, sy, sdx, sdy)
	for _, causal := range []bool{false, true} {
		b.Softmax(sy, sx, causal)
		save(name("Softmax causal=%t", causal), sy)
		b.SoftmaxBack(sdx, sdy, sy)
		save(name("SoftmaxBack causal=%t", causal), sdx)
	}

	const hb, ht, hh, hd = 3, 77, 7, 41
	qkv := up(0, 1, hb, ht, 3*hh*hd)
	q, k, v, m := b.New(hb, hh, ht, hd), b.New(hb, hh, ht, hd), b.New(hb, hh, ht, hd), b.New(hb, ht, hh*hd)
	keep(qkv, q, k, v, m)
	b.SplitQKV(q, k, v, qkv, hh)
	out["SplitQKV"] = append(append(download(b, q), download(b, k)...), download(b, v)...)
	b.MergeHeads(m, q, hh)
	save("MergeHeads", m)
	b.SplitHeads(k, m, hh)
	b.JoinQKV(qkv, k, q, v, hh)
	save("SplitHeads+JoinQKV", qkv)

	img, patches := up(0, 1, 2, 3, 112, 112), b.New(2, 49, 3*16*16)
	keep(img, patches)
	b.Patchify(patches, img, 16)
	save("Patchify", patches)

	tok, src, row := b.New(nb, 90, w), up(0, 1, nb, 89, w), up(0, 1, nb, w)
	table := up(0, 1, 100, w)
	keep(tok, src, row, table)
	b.CopyTokens(tok, 1, src, 0, 89)
	b.SetToken(tok, 0, gamma)
	save("CopyTokens+SetToken", tok)
	b.GatherTokens(row, tok, []int{0, 89, 45})
	save("GatherTokens", row)
	b.ScatterTokens(tok, row, []int{3, 0, 89})
	save("ScatterTokens", tok)
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(g.IntN(100))
	}
	b.Gather(y, table, ids)
	save("Gather", y)
	return out
}

// SameOutputs reports every output of got that is not bitwise identical
// to the same output of want (NaNs compared by their bits too).
func SameOutputs(t testing.TB, want, got map[string][]float32) {
	t.Helper()
	names := make([]string, 0, len(want))
	for nm := range want {
		names = append(names, nm)
	}
	slices.Sort(names)
	for _, nm := range names {
		w, g := want[nm], got[nm]
		if len(w) != len(g) {
			t.Errorf("%s: %d values, want %d", nm, len(g), len(w))
			continue
		}
		for i := range w {
			if math.Float32bits(w[i]) != math.Float32bits(g[i]) {
				t.Errorf("%s: [%d] = %g (%#x), want %g (%#x)", nm, i, g[i], math.Float32bits(g[i]), w[i], math.Float32bits(w[i]))
				break
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d outputs, want %d", len(got), len(want))
	}
}
