package clip

import (
	"fmt"

	"github.com/trak-dev/trak/internal/backend"
)

// EmbedEps is the epsilon of the embeddings' L2 normalisation.
const EmbedEps = 1e-12

// Batch is the input of one batch of image–caption pairs, in host memory.
type Batch struct {
	// Images holds N preprocessed images, N × 3 × S × S (S = image_size).
	Images []float32
	// Tokens holds N token sequences, N × context_length; the end-of-text
	// token is the highest id of each row.
	Tokens []int32
	N      int
}

func (m *Model) check(batch Batch) error {
	s, ctx := m.Config.Vision.ImageSize, m.Config.Text.ContextLength
	if batch.N < 1 {
		return fmt.Errorf("empty batch")
	}
	if len(batch.Images) != batch.N*3*s*s {
		return fmt.Errorf("batch of %d images holds %d values, want %d (3 × %d × %d each)", batch.N, len(batch.Images), batch.N*3*s*s, s, s)
	}
	if len(batch.Tokens) != batch.N*ctx {
		return fmt.Errorf("batch of %d captions holds %d tokens, want %d per caption", batch.N, len(batch.Tokens), ctx)
	}
	for i, id := range batch.Tokens {
		if id < 0 || int(id) >= m.Config.Text.VocabSize {
			return fmt.Errorf("caption %d: token id %d outside the vocabulary of %d", i/ctx, id, m.Config.Text.VocabSize)
		}
	}
	return nil
}

// EndOfText returns, for each caption, the position of its highest token
// id (the first one if it repeats): where the text tower pools.
func EndOfText(tokens []int32, n, ctx int) []int {
	pos := make([]int, n)
	for b := range n {
		row := tokens[b*ctx : (b+1)*ctx]
		best := 0
		for t, id := range row {
			if id > row[best] {
				best = t
			}
		}
		pos[b] = best
	}
	return pos
}

// headCache holds what the backward pass of a tower's head (pooling,
// final LayerNorm, projection, L2 normalisation) needs.
type headCache struct {
	pooled, mean, rstd, normed, emb, norm *backend.Tensor
	pos                                   []int
}

// towerCache holds a whole tower's forward state.
type towerCache struct {
	blocks []*blockCache
	head   headCache
	input  *backend.Tensor // vision: patches (B, G, 3PP)
	last   *backend.Tensor // output of the last block
}

// runBlocks applies a tower's blocks to x, keeping caches when keep.
func (m *Model) runBlocks(t *tower, x *backend.Tensor, keep bool, tc *towerCache) *backend.Tensor {
	for _, bp := range t.blocks {
		y, c := m.blockForward(t, bp, x, keep)
		if keep {
			tc.blocks = append(tc.blocks, c)
		} else {
			m.b.Free(x)
		}
		x = y
	}
	return x
}

// head pools x (B, T, W) at pos, applies the final LayerNorm (ln_post or
// ln_final: a row-wise operation, so normalising only the pooled token is
// the same as normalising all of them first) and the projection, and
// L2-normalises.
func (m *Model) head(x *backend.Tensor, pos []int, lnw, lnb, proj string, hc *headCache) *backend.Tensor {
	b := m.b
	B, W := x.Shape[0], x.Shape[2]
	e := m.Config.EmbedDim
	hc.pos = pos
	hc.pooled = b.New(B, W)
	b.GatherTokens(hc.pooled, x, pos)
	hc.normed, hc.mean, hc.rstd = b.New(B, W), b.New(B), b.New(B)
	b.LayerNorm(hc.normed, hc.mean, hc.rstd, hc.pooled, m.param(lnw), m.param(lnb), m.lnEps())
	hc.emb = b.New(B, e)
	b.Gemm(false, false, 1, hc.normed, m.param(proj), 0, hc.emb)
	y := b.New(B, e)
	hc.norm = b.New(B)
	b.L2Normalize(y, hc.norm, hc.emb, EmbedEps)
	return y
}

// headBackward delivers the head's per-example gradients given dy at the
// normalised embedding y, and returns the gradient at the tower's last
// tokens (B, T, W).
func (m *Model) headBackward(hc *headCache, y, dy *backend.Tensor, tokens int, lnw, lnb, proj string, g *gradOut) *backend.Tensor {
	b := m.b
	B, W := hc.pooled.Shape[0], hc.pooled.Shape[1]
	e := m.Config.EmbedDim
	demb := b.New(B, e)
	b.L2NormalizeBack(demb, dy, y, hc.norm, EmbedEps)
	// proj is (W, E), used as x·proj: example b's gradient is normedᵀ·demb.
	g.weight(m.index[proj], hc.normed, demb, B, 1)
	dnormed := b.New(B, W)
	b.Gemm(false, true, 1, demb, m.param(proj), 0, dnormed)
	dpooled := b.New(B, W)
	g.layerNorm(m.index[lnw], m.index[lnb], dpooled, dnormed, hc.pooled, hc.mean, hc.rstd, B)
	dx := b.New(B, tokens, W)
	b.ScatterTokens(dx, dpooled, hc.pos)
	for _, t := range []*backend.Tensor{demb, dnormed, dpooled, hc.pooled, hc.mean, hc.rstd, hc.normed, hc.emb, hc.norm} {
		b.Free(t)
	}
	return dx
}

