// Package cpu implements backend.Backend on the host: a Tensor's Storage is
// a []float32 in Go memory, matrix products go through internal/gemm (Go
// assembly micro-kernels chosen from the CPU's features, no cgo), and every
// other kernel is a plain Go loop.
//
// # Numerics
//
// Inputs and outputs are float32; kernels that reduce a row accumulate in
// float64 and round once at the end: LayerNorm's mean and (two-pass,
// biased) variance, softmax's sum of exponentials and SoftmaxBack's Σ dy·y,
// L2 norms and dot products, LayerNormBack's row means and per-example
// dgamma/dbeta sums, SumPerExample. Elementwise activations are evaluated
// in float64 (math.Erfc, math.Exp) and rounded, so GELU, QuickGELU and
// their derivatives are within one float32 rounding of the exact value.
// Gemm accumulates in float32 with fused multiply-adds in the fixed order of
// internal/gemm's numeric contract.
//
// # Parallelism and determinism
//
// A Backend made with New(threads) splits row-wise and elementwise kernels
// into at most threads contiguous chunks of rows (or elements), one
// goroutine each, once a kernel touches at least 64Ki elements; smaller
// calls run on the calling goroutine. A row is always computed by one
// goroutine with the same arithmetic in the same order, and per-example or
// per-column sums are split along boundaries that do not depend on threads,
// so every output is bitwise identical whatever threads is. Gemm splits
// only over rows and columns of C (or over batch items), never over the sum,
// and internal/gemm's kernels all compute the same bits, so a product is
// identical whatever threads and whatever kernel (TRAK_GEMM_KERNEL) too.
//
// # Aliasing
//
// The backend interface does not say whether an output may share storage
// with an input, so portable callers must not rely on it. This backend
// computes elementwise kernels (Copy, Add, Scale, AddBias, GELU, GELUBack)
// and the row kernels (LayerNorm, LayerNormBack's dx, Softmax,
// SoftmaxBack, L2Normalize, L2NormalizeBack) so that an output may be the
// very tensor of an input of the same shape; the layout kernels and Gemm
// need distinct storage.
//
// # Memory
//
// Tensor storage comes from a free list that belongs to the Backend (see
// pool.go): Free returns it and New reuses it, zeroed, so that a model
// running batch after batch of the same shapes allocates nothing after the
// first; the list never holds more than twice the peak of live tensor
// storage less the live storage. MemStats reports the
// live, peak and pooled bytes.
// NewPoisoning makes a Backend that fills freed storage with NaNs and
// checks that nobody writes it, for tests of the Free contract.
//
// Methods are not safe for concurrent use on tensors that overlap; the
// Backend's only mutable state, its free list, is guarded by a mutex, so
// distinct goroutines may use one Backend on distinct tensors.
package cpu

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/gemm"
)

// defaultGrain is the number of elements from which a kernel is split
// across goroutines: starting one costs around a microsecond, a pass over
// 64Ki float32 values some tens.
const defaultGrain = 1 << 16

// Backend computes on the CPU. The zero value is not usable: call New.
type Backend struct {
	threads int        // goroutines a kernel is split over, ≥ 1
	grain   int        // elements from which a kernel is split, ≥ 1
	gemm    *gemm.Gemm // products on up to threads goroutines
	pool    pool       // tensor storage freed for reuse
}

var _ backend.Backend = (*Backend)(nil)

// New returns a CPU backend that splits large kernels over threads
// goroutines (runtime.NumCPU() when threads ≤ 0), with the fastest GEMM
// kernel this CPU runs.
func New(threads int) *Backend {
	be, err := NewKernel(threads, "")
	if err != nil {
		panic("cpu: the best GEMM kernel failed to open: " + err.Error()) // gemm.Best only lists kernels that open
	}
	return be
}

