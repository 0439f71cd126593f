package clip

import (
	"slices"

	"github.com/trak-dev/trak/internal/backend"
)

// gradOut computes per-example parameter gradients on the backend and
// delivers them, as backend tensors, to a sink.
type gradOut struct {
	m    *Model
	sink backend.GradSink
}

// weight delivers the per-example gradient of a linear layer's weight
// (out × in): example b's is Σ_t d[b,t]ᵀ x[b,t], a batched GEMM, where d
// (B·T, out) is the gradient at the layer's output and x (B·T, in) its
// input. For a projection used as x·P (P of shape in × out), pass the two
// the other way round: P's gradient is Σ_t x[b,t]ᵀ d[b,t].
//
// The B × out × in gradient is the largest tensor of the backward pass
// (ViT-B-32's MLP at batch 16: 151 MB), so when it exceeds the model's
// gradChunk elements it is computed and delivered a block of rows at a
// time: rows [r0, r0+r) of every example's gradient are parameters
// [offset + r0·in, offset + (r0+r)·in), d's columns [r0, r0+r) times x.
// Each row is the same GEMM row either way (the k = T terms of an element
// are summed in the same order whatever the number of rows), so the
// gradients do not change, only the size of the blocks the sink sees.
func (g *gradOut) weight(param int, d, x *backend.Tensor, batch, tokens int) {
	b := g.m.b
	out, in := d.Cols(), x.Cols()
	d3, x3 := b.Reshape(d, batch, tokens, out), b.Reshape(x, batch, tokens, in)
	rows := chunkRows(out, batch*in, g.m.gradChunk)
	if rows == out {
		gw := b.New(batch, out, in)
		b.Gemm(true, false, 1, d3, x3, 0, gw)
		g.emit(param, gw)
		b.Free(gw)
		return
	}
	// d's columns, in chunks of rows: split[b, h] = d[b, :, h·rows:(h+1)·rows].
	chunks := out / rows
	split := b.New(batch, chunks, tokens, rows)
	b.SplitHeads(split, d3, chunks)
	byChunk := b.Reshape(split, batch, chunks*tokens, rows)
	dc, gw := b.New(batch, tokens, rows), b.New(batch, rows, in)
	offset := g.m.params[param].Offset
	for h := range chunks {
		b.CopyTokens(dc, 0, byChunk, h*tokens, tokens)
		b.Gemm(true, false, 1, dc, x3, 0, gw)
		g.sink.Add(offset+int64(h*rows*in), gw)
	}
	b.Free(gw)
	b.Free(dc)
	b.Free(split)
}

// chunkRows returns the rows of a weight gradient block: out when the whole
// gradient (out rows of rowElems elements over the batch) has at most limit
// elements, otherwise the largest divisor of out whose block does, or out
// again when that divisor would be under 16 rows (blocks too thin to be
// worth it).
func chunkRows(out, rowElems, limit int) int {
	if out*rowElems <= limit {
		return out
	}
	best := 0
	for r := 1; r < out; r++ {
		if out%r == 0 && r*rowElems <= limit {
			best = r
		}
	}
	if best < 16 {
		return out
	}
	return best
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

// emit delivers t, whose first dimension is the example and whose rows
// hold the gradient of the whole of parameter param, to the sink.
func (g *gradOut) emit(param int, t *backend.Tensor) {
	g.sink.Add(g.m.params[param].Offset, t)
}

// embeddingRows delivers the per-example gradient of the token embedding
// table (V, W): example b's row v is Σ over positions t with ids[b,t] = v of
// dx[b,t] (B, T, W). Only the rows that some example uses are delivered, in
// ascending order, in one AddRows; the others are zero for every example.
func (g *gradOut) embeddingRows(param int, dx *backend.Tensor, ids []int32, batch, tokens int) {
	b := g.m.b
	p := g.m.params[param]
	w := p.Shape[1]
	used := map[int32]bool{}
	for _, id := range ids {
		used[id] = true
	}
	rows := make([]int32, 0, len(used))
	for id := range used {
		rows = append(rows, id)
	}
	slices.Sort(rows)
	t := b.New(batch, len(rows), w)
	b.GatherBack(t, b.Reshape(dx, batch, tokens, w), ids, rows)
	g.sink.AddRows(p.Offset, w, rows, t)
	b.Free(t)
}

// hostSink hands the gradients that arrive as backend tensors to a host
// GradSink, downloading each block; the calls it makes are those the
// model made before gradients stayed on the device.
type hostSink struct {
	b     backend.Backend
	sink  GradSink
	host  []float32 // the block downloaded
	block []float32 // one row of an AddRows per example, B × width
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

func (h *hostSink) Add(offset int64, g *backend.Tensor) {
	h.host = grow(h.host, g.Len())
	h.b.Download(h.host, g)
	n := g.Len() / g.Shape[0]
	h.sink.Add(offset, n, h.host, n)
}

func (h *hostSink) AddRows(offset int64, width int, rows []int32, g *backend.Tensor) {
	h.host = grow(h.host, g.Len())
	h.b.Download(h.host, g)
	batch, stride := g.Shape[0], g.Len()/g.Shape[0]
	h.block = grow(h.block, batch*width)
	for i, r := range rows {
		for b := range batch {
			copy(h.block[b*width:(b+1)*width], h.host[b*stride+i*width:])
		}
		h.sink.Add(offset+int64(r)*int64(width), width, h.block, width)
	}
}