// visionForward computes the normalised image embeddings φ (B, E).
func (m *Model) visionForward(images *backend.Tensor, keep bool, tc *towerCache) *backend.Tensor {
	b, c := m.b, m.Config
	B, P, G, W := images.Shape[0], c.Vision.PatchSize, c.Grid()*c.Grid(), c.Vision.Width
	T := c.VisionTokens()
	patches := b.New(B, G, 3*P*P)
	b.Patchify(patches, images, P)
	emb := b.New(B, G, W)
	b.Gemm(false, true, 1, b.Reshape(patches, B*G, 3*P*P), b.Reshape(m.param("visual.conv1.weight"), W, 3*P*P), 0, b.Reshape(emb, B*G, W))
	x := b.New(B, T, W)
	b.SetToken(x, 0, m.param("visual.class_embedding"))
	b.CopyTokens(x, 1, emb, 0, G)
	b.Free(emb)
	b.AddBroadcast(x, m.param("visual.positional_embedding"))
	xln := b.New(B, T, W)
	mean, rstd := b.New(B*T), b.New(B*T)
	b.LayerNorm(b.Reshape(xln, B*T, W), mean, rstd, b.Reshape(x, B*T, W), m.param("visual.ln_pre.weight"), m.param("visual.ln_pre.bias"), m.lnEps())
	if keep {
		tc.input = patches
		tc.blocks = append(tc.blocks, &blockCache{x: x, mean1: mean, rstd1: rstd, batch: B, tokens: T, width: W})
	} else {
		b.Free(patches)
		b.Free(x)
		b.Free(mean)
		b.Free(rstd)
	}
	out := m.runBlocks(&m.vision, xln, keep, tc)
	y := m.head(out, make([]int, B), "visual.ln_post.weight", "visual.ln_post.bias", "visual.proj", &tc.head)
	if keep {
		tc.last = out
	} else {
		b.Free(out)
		m.freeHead(&tc.head)
	}
	return y
}

func (m *Model) freeHead(hc *headCache) {
	for _, t := range []*backend.Tensor{hc.pooled, hc.mean, hc.rstd, hc.normed, hc.emb, hc.norm} {
		m.b.Free(t)
	}
}

// visionBackward delivers every vision parameter's per-example gradient,
// given dφ.
func (m *Model) visionBackward(tc *towerCache, phi, dphi *backend.Tensor, g *gradOut) {
	b, c := m.b, m.Config
	B, P, G, W := phi.Shape[0], c.Vision.PatchSize, c.Grid()*c.Grid(), c.Vision.Width
	T := c.VisionTokens()
	dx := m.headBackward(&tc.head, phi, dphi, T, "visual.ln_post.weight", "visual.ln_post.bias", "visual.proj", g)
	b.Free(tc.last)
	for i := len(m.vision.blocks) - 1; i >= 0; i-- {
		cache := tc.blocks[i+1] // blocks[0] holds ln_pre's state
		ndx := m.blockBackward(&m.vision, m.vision.blocks[i], cache, dx, g)
		b.Free(dx)
		b.Free(cache.x)
		dx = ndx
	}
	pre := tc.blocks[0]
	dx0 := b.New(B, T, W)
	g.layerNorm(m.index["visual.ln_pre.weight"], m.index["visual.ln_pre.bias"], b.Reshape(dx0, B*T, W), b.Reshape(dx, B*T, W), b.Reshape(pre.x, B*T, W), pre.mean1, pre.rstd1, B)
	b.Free(dx)
	b.Free(pre.x)
	b.Free(pre.mean1)
	b.Free(pre.rstd1)
	g.emit(m.index["visual.positional_embedding"], dx0)
	dcls := b.New(B, W)
	b.GatherTokens(dcls, dx0, make([]int, B))
	g.emit(m.index["visual.class_embedding"], dcls)
	b.Free(dcls)
	demb := b.New(B, G, W)
	b.CopyTokens(demb, 0, dx0, 1, G)
	b.Free(dx0)
	g.weight(m.index["visual.conv1.weight"], b.Reshape(demb, B*G, W), b.Reshape(tc.input, B*G, 3*P*P), B, G)
	b.Free(demb)
	b.Free(tc.input)
}

// textForward computes the normalised text embeddings ψ (B, E).
func (m *Model) textForward(tokens []int32, B int, keep bool, tc *towerCache) *backend.Tensor {
	b, c := m.b, m.Config
	T, W := c.Text.ContextLength, c.Text.Width
	x := b.New(B, T, W)
	b.Gather(b.Reshape(x, B*T, W), m.param("token_embedding.weight"), tokens)
	b.AddBroadcast(x, m.param("positional_embedding"))
	out := m.runBlocks(&m.text, x, keep, tc)
	y := m.head(out, EndOfText(tokens, B, T), "ln_final.weight", "ln_final.bias", "text_projection", &tc.head)
	if keep {
		tc.last = out
	} else {
		b.Free(out)
		m.freeHead(&tc.head)
	}
	return y
}

// textBackward delivers every text parameter's per-example gradient, given dψ.
func (m *Model) textBackward(tc *towerCache, tokens []int32, psi, dpsi *backend.Tensor, g *gradOut) {
	b, c := m.b, m.Config
	B, T := psi.Shape[0], c.Text.ContextLength
	dx := m.headBackward(&tc.head, psi, dpsi, T, "ln_final.weight", "ln_final.bias", "text_projection", g)
	b.Free(tc.last)
	for i := len(m.text.blocks) - 1; i >= 0; i-- {
		cache := tc.blocks[i]
		ndx := m.blockBackward(&m.text, m.text.blocks[i], cache, dx, g)
		b.Free(dx)
		b.Free(cache.x)
		dx = ndx
	}
	g.emit(m.index["positional_embedding"], dx)
	g.embeddingRows(m.index["token_embedding.weight"], dx, tokens, B, T)
	b.Free(dx)
}
