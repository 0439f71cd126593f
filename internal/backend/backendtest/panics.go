package backendtest

import (
	"github.com/trak-dev/trak/internal/backend"
)

// testPanics checks that shape violations that the interface's documented
// shapes rule out panic with "backend: " and the method's name.
func testPanics(r reporter, b backend.Backend) {
	// with runs f on fresh zero tensors of the given shapes, freed after.
	with := func(f func(t ...*backend.Tensor), shapes ...[]int) func() {
		return func() {
			ts := make([]*backend.Tensor, len(shapes))
			for i, s := range shapes {
				ts[i] = b.New(s...)
				defer b.Free(ts[i])
			}
			f(ts...)
		}
	}
	type sh = []int
	cases := []struct {
		op, what string
		f        func()
	}{
		{"Upload", "3 values for (2, 2)", func() { b.Free(b.Upload(make([]float32, 3), 2, 2)) }},
		{"Download", "dst of 3 for 4", with(func(t ...*backend.Tensor) { b.Download(make([]float32, 3), t[0]) }, sh{4})},
		{"Reshape", "(2, 3) to (4, 2)", with(func(t ...*backend.Tensor) { b.Reshape(t[0], 4, 2) }, sh{2, 3})},
		{"Gemm", "inner dimensions 3 and 4", with(func(t ...*backend.Tensor) { b.Gemm(false, false, 1, t[0], t[1], 0, t[2]) }, sh{2, 3}, sh{4, 5}, sh{2, 5})},
		{"Gemm", "C rows", with(func(t ...*backend.Tensor) { b.Gemm(false, false, 1, t[0], t[1], 0, t[2]) }, sh{2, 3}, sh{3, 5}, sh{3, 5})},
		{"Gemm", "transposed A of the wrong shape", with(func(t ...*backend.Tensor) { b.Gemm(true, false, 1, t[0], t[1], 0, t[2]) }, sh{2, 3}, sh{3, 5}, sh{2, 5})},
		{"Gemm", "batch dimensions differ", with(func(t ...*backend.Tensor) { b.Gemm(false, false, 1, t[0], t[1], 0, t[2]) }, sh{3, 2, 3}, sh{2, 3, 5}, sh{2, 2, 5})},
		{"Gemm", "1-D C", with(func(t ...*backend.Tensor) { b.Gemm(false, false, 1, t[0], t[1], 0, t[2]) }, sh{1, 3}, sh{3, 5}, sh{5})},
		{"Copy", "lengths 6 and 5", with(func(t ...*backend.Tensor) { b.Copy(t[0], t[1]) }, sh{2, 3}, sh{5})},
		{"Add", "lengths 6 and 5", with(func(t ...*backend.Tensor) { b.Add(t[0], t[1]) }, sh{2, 3}, sh{5})},
		{"AddBias", "bias of 2 for rows of 3", with(func(t ...*backend.Tensor) { b.AddBias(t[0], t[1]) }, sh{2, 3}, sh{2})},
		{"AddBroadcast", "(T, W) of another T", with(func(t ...*backend.Tensor) { b.AddBroadcast(t[0], t[1]) }, sh{2, 3, 4}, sh{2, 4})},
		{"SumPerExample", "5 rows for 2 examples", with(func(t ...*backend.Tensor) { b.SumPerExample(t[0], t[1]) }, sh{2, 3}, sh{5, 3})},
		{"SumPerExample", "widths differ", with(func(t ...*backend.Tensor) { b.SumPerExample(t[0], t[1]) }, sh{2, 3}, sh{4, 4})},
		{"LayerNorm", "gamma of 3 for width 4", with(func(t ...*backend.Tensor) { b.LayerNorm(t[0], t[1], t[2], t[0], t[3], t[4], 1e-5) }, sh{2, 4}, sh{2}, sh{2}, sh{3}, sh{4})},
		{"LayerNorm", "mean of 3 for 2 rows", with(func(t ...*backend.Tensor) { b.LayerNorm(t[0], t[1], t[2], t[0], t[3], t[3], 1e-5) }, sh{2, 4}, sh{3}, sh{2}, sh{4})},
		{"LayerNormBack", "3 examples for 4 rows", with(func(t ...*backend.Tensor) {
			b.LayerNormBack(t[0], t[1], t[1], t[0], t[0], t[2], t[3], t[3])
		}, sh{4, 5}, sh{3, 5}, sh{5}, sh{4})},
		{"LayerNormBack", "dgamma width 4 for 5", with(func(t ...*backend.Tensor) {
			b.LayerNormBack(t[0], t[1], t[1], t[0], t[0], t[2], t[3], t[3])
		}, sh{4, 5}, sh{2, 4}, sh{5}, sh{4})},
		{"GELU", "lengths differ", with(func(t ...*backend.Tensor) { b.GELU(t[0], t[1], false) }, sh{4}, sh{5})},
		{"GELUBack", "lengths differ", with(func(t ...*backend.Tensor) { b.GELUBack(t[0], t[0], t[1], true) }, sh{4}, sh{5})},
		{"Softmax", "shapes differ", with(func(t ...*backend.Tensor) { b.Softmax(t[0], t[1], false) }, sh{2, 3, 3}, sh{2, 4, 4})},
		{"Softmax", "causal on 3 rows of 4", with(func(t ...*backend.Tensor) { b.Softmax(t[0], t[0], true) }, sh{3, 4})},
		{"SoftmaxBack", "shapes differ", with(func(t ...*backend.Tensor) { b.SoftmaxBack(t[0], t[0], t[1]) }, sh{2, 3, 3}, sh{2, 4, 4})},
		{"SplitQKV", "heads 3 for H = 2", with(func(t ...*backend.Tensor) { b.SplitQKV(t[0], t[0], t[0], t[1], 3) }, sh{1, 2, 3, 4}, sh{1, 3, 24})},
		{"SplitQKV", "qkv of width 2W", with(func(t ...*backend.Tensor) { b.SplitQKV(t[0], t[0], t[0], t[1], 2) }, sh{1, 2, 3, 4}, sh{1, 3, 16})},
		{"JoinQKV", "qkv of another T", with(func(t ...*backend.Tensor) { b.JoinQKV(t[1], t[0], t[0], t[0], 2) }, sh{1, 2, 3, 4}, sh{1, 4, 24})},
		{"MergeHeads", "dst width 7 for 2×4", with(func(t ...*backend.Tensor) { b.MergeHeads(t[1], t[0], 2) }, sh{1, 2, 3, 4}, sh{1, 3, 7})},
		{"SplitHeads", "heads 4 for H = 2", with(func(t ...*backend.Tensor) { b.SplitHeads(t[0], t[1], 4) }, sh{1, 2, 3, 4}, sh{1, 3, 8})},
		{"Patchify", "patch 3 for size 8", with(func(t ...*backend.Tensor) { b.Patchify(t[0], t[1], 3) }, sh{1, 4, 27}, sh{1, 3, 8, 8})},
		{"Patchify", "dst of the wrong grid", with(func(t ...*backend.Tensor) { b.Patchify(t[0], t[1], 2) }, sh{1, 9, 12}, sh{1, 3, 8, 8})},
		{"CopyTokens", "source rows beyond Ts", with(func(t ...*backend.Tensor) { b.CopyTokens(t[0], 0, t[1], 2, 3) }, sh{2, 5, 4}, sh{2, 4, 4})},
		{"CopyTokens", "widths differ", with(func(t ...*backend.Tensor) { b.CopyTokens(t[0], 0, t[1], 0, 1) }, sh{2, 5, 4}, sh{2, 5, 3})},
		{"SetToken", "token 5 of 5", with(func(t ...*backend.Tensor) { b.SetToken(t[0], 5, t[1]) }, sh{2, 5, 4}, sh{4})},
		{"Gather", "id 10 of 10", with(func(t ...*backend.Tensor) { b.Gather(t[0], t[1], []int32{0, 10}) }, sh{2, 4}, sh{10, 4})},
		{"Gather", "3 ids for 2 rows", with(func(t ...*backend.Tensor) { b.Gather(t[0], t[1], []int32{0, 1, 2}) }, sh{2, 4}, sh{10, 4})},
		{"GatherTokens", "position T", with(func(t ...*backend.Tensor) { b.GatherTokens(t[0], t[1], []int{0, 5}) }, sh{2, 4}, sh{2, 5, 4})},
		{"ScatterTokens", "1 position for 2 examples", with(func(t ...*backend.Tensor) { b.ScatterTokens(t[1], t[0], []int{0}) }, sh{2, 4}, sh{2, 5, 4})},
		{"L2Normalize", "norm of 3 for 2 rows", with(func(t ...*backend.Tensor) { b.L2Normalize(t[0], t[1], t[0], 1e-12) }, sh{2, 4}, sh{3})},
		{"L2NormalizeBack", "dy of another width", with(func(t ...*backend.Tensor) { b.L2NormalizeBack(t[0], t[1], t[0], t[2], 1e-12) }, sh{2, 4}, sh{2, 5}, sh{2})},
	}
	for _, c := range cases {
		r.Run(c.op+"/"+c.what, func(r reporter) { expectPanic(r, c.op, c.what, c.f) })
	}
}
