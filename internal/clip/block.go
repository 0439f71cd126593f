package clip

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// blockCache holds what a residual block's backward pass needs from its
// forward pass.
type blockCache struct {
	x, mean1, rstd1, h1  *backend.Tensor
	q, k, v, p, merged   *backend.Tensor
	x2, mean2, rstd2, h2 *backend.Tensor
	f, a                 *backend.Tensor
	batch, tokens, width int
}

func (c *blockCache) free(b backend.Backend) {
	for _, t := range []*backend.Tensor{c.mean1, c.rstd1, c.h1, c.q, c.k, c.v, c.p, c.merged, c.x2, c.mean2, c.rstd2, c.h2, c.f, c.a} {
		if t != nil {
			b.Free(t)
		}
	}
}

// blockForward returns the block's output for x (B, T, W):
//
//	x2 = x + out_proj(attention(ln_1(x)))
//	y  = x2 + c_proj(act(c_fc(ln_2(x2))))
//
// with scaled dot-product attention over H heads (causal in the text
// tower). With keep, it also returns the cache for blockBackward; x must
// then stay alive until blockBackward has run.
func (m *Model) blockForward(t *tower, bp blockParams, x *backend.Tensor, keep bool) (*backend.Tensor, *blockCache) {
	b := m.b
	B, T, W := x.Shape[0], x.Shape[1], x.Shape[2]
	H, N := t.heads, x.Shape[0]*x.Shape[1]
	hd := W / H
	c := &blockCache{x: x, batch: B, tokens: T, width: W}
	x2d := b.Reshape(x, N, W)

	c.h1, c.mean1, c.rstd1 = b.New(N, W), b.New(N), b.New(N)
	b.LayerNorm(c.h1, c.mean1, c.rstd1, x2d, m.w[bp.ln1w], m.w[bp.ln1b], m.lnEps())
	qkv := b.New(N, 3*W)
	b.Gemm(false, true, 1, c.h1, m.w[bp.inW], 0, qkv)
	b.AddBias(qkv, m.w[bp.inB])
	c.q, c.k, c.v = b.New(B*H, T, hd), b.New(B*H, T, hd), b.New(B*H, T, hd)
	b.SplitQKV(b.Reshape(c.q, B, H, T, hd), b.Reshape(c.k, B, H, T, hd), b.Reshape(c.v, B, H, T, hd), b.Reshape(qkv, B, T, 3*W), H)
	b.Free(qkv)
	scores := b.New(B*H, T, T)
	b.Gemm(false, true, attentionScale(hd), c.q, c.k, 0, scores)
	c.p = b.New(B*H, T, T)
	b.Softmax(c.p, scores, t.causal)
	b.Free(scores)
	o := b.New(B*H, T, hd)
	b.Gemm(false, false, 1, c.p, c.v, 0, o)
	c.merged = b.New(N, W)
	b.MergeHeads(b.Reshape(c.merged, B, T, W), b.Reshape(o, B, H, T, hd), H)
	b.Free(o)
	c.x2 = b.New(N, W)
	b.Gemm(false, true, 1, c.merged, m.w[bp.outW], 0, c.x2)
	b.AddBias(c.x2, m.w[bp.outB])
	b.Add(c.x2, x2d)

	c.h2, c.mean2, c.rstd2 = b.New(N, W), b.New(N), b.New(N)
	b.LayerNorm(c.h2, c.mean2, c.rstd2, c.x2, m.w[bp.ln2w], m.w[bp.ln2b], m.lnEps())
	c.f = b.New(N, t.mlp)
	b.Gemm(false, true, 1, c.h2, m.w[bp.fcW], 0, c.f)
	b.AddBias(c.f, m.w[bp.fcB])
	c.a = b.New(N, t.mlp)
	b.GELU(c.a, c.f, m.Config.QuickGELU)
	y := b.New(B, T, W)
	y2d := b.Reshape(y, N, W)
	b.Gemm(false, true, 1, c.a, m.w[bp.projW], 0, y2d)
	b.AddBias(y2d, m.w[bp.projB])
	b.Add(y2d, c.x2)
	if !keep {
		c.free(b)
		return y, nil
	}
	return y, c
}

