package projection

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/trak-dev/trak/internal/gemm"
)

// gemmRows caps the rows (examples) of one GEMM call, so that a call stays
// small (64 × 128 outputs from 64 rows of P) and its operands stay in cache.
// Each example's row of a product is computed the same way whatever the
// number of rows in the call (internal/gemm's numeric contract), so the split
// changes only speed.
const gemmRows = 64

// tileRows is the number of rows of P generated and multiplied at a time: a
// tileRows × 128 tile of P (32 KiB) stays in the L1 cache while every example
// of the batch is multiplied by it. The tiles of a block are multiplied into
// the same float32 partial (β = 1 after the first): by internal/gemm's numeric
// contract each tile's dot products are float32 FMA chains over its rows in
// ascending order (a tile is shorter than gemm.KC), added to the partial in
// ascending tile order. The call sequence depends only on p, BlockRows, k and
// which tiles received rows, never on how or in which order the caller
// delivered them. A tile is one word of a block's presence mask.
const tileRows = 64

// A dense block's presence mask has one bit per row, one uint64 per tile.
const maskWords = BlockRows / tileRows

var _ [0]struct{} = [tileRows - 64]struct{}{} // tileRows must be 64

// Accumulator computes the projected features Pᵀg of a batch of examples
// whose gradients arrive a range of parameters at a time.
//
// Use: Add parameter ranges of the batch's gradients in any order and any
// sizes, each parameter at most once per batch (parameters never added are
// zero), then Finish; the Accumulator is then ready for the next batch. The
// result does not depend on how the parameters are sliced or ordered, on
// whether zero rows are added or left out, on the batch size or the example's
// position in it, or on the worker count (see the package documentation).
//
// Blocks of BlockRows parameters are multiplied as soon as all their rows
// have arrived (at once, without a copy, when one Add covers the whole
// block); a block that is only partly covered is staged, B × BlockRows
// floats, until its other rows arrive or until Finish. Only blocks at the
// two ends of a gap between the ranges delivered so far are open: a dense
// model that delivers whole tensors in backward (or forward) order keeps one
// open at a time, and in any order at most two per gap; sparse delivery (the
// rows of an embedding table that the batch uses) can keep one or two open
// per row until Finish. Staging buffers are kept for reuse, so Add and Finish
// do not allocate once the largest number of open blocks has been seen,
// except once to start the helper goroutines.
//
// For SJLT the blocks have SJLTBlockRows rows, and a staged block holds only
// the ranges that arrived (B floats per row, so at most B × SJLTBlockRows),
// which keeps sparse delivery of an embedding table as small as the rows the
// batch uses; its buffer grows as needed and is kept for reuse.
//
// An Accumulator is also the CPU backend's backend.Projection
// (Backend.NewProjection in internal/backend/cpu), which feeds it the
// gradient tensors' storage in place.
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
	capacity int  // batch capacity: buffers are sized for this many examples
	batch    int  // examples in the current batch, ≤ capacity
	active   bool // parameters were added since the last Finish or Reset
	dim      int

	// Rademacher, Normal and SJLT.
	rows      int // rows per block: BlockRows, or SJLTBlockRows for SJLT
	sj        *sjltState
	acc       *exactAcc  // capacity × dim exact sums of the block partials
	adds      int        // blocks multiplied since the sums were last normalised
	normEvery int        // normaliseEvery; smaller in tests
	done      []uint64   // bit t: block t was multiplied in this batch
	open      openTable  // staged blocks by block index
	openList  []*staged  // the same blocks, for Finish and Reset
	free      []*staged  // staging buffers for reuse
	work      []worker   // one per worker; work[0] runs on the caller's goroutine
	mul       *gemm.Gemm // the dense tiles' products, one goroutine per call; nil for SJLT

	// None: the gradients themselves, capacity × dim, and in done one bit
	// per parameter added.
	ident []float32

	// The workers' current task: phase, and the block being multiplied or
	// the output being written.
	phase     int
	job       blockJob
	out       []float32
	outStride int

	// Helper goroutines for work[1:], started on first use.
	mu      sync.Mutex
	jobs    []chan struct{}
	wg      sync.WaitGroup
	running bool
}

