package clip

import (
	"slices"

	"github.com/trak-dev/trak/internal/backend"
)

// gradOut computes per-example parameter gradients on the backend and
// delivers them to a sink.
type gradOut struct {
	m    *Model
	sink GradSink
	host []float32 // staging for the sink, which reads host memory
}

// weight delivers the per-example gradient of a linear layer's weight
// (out × in): example b's is Σ_t d[b,t]ᵀ x[b,t], one batched GEMM, where d
// (B·T, out) is the gradient at the layer's output and x (B·T, in) its
// input. For a projection used as x·P (P of shape in × out), pass the two
// the other way round: P's gradient is Σ_t x[b,t]ᵀ d[b,t].
func (g *gradOut) weight(param int, d, x *backend.Tensor, batch, tokens int) {
	b := g.m.b
	out, in := d.Cols(), x.Cols()
	gw := b.New(batch, out, in)
	b.Gemm(true, false, 1, b.Reshape(d, batch, tokens, out), b.Reshape(x, batch, tokens, in), 0, gw)
	g.emit(param, gw)
	b.Free(gw)
}

// bias delivers the per-example gradient of a bias: Σ_t d[b,t].
func (g *gradOut) bias(param int, d *backend.Tensor, batch int) {
	b := g.m.b
	gb := b.New(batch, d.Cols())
	b.SumPerExample(gb, b.Reshape(d, d.Rows(), d.Cols()))
	g.emit(param, gb)
	b.Free(gb)
}

// layerNorm backpropagates through a LayerNorm (dx from dy) and delivers
// the per-example gradients of its weight and bias.
func (g *gradOut) layerNorm(pw, pb int, dx, dy, x, mean, rstd *backend.Tensor, batch int) {
	b := g.m.b
	w := x.Cols()
	dg, db := b.New(batch, w), b.New(batch, w)
	b.LayerNormBack(dx, dg, db, dy, x, g.m.w[pw], mean, rstd)
	g.emit(pw, dg)
	g.emit(pb, db)
	b.Free(dg)
	b.Free(db)
}

// emit delivers t, which holds one gradient row per example for the whole
// of parameter param, to the sink.
func (g *gradOut) emit(param int, t *backend.Tensor) {
	p := g.m.params[param]
	n := p.Len()
	buf := g.buffer(t.Len())
	g.m.b.Download(buf, t)
	g.sink.Add(p.Offset, n, buf, n)
}

func (g *gradOut) buffer(n int) []float32 {
	if cap(g.host) < n {
		g.host = make([]float32, n)
	}
	return g.host[:n]
}

// embeddingRows delivers the per-example gradient of the token embedding
// table (V, W): example b's row v is Σ over positions t with ids[b,t] = v of
// dx[b,t]. Only rows that some example uses are delivered, in ascending
// order; the others are zero for every example. This works on host memory,
// where the sink reads it.
func (g *gradOut) embeddingRows(param int, dx *backend.Tensor, ids []int32, batch, tokens int) {
	p := g.m.params[param]
	w := p.Shape[1]
	grad := make([]float32, dx.Len())
	g.m.b.Download(grad, dx)
	used := map[int32]bool{}
	for _, id := range ids {
		used[id] = true
	}
	rows := make([]int32, 0, len(used))
	for id := range used {
		rows = append(rows, id)
	}
	slices.Sort(rows)
	block := g.buffer(batch * w)
	for _, id := range rows {
		clear(block)
		for bi := range batch {
			dst := block[bi*w : (bi+1)*w]
			for t := range tokens {
				if ids[bi*tokens+t] != id {
					continue
				}
				src := grad[(bi*tokens+t)*w : (bi*tokens+t+1)*w]
				for j, v := range src {
					dst[j] += v
				}
			}
		}
		g.sink.Add(p.Offset+int64(id)*int64(w), w, block, w)
	}
}