// blockBackward takes dy, the gradient of the loss with respect to the
// block's output, delivers the per-example gradients of the block's twelve
// parameters to g, frees the cache and returns the gradient with respect to
// the block's input.
func (m *Model) blockBackward(t *tower, bp blockParams, c *blockCache, dy *backend.Tensor, g *gradOut) *backend.Tensor {
	b := m.b
	B, T, W, H := c.batch, c.tokens, c.width, t.heads
	N, hd := B*T, W/H
	dy2d := b.Reshape(dy, N, W)

	// MLP: y = x2 + a·c_projᵀ + b_proj, a = act(f), f = h2·c_fcᵀ + b_fc.
	g.weight(bp.projW, dy, c.a, B, T)
	g.bias(bp.projB, dy2d, B)
	da := b.New(N, t.mlp)
	b.Gemm(false, false, 1, dy2d, m.w[bp.projW], 0, da)
	df := b.New(N, t.mlp)
	b.GELUBack(df, da, c.f, m.Config.QuickGELU)
	b.Free(da)
	g.weight(bp.fcW, df, c.h2, B, T)
	g.bias(bp.fcB, df, B)
	dh2 := b.New(N, W)
	b.Gemm(false, false, 1, df, m.w[bp.fcW], 0, dh2)
	b.Free(df)
	dx2 := b.New(N, W)
	g.layerNorm(bp.ln2w, bp.ln2b, dx2, dh2, c.x2, c.mean2, c.rstd2, B)
	b.Free(dh2)
	b.Add(dx2, dy2d)

	// Attention: x2 = x + merged·out_projᵀ + b_out.
	g.weight(bp.outW, dx2, c.merged, B, T)
	g.bias(bp.outB, dx2, B)
	dmerged := b.New(N, W)
	b.Gemm(false, false, 1, dx2, m.w[bp.outW], 0, dmerged)
	do := b.New(B*H, T, hd)
	b.SplitHeads(b.Reshape(do, B, H, T, hd), b.Reshape(dmerged, B, T, W), H)
	b.Free(dmerged)
	dp := b.New(B*H, T, T)
	b.Gemm(false, true, 1, do, c.v, 0, dp)
	dv := b.New(B*H, T, hd)
	b.Gemm(true, false, 1, c.p, do, 0, dv)
	b.Free(do)
	ds := b.New(B*H, T, T)
	b.SoftmaxBack(ds, dp, c.p)
	b.Free(dp)
	scale := attentionScale(hd)
	dq, dk := b.New(B*H, T, hd), b.New(B*H, T, hd)
	b.Gemm(false, false, scale, ds, c.k, 0, dq)
	b.Gemm(true, false, scale, ds, c.q, 0, dk)
	b.Free(ds)
	dqkv := b.New(N, 3*W)
	b.JoinQKV(b.Reshape(dqkv, B, T, 3*W), b.Reshape(dq, B, H, T, hd), b.Reshape(dk, B, H, T, hd), b.Reshape(dv, B, H, T, hd), H)
	b.Free(dq)
	b.Free(dk)
	b.Free(dv)
	g.weight(bp.inW, dqkv, c.h1, B, T)
	g.bias(bp.inB, dqkv, B)
	dh1 := b.New(N, W)
	b.Gemm(false, false, 1, dqkv, m.w[bp.inW], 0, dh1)
	b.Free(dqkv)
	dx := b.New(B, T, W)
	g.layerNorm(bp.ln1w, bp.ln1b, b.Reshape(dx, N, W), dh1, b.Reshape(c.x, N, W), c.mean1, c.rstd1, B)
	b.Free(dh1)
	b.Add(dx, dx2)
	b.Free(dx2)
	c.free(b)
	return dx
}

// attentionScale is 1/√(head width), rounded to float32.
func attentionScale(hd int) float32 { return float32(1 / math.Sqrt(float64(hd))) }