// worker owns a range of column groups and the buffers to process them.
type worker struct {
	g0, g1 int       // column groups [g0, g1), each groupCols columns wide
	pblk   []float32 // tileRows × groupCols: one tile of P
	part   []float32 // capacity × groupCols: the float32 GEMM result for one group
}

// staged is a block of which some rows have arrived: the batch's gradient
// rows in data (example b's row l at data[b·BlockRows + l], zero where no row
// arrived) and a bit per row that arrived.
type staged struct {
	t      int64     // block index
	rows   int       // rows in the block: BlockRows, or fewer for the last block
	filled int       // rows that arrived
	pos    int       // index in openList
	mask   []uint64  // rows/64 words
	data   []float32 // capacity × BlockRows; for SJLT, the spans' rows
	// SJLT: the ranges that arrived, in arrival order, and the length of
	// data in use. Example b's row lo+i of span x is at
	// data[x.off + b·x.cnt + i].
	spans []stagedSpan
	used  int
}

// stagedSpan is one range of rows staged in an SJLT block.
type stagedSpan struct{ lo, cnt, off int }

// blockJob is one block's multiplication: rows [start, start+rows) of P by
// the gradient rows, example b's row l at src[b·stride + l]. Tiles whose
// word of mask is zero received no row and are skipped; a nil mask means that
// every row is present.
type blockJob struct {
	src    []float32
	stride int
	start  int64
	rows   int
	mask   []uint64
	// normalise asks the workers to normalise their sums first.
	normalise bool
}

// NewAccumulator returns an Accumulator for batches of batch (≥ 1) examples.
// For Rademacher and Normal its memory is, in bytes, about
// 80·batch·Dim() for the exact sums (ten 64-bit digits per feature),
// 2 KiB·batch per open staged block (one is allocated up front), NumParams/4096
// for a bit per block, and 512·workers·(batch + 64) for the workers' buffers:
// P is never materialised. For SJLT it is the same exact sums, 4·batch·Dim()
// for the float32 partials, 4·s·max(64, 65,536/s) (256 KiB for s ≤ 1024)
// for a tile's (column, sign) table, and for each open staged block 4·batch
// bytes per row that arrived. For None it is 4·batch·NumParams bytes plus a
// bit per parameter. It panics if batch < 1.
func (p *Projector) NewAccumulator(batch int) *Accumulator {
	return p.NewAccumulatorKernel(batch, gemm.Best())
}

