// Package backend defines the compute interface that the CLIP model is
// written against, so that one model definition runs on several devices.
// Two packages implement it, in the same role:
//
//   - internal/backend/cpu, on the host;
//   - internal/gpu, on an NVIDIA GPU through CUDA, compiled only with the
//     cuda build tag (the trak-cuda binary).
//
// A program chooses its backend once, by device name, with
// internal/backend/device's Open, and hands it to everything that computes;
// nothing else names an implementation. internal/backend/backendtest is the
// conformance suite every implementation runs.
//
// A Tensor is a dense, row-major float32 array owned by a backend. The model
// reads shapes, never elements: every computation goes through a Backend
// method. Shape errors are programmer errors and panic with a "backend: "
// prefix; numerical edge cases (zero variance, −Inf logits) are defined per
// method.
//
// Conventions used in the method docs: N is a number of rows (the product
// of all but the last dimension), B the number of examples in a batch, T
// tokens per example, W a width, H attention heads, hd = W/H the head width.
// A tensor of shape (B, T, W) holds example b's token t at
// [(b·T + t)·W, (b·T + t + 1)·W). "Rows of example b" are the N/B
// consecutive rows [b·N/B, (b+1)·N/B).
package backend

import (
	"fmt"

	"github.com/trak-dev/trak/internal/projection"
)

// Tensor is a dense row-major float32 array on a backend's device. Storage
// is the backend's own (a []float32 on the CPU); Reshape gives another
// Tensor over the same storage.
type Tensor struct {
	Shape   []int
	Storage any
}

// Len returns the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Rows returns the product of all but the last dimension.
func (t *Tensor) Rows() int { return t.Len() / t.Cols() }

// Cols returns the last dimension (1 for a scalar).
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// MemInfo describes a device's memory, in bytes.
type MemInfo struct{ Free, Total uint64 }

// Backend computes on one device. All methods are synchronous from the
// caller's point of view: when a method returns, its outputs are ready for
// the next method (a GPU backend may queue work on one stream, which has the
// same effect).
type Backend interface {
	// Name identifies the backend and its device, e.g. "cpu (gonum, 8 threads)".
	Name() string
	// MemInfo reports the device memory (for the CPU: the machine's).
	MemInfo() MemInfo

	// New returns a zeroed tensor of the given shape.
	New(shape ...int) *Tensor
	// Upload returns a tensor holding a copy of data (len = product of shape).
	Upload(data []float32, shape ...int) *Tensor
	// Download copies t into dst (len(dst) == t.Len()).
	Download(dst []float32, t *Tensor)
	// Free releases t's storage; t must not be used afterwards. Views made
	// with Reshape share the storage and die with it.
	Free(t *Tensor)
	// Reshape returns a view of t with another shape of the same length.
	Reshape(t *Tensor, shape ...int) *Tensor

	// Gemm computes C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i] for each
	// batch index i, where op transposes when tA (tB) is set. C has shape
	// (batch..., m, n); A has shape (batch..., m, k), or (batch..., k, m)
	// when tA, or no batch dimensions at all, in which case the same A is
	// used for every i (weights); likewise B with (k, n) or (n, k) when tB.
	// With beta = 0, C's previous content is ignored (NaN does not leak).
	Gemm(tA, tB bool, alpha float32, a, b *Tensor, beta float32, c *Tensor)

	// Copy sets dst = src (same length).
	Copy(dst, src *Tensor)
	// Add sets dst += src (same length).
	Add(dst, src *Tensor)
	// Scale sets dst *= alpha.
	Scale(dst *Tensor, alpha float32)
	// AddBias adds the vector bias (length n) to every row of dst (…, n).
	AddBias(dst, bias *Tensor)
	// AddBroadcast adds src (shape S) to every example of dst (B, S...):
	// dst[b] += src for each b (positional embeddings).
	AddBroadcast(dst, src *Tensor)
	// SumPerExample sets dst[b, j] = Σ over the rows r of example b of
	// src[r, j]; dst is (B, n), src is (N, n) with N a multiple of B
	// (per-example bias gradients).
	SumPerExample(dst, src *Tensor)

	// LayerNorm normalises each row of x (N, W):
	// y = (x − mean)·rstd·gamma + beta, mean and rstd = 1/√(var + eps)
	// over the row (biased variance), stored in mean and rstd (N).
	LayerNorm(y, mean, rstd, x, gamma, beta *Tensor, eps float32)
	// LayerNormBack sets dx (N, W) to the gradient of the loss with
	// respect to x, given dy; and dgamma, dbeta (B, W) to the per-example
	// gradients Σ_{rows of example b} dy·x̂ and Σ dy, x̂ = (x − mean)·rstd.
	LayerNormBack(dx, dgamma, dbeta, dy, x, gamma, mean, rstd *Tensor)

	// GELU sets y = act(x) elementwise: exact GELU x·Φ(x) (erf), or
	// QuickGELU x·σ(1.702x) when quick.
	GELU(y, x *Tensor, quick bool)
	// GELUBack sets dx = dy·act'(x).
	GELUBack(dx, dy, x *Tensor, quick bool)

	// Softmax sets each row of y (…, T, T) to softmax of the row of x.
	// With causal, entries of row i (the query position i = row mod T) at
	// columns j > i are treated as −∞ and come out exactly 0.
	Softmax(y, x *Tensor, causal bool)
	// SoftmaxBack sets dx = y ⊙ (dy − Σ_row dy ⊙ y) row by row.
	SoftmaxBack(dx, dy, y *Tensor)

	// SplitQKV splits qkv (B, T, 3W), whose last dimension holds q, then k,
	// then v (each H heads of hd), into q, k, v of shape (B, H, T, hd).
	SplitQKV(q, k, v, qkv *Tensor, heads int)
	// JoinQKV is the inverse of SplitQKV: it writes dq, dk, dv (B, H, T, hd)
	// into dqkv (B, T, 3W).
	JoinQKV(dqkv, dq, dk, dv *Tensor, heads int)
	// MergeHeads sets dst (B, T, W) from src (B, H, T, hd).
	MergeHeads(dst, src *Tensor, heads int)
	// SplitHeads is the inverse of MergeHeads: dst (B, H, T, hd) from
	// src (B, T, W).
	SplitHeads(dst, src *Tensor, heads int)

	// Patchify cuts images (B, 3, S, S) into non-overlapping P×P patches in
	// row-major patch order, each flattened as (channel, row, col):
	// dst is (B, (S/P)², 3·P·P).
	Patchify(dst, images *Tensor, patch int)
	// CopyTokens copies, for every example b, rows [srcT0, srcT0+n) of
	// src (B, Ts, W) into rows [dstT0, dstT0+n) of dst (B, Td, W).
	CopyTokens(dst *Tensor, dstT0 int, src *Tensor, srcT0, n int)
	// SetToken sets row t of every example of dst (B, T, W) to v (W).
	SetToken(dst *Tensor, t int, v *Tensor)
	// Gather sets row r of dst (N, W) to row ids[r] of table (V, W).
	Gather(dst, table *Tensor, ids []int32)
	// GatherBack is Gather's per-example adjoint for some rows of the
	// table: for src (B, T, W), ids (B·T) and R distinct row ids rows, it
	// sets dst[b, i] (dst is (B, R, W)) to the sum of src[b, t] over the
	// tokens t of example b with ids[b·T + t] = rows[i], zero where there
	// is none (per-example token-embedding gradients).
	GatherBack(dst, src *Tensor, ids, rows []int32)
	// GatherTokens sets dst[b] = src[b, pos[b]] for src (B, T, W), dst (B, W).
	GatherTokens(dst, src *Tensor, pos []int)
	// ScatterTokens is GatherTokens' adjoint: dst (B, T, W) is zeroed, then
	// dst[b, pos[b]] = src[b].
	ScatterTokens(dst, src *Tensor, pos []int)

	// L2Normalize sets each row of y (N, W) to x/max(‖x‖, eps) and norm to
	// the row norms ‖x‖ (N).
	L2Normalize(y, norm, x *Tensor, eps float32)
	// L2NormalizeBack sets dx = (dy − y·(y·dy))/max(‖x‖, eps) row by row
	// (for rows with ‖x‖ < eps, dx = dy/eps).
	L2NormalizeBack(dx, dy, y, norm *Tensor, eps float32)

	// NewProjection returns a Projection that accumulates p's Pᵀg for
	// batches of up to batch (≥ 1) examples whose gradients are tensors of
	// this backend, with p's definition of the result (see package
	// projection: bit-identical whatever the delivery order, chunking,
	// sparsity or batch position). Close it when done.
	NewProjection(p *projection.Projector, batch int) Projection
}

