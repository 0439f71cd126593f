package cpu

import (
	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/projection"
)

// NewProjection returns a Projection that feeds the tensors' own storage,
// without a copy, to a projection.Accumulator (its workers are p's).
func (be *Backend) NewProjection(p *projection.Projector, batch int) backend.Projection {
	return &hostProjection{acc: p.NewAccumulatorKernel(batch, be.gemm.Kernel())}
}

// hostProjection is backend.Projection on the host: a
// projection.Accumulator reading the gradients where they lie.
type hostProjection struct {
	acc *projection.Accumulator
}

// rows returns g's elements and its row length n, panicking unless g holds
// one row per example of the batch.
func (h *hostProjection) rows(op string, g *backend.Tensor) ([]float32, int) {
	s := data(op, "g", g)
	b := h.acc.Batch()
	if len(g.Shape) == 0 || g.Shape[0] != b {
		panicf(op, "g %v has not one row per example of the batch of %d", g, b)
	}
	return s, len(s) / b
}

func (h *hostProjection) Add(offset int64, g *backend.Tensor) {
	s, n := h.rows("Projection.Add", g)
	h.acc.Add(offset, n, s, n)
}

func (h *hostProjection) AddRows(offset int64, width int, rows []int32, g *backend.Tensor) {
	s, n := h.rows("Projection.AddRows", g)
	if width < 1 || n != len(rows)*width {
		panicf("Projection.AddRows", "g %v for %d rows of width %d", g, len(rows), width)
	}
	for i, r := range rows {
		h.acc.Add(offset+int64(r)*int64(width), width, s[i*width:], n)
	}
}

func (h *hostProjection) Batch() int                          { return h.acc.Batch() }
func (h *hostProjection) SetBatch(batch int)                  { h.acc.SetBatch(batch) }
func (h *hostProjection) Finish(out []float32, outStride int) { h.acc.Finish(out, outStride) }
func (h *hostProjection) Reset()                              { h.acc.Reset() }
func (h *hostProjection) Close()                              { h.acc.Close() }