// NewAccumulatorKernel is NewAccumulator with the GEMM kernel that multiplies
// the dense kinds' tiles named (the CPU backend passes its own). Every kernel
// computes the same bits; it panics if this CPU cannot run kernel.
func (p *Projector) NewAccumulatorKernel(batch int, kernel gemm.Kernel) *Accumulator {
	if batch < 1 {
		panic(fmt.Sprintf("projection: NewAccumulator batch %d, must be at least 1", batch))
	}
	s := &accState{p: p, capacity: batch, batch: batch, dim: p.dim}
	np := p.spec.NumParams
	if p.spec.Kind == None {
		s.ident = make([]float32, batch*p.dim)
		s.done = make([]uint64, (np+63)/64)
		return &Accumulator{s: s}
	}
	s.acc = newExactAcc(batch * p.dim)
	s.normEvery = normaliseEvery
	s.rows = p.blockRows
	s.done = make([]uint64, ((np+int64(s.rows)-1)/int64(s.rows)+63)/64)
	s.open.init(8)
	s.openList = make([]*staged, 0, 8)
	groups := (p.dim + groupCols - 1) / groupCols
	nw := min(p.workers, groups)
	if p.spec.Kind == SJLT {
		s.sj = newSJLTState(p, batch)
		nw = p.workers
	} else {
		mul, err := gemm.New(kernel, 1)
		if err != nil {
			panic("projection: " + err.Error())
		}
		s.mul = mul
	}
	s.free = []*staged{s.newStaged()}
	s.work = make([]worker, nw)
	for w := range s.work {
		s.work[w] = worker{g0: w * groups / nw, g1: (w + 1) * groups / nw}
		if s.sj == nil {
			s.work[w].pblk = make([]float32, tileRows*groupCols)
			s.work[w].part = make([]float32, batch*groupCols)
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
// of a batch (after an Add of at least one parameter, before Finish or Reset)
// or with batch out of range.
func (a *Accumulator) SetBatch(batch int) {
	s := a.s
	if s.active {
		panic("projection: SetBatch in the middle of a batch")
	}
	if batch < 1 || batch > s.capacity {
		panic(fmt.Sprintf("projection: SetBatch %d out of range [1, %d]", batch, s.capacity))
	}
	s.batch = batch
}

// Add feeds the gradients of the batch's examples for parameters
// [offset, offset+n): row b (0 ≤ b < Batch()) of the range is
// g[b·stride : b·stride+n]. Ranges may come in any order and any sizes
// (n = 0 is allowed), but within one batch each parameter may be added only
// once; g is not retained.
//
// It panics if the range is not within [0, NumParams), if it overlaps a range
// added earlier in the batch, if stride < n or if g is too short. A batch
// in which Add panicked must be abandoned with Reset.
func (a *Accumulator) Add(offset int64, n int, g []float32, stride int) {
	s := a.s
	np := s.p.spec.NumParams
	if offset < 0 || offset > np {
		panic(fmt.Sprintf("projection: Add at parameter offset %d, outside [0, %d]", offset, np))
	}
	if n < 0 || int64(n) > np-offset {
		panic(fmt.Sprintf("projection: Add of %d parameters at offset %d exceeds the %d parameters", n, offset, np))
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
	s.active = true
	end := offset + int64(n)
	if s.ident != nil {
		if !claim(s.done, offset, end) {
			panicOverlap(offset, end)
		}
		for b := 0; b < s.batch; b++ {
			copy(s.ident[b*s.dim+int(offset):], g[b*stride:b*stride+n])
		}
		return
	}
	R := int64(s.rows)
	for pos := offset; pos < end; {
		t := pos / R
		start := t * R
		rows := int(min(R, np-start))
		lo := int(pos - start)
		cnt := int(min(end, start+int64(rows)) - pos)
		src := g[pos-offset:]
		if s.done[t/64]>>(t%64)&1 != 0 {
			panicOverlap(offset, end)
		}
		sb := s.open.get(t)
		if sb == nil && cnt == rows {
			// The whole block in one piece: multiply it where it lies.
			s.done[t/64] |= 1 << (t % 64)
			if s.sj != nil {
				s.sj.segs = append(s.sj.segs[:0], sjltSeg{lo: 0, cnt: rows, src: src, stride: stride})
				s.multiplySJLT(start)
			} else {
				s.multiply(blockJob{src: src, stride: stride, start: start, rows: rows})
			}
			pos += int64(cnt)
			continue
		}
		if sb == nil {
			sb = s.openBlock(t, rows)
		}
		if !claim(sb.mask, int64(lo), int64(lo+cnt)) {
			panicOverlap(offset, end)
		}
		if s.sj != nil {
			s.stageSJLT(sb, lo, cnt, src, stride)
			pos += int64(cnt)
			continue
		}
		for b := 0; b < s.batch; b++ {
			copy(sb.data[b*BlockRows+lo:b*BlockRows+lo+cnt], src[b*stride:b*stride+cnt])
		}
		sb.filled += cnt
		if sb.filled == rows {
			s.done[t/64] |= 1 << (t % 64)
			s.multiply(blockJob{src: sb.data, stride: BlockRows, start: start, rows: rows})
			s.closeBlock(sb)
		}
		pos += int64(cnt)
	}
}

func panicOverlap(lo, hi int64) {
	panic(fmt.Sprintf("projection: Add of parameters [%d, %d) overlaps parameters already added in this batch", lo, hi))
}

// claim sets bits [lo, hi) of set and reports whether none of them was set
// before; if one was, it changes nothing and returns false.
func claim(set []uint64, lo, hi int64) bool {
	// Bits [lo, hi) of word w are those of wordMask(w).
	wordMask := func(w int64) uint64 {
		m := ^uint64(0)
		if w == lo/64 {
			m <<= lo % 64
		}
		if w == (hi-1)/64 {
			m &= ^uint64(0) >> (63 - (hi-1)%64)
		}
		return m
	}
	for w := lo / 64; w <= (hi-1)/64; w++ {
		if set[w]&wordMask(w) != 0 {
			return false
		}
	}
	for w := lo / 64; w <= (hi-1)/64; w++ {
		set[w] |= wordMask(w)
	}
	return true
}

// Finish writes the features of the batch, Batch() × Dim(), example b's
// starting at out[b·outStride], and resets the Accumulator for the next
// batch. Parameters that were not added count as zero. It panics if
// outStride < Dim() or if out is too short.
func (a *Accumulator) Finish(out []float32, outStride int) {
	s := a.s
	if outStride < s.dim {
		panic(fmt.Sprintf("projection: Finish stride %d is less than the dimension %d", outStride, s.dim))
	}
	if need := (s.batch-1)*outStride + s.dim; len(out) < need {
		panic(fmt.Sprintf("projection: Finish output has %d elements, need %d", len(out), need))
	}
	if s.ident != nil {
		for b := 0; b < s.batch; b++ {
			src := s.ident[b*s.dim : (b+1)*s.dim]
			copy(out[b*outStride:b*outStride+s.dim], src)
			clear(src)
		}
		clear(s.done)
		s.active = false
		return
	}
	// The blocks still open: their missing rows are zero.
	for len(s.openList) > 0 {
		sb := s.openList[len(s.openList)-1]
		if s.sj != nil {
			s.multiplyStagedSJLT(sb)
		} else {
			s.multiply(blockJob{src: sb.data, stride: BlockRows, start: sb.t * BlockRows, rows: sb.rows, mask: sb.mask})
		}
		s.closeBlock(sb)
	}
	// Round and clear the sums, each worker its own columns.
	s.out, s.outStride = out, outStride
	s.dispatch(phaseFinish)
	s.out = nil
	s.adds = 0
	clear(s.done)
	s.active = false
}

// Reset abandons the current batch (if any): the parameters added so far are
// discarded.
func (a *Accumulator) Reset() {
	s := a.s
	if s.ident != nil {
		clear(s.ident)
		clear(s.done)
		s.active = false
		return
	}
	for len(s.openList) > 0 {
		s.closeBlock(s.openList[len(s.openList)-1])
	}
	s.reset()
}

// reset clears the sums and the record of the blocks multiplied.
func (s *accState) reset() {
	if s.sj != nil { // partials left by a panic in the middle of a block
		clear(s.sj.part)
		s.sj.segs = s.sj.segs[:0]
	}
	s.acc.clear(0, s.capacity*s.dim)
	s.adds = 0
	clear(s.done)
	s.active = false
}

// Close stops the helper goroutines. It is idempotent, and the Accumulator
// stays usable: a later Add starts them again.
func (a *Accumulator) Close() {
	a.s.stopHelpers()
}

func (s *accState) newStaged() *staged {
	if s.sj != nil {
		return &staged{mask: make([]uint64, (s.rows+63)/64)}
	}
	return &staged{data: make([]float32, s.capacity*BlockRows), mask: make([]uint64, maskWords)}
}

// openBlock returns a cleared staging buffer for block t, registered as open.
func (s *accState) openBlock(t int64, rows int) *staged {
	var sb *staged
	if n := len(s.free); n > 0 {
		sb = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		sb = s.newStaged()
	}
	sb.t, sb.rows, sb.pos = t, rows, len(s.openList)
	s.openList = append(s.openList, sb)
	s.open.put(t, sb)
	return sb
}

// closeBlock unregisters sb, clears it and keeps it for reuse.
func (s *accState) closeBlock(sb *staged) {
	s.open.del(sb.t)
	last := s.openList[len(s.openList)-1]
	s.openList[sb.pos] = last
	last.pos = sb.pos
	s.openList[len(s.openList)-1] = nil
	s.openList = s.openList[:len(s.openList)-1]
	if s.sj != nil {
		sb.spans = sb.spans[:0]
		sb.used = 0
	} else {
		clear(sb.data[:s.batch*BlockRows])
	}
	clear(sb.mask)
	sb.filled = 0
	s.free = append(s.free, sb)
}

// multiply adds the product of the block's gradient rows with P's rows to
// the exact sums, using all workers.
func (s *accState) multiply(j blockJob) {
	if s.adds >= s.normEvery {
		j.normalise = true
		s.adds = 0
	}
	s.adds++
	s.job = j
	s.dispatch(phaseMultiply)
	s.job = blockJob{}
}

// Phases of the workers' work.
const (
	phaseMultiply    = iota // multiply s.job
	phaseFinish             // round the sums into s.out and clear them
	phaseSJLTTable          // generate the (column, sign) table of an SJLT tile
	phaseSJLTScatter        // scatter-add an SJLT tile into the partials
	phaseSJLTAdd            // add the SJLT partials to the exact sums
)

// dispatch runs phase on all workers and waits for them.
func (s *accState) dispatch(phase int) {
	s.phase = phase
	if len(s.work) == 1 {
		s.run(0)
		return
	}
	s.startHelpers()
	s.wg.Add(len(s.work) - 1)
	for _, ch := range s.jobs {
		ch <- struct{}{}
	}
	s.run(0)
	s.wg.Wait()
}

// run does worker w's share of the current block: for each of its column
// groups, generate the block's slice of P a tile at a time (skipping tiles
// that received no row), multiply, and add the float32 partial to the exact
// sums. The workers write disjoint columns of the sums, so they need no
// locking.
func (s *accState) run(w int) {
	wk := &s.work[w]
	switch s.phase {
	case phaseFinish:
		s.finish(wk)
		return
	case phaseSJLTTable, phaseSJLTScatter, phaseSJLTAdd:
		s.runSJLT(w)
		return
	}
	j := &s.job
	if j.normalise {
		c0, c1 := wk.g0*groupCols, min(wk.g1*groupCols, s.dim)
		for b := 0; b < s.batch; b++ {
			s.acc.normalise(b*s.dim+c0, b*s.dim+c1)
		}
	}
	for g := wk.g0; g < wk.g1; g++ {
		c0 := g * groupCols
		width := min(groupCols, s.dim-c0)
		beta := float32(0)
		for l0 := 0; l0 < j.rows; l0 += tileRows {
			if j.mask != nil && j.mask[l0/tileRows] == 0 {
				continue // all zero: adds exact zeros
			}
			tl := min(tileRows, j.rows-l0)
			s.p.fillGroup(wk.pblk, groupCols, j.start+int64(l0), tl, g, width)
			for b0 := 0; b0 < s.batch; b0 += gemmRows {
				m := min(gemmRows, s.batch-b0)
				s.mul.Sgemm(false, false, m, width, tl, 1, j.src[b0*j.stride+l0:], j.stride,
					wk.pblk, groupCols, beta, wk.part[b0*groupCols:], groupCols)
			}
			beta = 1
		}
		if beta == 0 { // no tile had a row: only after a panic in Add
			clear(wk.part)
		}
		for b := 0; b < s.batch; b++ {
			s.acc.addRow(b*s.dim+c0, wk.part[b*groupCols:b*groupCols+width])
		}
	}
}

// finish writes the rounded sums of the worker's columns to s.out and clears
// them.
func (s *accState) finish(wk *worker) {
	c0 := wk.g0 * groupCols
	c1 := min(wk.g1*groupCols, s.dim)
	for b := 0; b < s.batch; b++ {
		dst := s.out[b*s.outStride+c0 : b*s.outStride+c1]
		e0 := b*s.dim + c0
		for c := range dst {
			dst[c] = s.acc.round(e0 + c)
		}
		s.acc.clear(e0, e0+len(dst))
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
				s.wg.Done()
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