// GradSink receives the per-example gradients of a batch as tensors of the
// backend that computed them, one parameter tensor (or part of one) at a
// time, during the backward pass. Within a batch each parameter is
// delivered at most once, in any order; parameters never delivered have
// zero gradient. A sink reads g during the call and does not keep it.
type GradSink interface {
	// Add takes the gradients of parameters [offset, offset+n): g's first
	// dimension is the example b, and the rest of its row, flattened
	// row-major, is example b's gradient of those n = g.Len()/B
	// parameters.
	Add(offset int64, g *Tensor)
	// AddRows takes some rows of a parameter matrix of rows width long
	// that starts at parameter offset (an embedding table): g's first
	// dimension is the example b, and its row b, len(rows)·width values
	// flattened row-major (g may be (B, len(rows), width)), holds at
	// [i·width, (i+1)·width) example b's gradient of the matrix's row
	// rows[i], that is of parameters [offset + rows[i]·width,
	// offset + (rows[i]+1)·width).
	// rows are distinct; the rows not given are zero.
	AddRows(offset int64, width int, rows []int32, g *Tensor)
}

// Projection computes the projected features Pᵀg of a batch of examples on
// the device that holds their gradients, so that the gradients never
// leave it: only the features, Batch() × k, are copied to the host, by
// Finish. It mirrors projection.Accumulator, which is the CPU backend's
// implementation: deliver the batch's gradients (GradSink), then Finish;
// Reset abandons a batch. Shape errors panic with a "backend: " prefix.
// A Projection is not safe for concurrent use.
type Projection interface {
	GradSink
	// Batch returns the number of examples of the current batch.
	Batch() int
	// SetBatch sets the number of examples of the next batch, between 1
	// and the batch the Projection was made for; not in the middle of a
	// batch.
	SetBatch(batch int)
	// Finish writes the batch's features, example b's k values at
	// out[b·outStride:], and readies the Projection for the next batch.
	Finish(out []float32, outStride int)
	// Reset abandons the current batch: what was delivered is discarded.
	Reset()
	// Close releases the Projection's resources (goroutines, device
	// memory); it may be called more than once.
	Close()
}