// NewKernel is New with the GEMM kernel named: "avx512", "avx2", "generic",
// or "" / "auto" for the fastest one this CPU runs. A kernel this CPU cannot
// run is an error that lists the ones it can. Every kernel computes the same
// bits; forcing one is for tests and benchmarks.
func NewKernel(threads int, kernel string) (*Backend, error) {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	k, err := gemm.ParseKernel(kernel)
	if err != nil {
		return nil, err
	}
	g, err := gemm.New(k, threads)
	if err != nil {
		return nil, err
	}
	return &Backend{threads: threads, grain: defaultGrain, gemm: g}, nil
}

// NewPoisoning returns a backend like New(threads) that checks the Free
// contract, for tests: freed storage is filled with NaNs and held back from
// reuse for a while, so that reading a freed tensor through a Reshape view
// yields NaN, and a write to it makes the pool panic when the buffer is
// reused (or CheckFreed report it).
func NewPoisoning(threads int) *Backend {
	be := New(threads)
	be.pool.poison = true
	return be
}

// Threads returns the number of goroutines kernels are split over.
func (be *Backend) Threads() int { return be.threads }

// GemmKernel returns the GEMM kernel the backend's matrix products run.
func (be *Backend) GemmKernel() gemm.Kernel { return be.gemm.Kernel() }

// Name returns "cpu (avx2 gemm, N threads)", naming the GEMM kernel.
func (be *Backend) Name() string {
	return fmt.Sprintf("cpu (%s gemm, %d threads)", be.gemm.Kernel(), be.threads)
}

// MemInfo reports the machine's available and total memory (MemAvailable
// and MemTotal of /proc/meminfo on Linux; zeros where they are unknown).
func (be *Backend) MemInfo() backend.MemInfo { return memInfo() }

// New returns a zeroed tensor of the given shape (a scalar of one element
// when shape is empty).
func (be *Backend) New(shape ...int) *backend.Tensor {
	n := shapeLen("New", shape)
	return &backend.Tensor{Shape: slices.Clone(shape), Storage: be.pool.get(n, true)}
}

// Upload returns a tensor holding a copy of data; len(data) must be the
// product of shape.
func (be *Backend) Upload(data []float32, shape ...int) *backend.Tensor {
	n := shapeLen("Upload", shape)
	if len(data) != n {
		panicf("Upload", "%d values for shape %v (%d elements)", len(data), shape, n)
	}
	s := be.pool.get(n, false)
	copy(s, data)
	return &backend.Tensor{Shape: slices.Clone(shape), Storage: s}
}

// Download copies t into dst; len(dst) must be t.Len().
func (be *Backend) Download(dst []float32, t *backend.Tensor) {
	s := data("Download", "t", t)
	if len(dst) != len(s) {
		panicf("Download", "dst of %d values for %v", len(dst), t)
	}
	copy(dst, s)
}

// Free returns t's storage to the backend's free list and drops it from t,
// so that using t afterwards panics. Views of t made with Reshape share
// the storage, which New may hand out again: they must not be used (nor
// freed) either.
func (be *Backend) Free(t *backend.Tensor) {
	s := data("Free", "t", t)
	t.Storage = nil
	be.pool.put(s)
}

// Reshape returns a tensor of the given shape over t's storage; the shape
// must have t's length.
func (be *Backend) Reshape(t *backend.Tensor, shape ...int) *backend.Tensor {
	s := data("Reshape", "t", t)
	if n := shapeLen("Reshape", shape); n != len(s) {
		panicf("Reshape", "%v to %v: %d elements to %d", t, shape, len(s), n)
	}
	return &backend.Tensor{Shape: slices.Clone(shape), Storage: s}
}

// split calls body(lo, hi) on contiguous chunks that cover the items
// [0, n): on the calling goroutine when the call touches fewer than the
// grain's elements (or threads is 1), otherwise on up to threads
// goroutines. body must compute each item independently of how the items
// are chunked.
func (be *Backend) split(n, elems int, body func(lo, hi int)) {
	workers := min(be.threads, n)
	if workers < 2 || elems < be.grain {
		if n > 0 {
			body(0, n)
		}
		return
	}
	size := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := size; lo < n; lo += size {
		wg.Go(func() { body(lo, min(lo+size, n)) })
	}
	body(0, size)
	wg.Wait()
}
