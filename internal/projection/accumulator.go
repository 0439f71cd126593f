package projection

import (
	"fmt"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// gemmRows caps the rows (examples) of one GEMM call. gonum's pure-Go Sgemm
// fans out to goroutines of its own, which allocate and would compete with
// the Accumulator's workers, once the output has four 64 × 64 tiles; a call of
// at most 64 rows and 128 columns has two and runs serially. Each example's
// row of the product is computed the same way whatever the number of rows in
// the call (the tests check this), so the split changes only speed.
const gemmRows = 64

// tileRows is the number of rows of P generated and multiplied at a time: a
// tileRows × 128 tile of P (32 KiB) stays in the L1 cache while every example
// of the batch is multiplied by it. The tiles of a block are multiplied into
// the same float32 partial (β = 1 after the first), so for gonum's Sgemm,
// which adds the terms of each dot product in ascending order, the partial is
// the same as from one GEMM over the whole block; in any case the call
// sequence depends only on p, BlockRows and k, never on the caller.
const tileRows = 64

// Accumulator computes the projected features Pᵀg of a batch of examples
// whose gradients arrive a slice of parameters at a time.
//
// Use: Add the parameter slices [0, n₁), [n₁, n₂), … up to NumParams, in
// order, then Finish; the Accumulator is then ready for the next batch. The
// result does not depend on how the parameters are sliced, on the batch size
// or the example's position in it, or on the worker count (see the package
// documentation). Add and Finish do not allocate, except once to start the
// helper goroutines.
//
// An Accumulator is not safe for concurrent use. With more than one worker it
// keeps helper goroutines, which Close stops; they are also stopped once the
// Accumulator is garbage collected.
type Accumulator struct {
	s *accState
}

// accState is the Accumulator's content. The helper goroutines reference it
// and never the Accumulator itself, so an abandoned Accumulator becomes
// unreachable and its cleanup can stop them.
type accState struct {
	p        *Projector
	capacity int   // batch capacity: buffers are sized for this many examples
	batch    int   // examples in the current batch, ≤ cap
	next     int64 // first parameter not yet added
	dim      int

	// Rademacher and Normal.
	stage []float32 // cap × BlockRows: the gradient rows of the current block
	acc   []float64 // cap × dim: Σ over finished blocks of the float32 partials
	work  []worker  // one per worker; work[0] runs on the caller's goroutine

	// None: the gradients themselves, cap × dim.
	ident []float32

	// The block being multiplied, read by the workers.
	blockStart int64
	blockLen   int

	// Helper goroutines for work[1:], started on first use.
	mu      sync.Mutex
	jobs    []chan struct{}
	done    sync.WaitGroup
	running bool
}

// worker owns a range of column groups and the buffers to process them.
type worker struct {
	g0, g1 int       // column groups [g0, g1), each groupCols columns wide
	pblk   []float32 // tileRows × groupCols: one tile of P
	part   []float32 // cap × groupCols: the float32 GEMM result for one group
}

// NewAccumulator returns an Accumulator for batches of batch (≥ 1) examples.
// Its memory is O(batch·(Dim() + BlockRows) + workers·(batch + 64)·128) floats
// for Rademacher and Normal and batch·NumParams floats for None: P is never
// materialised. It panics if batch < 1.
func (p *Projector) NewAccumulator(batch int) *Accumulator {
	if batch < 1 {
		panic(fmt.Sprintf("projection: NewAccumulator batch %d, must be at least 1", batch))
	}
	s := &accState{p: p, capacity: batch, batch: batch, dim: p.dim}
	if p.spec.Kind == None {
		s.ident = make([]float32, batch*p.dim)
		return &Accumulator{s: s}
	}
	s.stage = make([]float32, batch*BlockRows)
	s.acc = make([]float64, batch*p.dim)
	groups := (p.dim + groupCols - 1) / groupCols
	nw := min(p.workers, groups)
	s.work = make([]worker, nw)
	for w := range s.work {
		s.work[w] = worker{
			g0:   w * groups / nw,
			g1:   (w + 1) * groups / nw,
			pblk: make([]float32, tileRows*groupCols),
			part: make([]float32, batch*groupCols),
		}
	}
	a := &Accumulator{s: s}
	if nw > 1 {
		runtime.AddCleanup(a, func(s *accState) { s.stopHelpers() }, s)
	}
	return a
}

// Batch returns the number of examples in the current batch.
func (a *Accumulator) Batch() int { return a.s.batch }

// SetBatch changes the number of examples of the next batch to batch, which
// must be between 1 and the batch the Accumulator was created with, so a
// short final batch can reuse the buffers. It panics if called in the middle
// of a batch (after Add, before Finish) or with batch out of range.
func (a *Accumulator) SetBatch(batch int) {
	s := a.s
	if s.next != 0 {
		panic("projection: SetBatch in the middle of a batch")
	}
	if batch < 1 || batch > s.capacity {
		panic(fmt.Sprintf("projection: SetBatch %d out of range [1, %d]", batch, s.capacity))
	}
	s.batch = batch
}

// Add feeds the gradients of the batch's examples for parameters
// [offset, offset+n): row b (0 ≤ b < Batch()) of the block is
// g[b·stride : b·stride+n]. Calls must cover parameters 0 … NumParams−1 in
// ascending, contiguous order, any number at a time (n = 0 is allowed); g is
// not retained.
//
// It panics if offset is not where the previous call stopped, if the slice
// runs past NumParams, if stride < n or if g is too short.
func (a *Accumulator) Add(offset int64, n int, g []float32, stride int) {
	s := a.s
	if offset != s.next {
		panic(fmt.Sprintf("projection: Add at parameter offset %d, want %d (parameters must be added in ascending contiguous order)", offset, s.next))
	}
	if n < 0 || int64(n) > s.p.spec.NumParams-offset {
		panic(fmt.Sprintf("projection: Add of %d parameters at offset %d exceeds the %d parameters", n, offset, s.p.spec.NumParams))
	}
	if n == 0 {
		return
	}
	if stride < n {
		panic(fmt.Sprintf("projection: Add stride %d is less than n = %d", stride, n))
	}
	if need := (s.batch-1)*stride + n; len(g) < need {
		panic(fmt.Sprintf("projection: Add gradient slice has %d elements, need %d for batch %d, stride %d, n %d", len(g), need, s.batch, stride, n))
	}
	if s.ident != nil {
		for b := 0; b < s.batch; b++ {
			copy(s.ident[b*s.dim+int(offset):], g[b*stride:b*stride+n])
		}
		s.next += int64(n)
		return
	}
	p := s.p.spec.NumParams
	done := 0
	for done < n {
		pos := int(s.next % BlockRows)
		start := s.next - int64(pos)
		length := int(min(BlockRows, p-start))
		cnt := min(n-done, length-pos)
		// The gradient is always staged, even when the caller's slice covers
		// a whole block: the GEMM then sees the same operand layout whatever
		// the chunking, which keeps the result independent of it even for a
		// BLAS whose kernels depend on strides or alignment.
		for b := 0; b < s.batch; b++ {
			copy(s.stage[b*BlockRows+pos:b*BlockRows+pos+cnt], g[b*stride+done:b*stride+done+cnt])
		}
		s.next += int64(cnt)
		done += cnt
		if pos+cnt == length {
			s.multiply(start, length)
		}
	}
}

// Finish writes the features of the batch, Batch() × Dim(), example b's
// starting at out[b·outStride], and resets the Accumulator for the next
// batch. It panics if not all NumParams parameters were added, if
// outStride < Dim() or if out is too short.
func (a *Accumulator) Finish(out []float32, outStride int) {
	s := a.s
	if s.next != s.p.spec.NumParams {
		panic(fmt.Sprintf("projection: Finish after %d of %d parameters", s.next, s.p.spec.NumParams))
	}
	if outStride < s.dim {
		panic(fmt.Sprintf("projection: Finish stride %d is less than the dimension %d", outStride, s.dim))
	}
	if need := (s.batch-1)*outStride + s.dim; len(out) < need {
		panic(fmt.Sprintf("projection: Finish output has %d elements, need %d", len(out), need))
	}
	for b := 0; b < s.batch; b++ {
		dst := out[b*outStride : b*outStride+s.dim]
		if s.ident != nil {
			copy(dst, s.ident[b*s.dim:(b+1)*s.dim])
			continue
		}
		src := s.acc[b*s.dim : (b+1)*s.dim]
		for c, v := range src {
			dst[c] = float32(v)
		}
		clear(src)
	}
	s.next = 0
}

// Reset abandons the current batch (if any): the parameters added so far are
// discarded and the next Add must start at offset 0.
func (a *Accumulator) Reset() {
	s := a.s
	s.next = 0
	clear(s.acc)
}

// Close stops the helper goroutines. It is idempotent, and the Accumulator
// stays usable: a later Add starts them again.
func (a *Accumulator) Close() {
	a.s.stopHelpers()
}

// multiply adds the product of the staged block (parameters
// [start, start+length)) with P's rows to acc, using all workers.
func (s *accState) multiply(start int64, length int) {
	s.blockStart, s.blockLen = start, length
	if len(s.work) == 1 {
		s.run(0)
		return
	}
	s.startHelpers()
	s.done.Add(len(s.work) - 1)
	for _, ch := range s.jobs {
		ch <- struct{}{}
	}
	s.run(0)
	s.done.Wait()
}

// run does worker w's share of the current block: for each of its column
// groups, generate the block's slice of P a tile at a time, multiply, and
// widen the float32 partial into acc. The workers write disjoint columns of
// acc, so they need no locking.
func (s *accState) run(w int) {
	wk := &s.work[w]
	rows := s.blockLen
	for g := wk.g0; g < wk.g1; g++ {
		c0 := g * groupCols
		width := min(groupCols, s.dim-c0)
		for l0 := 0; l0 < rows; l0 += tileRows {
			tl := min(tileRows, rows-l0)
			s.p.fillGroup(wk.pblk, groupCols, s.blockStart+int64(l0), tl, g, width)
			pm := blas32.General{Rows: tl, Cols: width, Stride: groupCols, Data: wk.pblk}
			beta := float32(1)
			if l0 == 0 {
				beta = 0
			}
			for b0 := 0; b0 < s.batch; b0 += gemmRows {
				m := min(gemmRows, s.batch-b0)
				blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
					blas32.General{Rows: m, Cols: tl, Stride: BlockRows, Data: s.stage[b0*BlockRows+l0:]},
					pm,
					beta, blas32.General{Rows: m, Cols: width, Stride: groupCols, Data: wk.part[b0*groupCols:]})
			}
		}
		for b := 0; b < s.batch; b++ {
			dst := s.acc[b*s.dim+c0 : b*s.dim+c0+width]
			src := wk.part[b*groupCols : b*groupCols+width]
			for j, v := range src {
				dst[j] += float64(v)
			}
		}
	}
}

// startHelpers starts one goroutine per worker after the first, once. They
// wait for a token on their channel, run their share, and signal done.
func (s *accState) startHelpers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	s.jobs = make([]chan struct{}, len(s.work)-1)
	for i := range s.jobs {
		ch := make(chan struct{})
		s.jobs[i] = ch
		go func(w int) {
			for range ch {
				s.run(w)
				s.done.Done()
			}
		}(i + 1)
	}
	s.running = true
}

// stopHelpers ends the helper goroutines by closing their channels. It is
// called by Close and by the Accumulator's cleanup, which runs on another
// goroutine; the mutex orders it after startHelpers.
func (s *accState) stopHelpers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	for _, ch := range s.jobs {
		close(ch)
	}
	s.jobs = nil
	s.running = false
}
