package projection

import (
	"cmp"
	"math"
	"slices"

	"github.com/trak-dev/trak/internal/philox"
)

// SJLT accumulation.
//
// A block of SJLTBlockRows rows is processed in tiles of rows (the tile size
// changes only speed). For each tile the workers first share out its rows:
// each writes its rows' (column, sign) table, s packed entries per row, and
// transposes the batch's gradient rows into gT, row i's B values contiguous
// (gT[i·L + b] = g_b[i], L = B rounded up to a multiple of 8, padding lanes
// +0). The block's partials are kept transposed too, as k × L (partT[c·L + b]
// is example b's partial of column c), so that one table entry (c, ±) is one
// contiguous L-wide vector update partT[c·L:][:L] += ±gT[i·L:][:L] that serves
// every example of the batch at once: the table is read once per tile, not
// once per example, and the scalar random read-modify-writes of the
// per-example layout become a few vector ones (AVX2 on amd64, see
// sjltScatterFast; the portable sjltScatterGo does the same arithmetic). The
// sign is applied by flipping bit 31, and x + (−y) is exactly x − y. The
// price is L − B padding lanes of work and partT's k·L floats (k·B before):
// small for the batches featurization uses (B = 16: L = B).
//
// In the scatter the workers share out the columns: worker w applies only
// the entries whose column is in its range, scanning all rows of the tile in
// ascending order. A column lies in exactly one column block j, so it
// receives its terms in ascending row order whatever the worker count, the
// tile size and the batch, which is what makes the bits independent of them
// (and equal to scattering each example alone); the padding lanes only ever
// add +0 to +0. After the last tile the workers, again by columns, read each
// example's partials out of partT, scale them by 1/√s, add them to the exact
// sums and clear their columns of partT (a block abandoned by a panic
// leaves partT dirty, and the next block clears it first). An example's
// features depend only on its own gradient.

// sjltTableEntries is the target size of a tile's table, in entries: 256 KiB,
// which stays in the L2 cache while the scatter reads it.
const sjltTableEntries = 1 << 16

// sjltMaxPairs is the most pairs of column blocks (s ≤ 16) for which
// fillSJLT computes eight rows at a time.
const sjltMaxPairs = 8

// sjltSign is the bit of a packed table entry that holds the sign (set for
// −1/√s); the other bits hold the column, < 2³¹.
const sjltSign = 1 << 31

// sjltState is the SJLT part of an Accumulator.
type sjltState struct {
	nz       int       // s
	k        int       // columns
	colStart []int     // first column b_j of each column block j, and k
	tileRows int       // rows of a tile
	tab      []uint32  // tileRows × s packed (column, sign) entries of the tile
	gT       []float32 // tileRows × lanes: the tile's gradient rows, transposed
	partT    []float32 // k × lanes float32 partials of the block, transposed
	part     []float32 // capacity × k: the add phase's scaled partials
	lanes    int       // L: the current batch rounded up to a multiple of 8
	dirty    bool      // partT may hold values (a block was left by a panic)
	segs     []sjltSeg // the current block's row ranges, ascending
	start    int64     // first row of the current block
	t0, t1   int       // the current tile's rows, relative to start
	norm     bool      // normalise the sums before adding the partials
}

// sjltSeg is a range of rows [lo, lo+cnt) of the current block (relative to
// its first row): example b's row lo+i is src[b·stride + i].
type sjltSeg struct {
	lo, cnt int
	src     []float32
	stride  int
}

// sjltLanes is L for a batch of n examples: n rounded up to a multiple of 8,
// one AVX2 vector.
func sjltLanes(n int) int { return (n + 7) &^ 7 }

func newSJLTState(p *Projector, batch int) *sjltState {
	nz := p.spec.NonZeros
	tr := p.sjltTile
	l := sjltLanes(batch)
	return &sjltState{
		nz:       nz,
		k:        p.dim,
		colStart: p.colStart,
		tileRows: tr,
		tab:      make([]uint32, tr*nz),
		gT:       make([]float32, tr*l),
		partT:    make([]float32, p.dim*l),
		part:     make([]float32, batch*p.dim),
		segs:     make([]sjltSeg, 0, 8),
	}
}

// stageSJLT copies the batch's rows [lo, lo+cnt) of block sb (example b's at
// src[b·stride:]) into its staging data, and multiplies the block once all
// its rows have arrived.
func (s *accState) stageSJLT(sb *staged, lo, cnt int, src []float32, stride int) {
	need := sb.used + s.batch*cnt
	if need > len(sb.data) {
		grown := make([]float32, max(need, 2*len(sb.data)))
		copy(grown, sb.data[:sb.used])
		sb.data = grown
	}
	off := sb.used
	for b := 0; b < s.batch; b++ {
		copy(sb.data[off+b*cnt:off+(b+1)*cnt], src[b*stride:b*stride+cnt])
	}
	sb.used = need
	sb.spans = append(sb.spans, stagedSpan{lo: lo, cnt: cnt, off: off})
	sb.filled += cnt
	if sb.filled == sb.rows {
		s.done[sb.t/64] |= 1 << (sb.t % 64)
		s.multiplyStagedSJLT(sb)
		s.closeBlock(sb)
	}
}

// multiplyStagedSJLT multiplies the staged block sb; rows that did not arrive
// are zero and are skipped, which adds nothing (a float32 partial that
// starts at +0 is never −0, and x + ±0 = x for every other x).
func (s *accState) multiplyStagedSJLT(sb *staged) {
	slices.SortFunc(sb.spans, func(a, b stagedSpan) int { return cmp.Compare(a.lo, b.lo) })
	segs := s.sj.segs[:0]
	for _, x := range sb.spans {
		segs = append(segs, sjltSeg{lo: x.lo, cnt: x.cnt, src: sb.data[x.off:], stride: x.cnt})
	}
	s.sj.segs = segs
	s.multiplySJLT(sb.t * int64(s.rows))
}

// multiplySJLT adds the product of the rows s.sj.segs of the block starting
// at row start with P to the exact sums, using all workers.
func (s *accState) multiplySJLT(start int64) {
	sj := s.sj
	if sj.dirty { // a panic left a block's partials behind
		clear(sj.partT)
	}
	sj.dirty = true
	sj.lanes = sjltLanes(s.batch)
	sj.norm = false
	if s.adds >= s.normEvery {
		sj.norm = true
		s.adds = 0
	}
	s.adds++
	sj.start = start
	end := 0
	for _, g := range sj.segs {
		end = max(end, g.lo+g.cnt)
	}
	for t0 := 0; t0 < end; t0 += sj.tileRows {
		sj.t0, sj.t1 = t0, min(t0+sj.tileRows, end)
		if !sj.tileHasRows() {
			continue
		}
		s.dispatch(phaseSJLTTable)
		s.dispatch(phaseSJLTScatter)
	}
	s.dispatch(phaseSJLTAdd)
	sj.dirty = false
	clear(sj.segs)
	sj.segs = sj.segs[:0]
}

// tileHasRows reports whether a segment meets the current tile.
func (sj *sjltState) tileHasRows() bool {
	for _, g := range sj.segs {
		if g.lo < sj.t1 && g.lo+g.cnt > sj.t0 {
			return true
		}
	}
	return false
}

// scatterShare returns worker w's (of nw) share of the scatter: the columns
// [c0, c1) and the column blocks [ja, jb) that meet them. With nw ≤ s it is
// whole column blocks, so that no entry is read and skipped.
func (sj *sjltState) scatterShare(w, nw int) (ja, jb, c0, c1 int) {
	nz := sj.nz
	if nw <= nz {
		ja, jb = w*nz/nw, (w+1)*nz/nw
		return ja, jb, sj.colStart[ja], sj.colStart[jb]
	}
	c0, c1 = w*sj.k/nw, (w+1)*sj.k/nw
	for ja < nz && sj.colStart[ja+1] <= c0 {
		ja++
	}
	for jb = ja; jb < nz && sj.colStart[jb] < c1; jb++ {
	}
	return ja, jb, c0, c1
}

// runSJLT does worker w's share of the current SJLT phase.
func (s *accState) runSJLT(w int) {
	sj := s.sj
	nw := len(s.work)
	l := sj.lanes
	switch s.phase {
	case phaseSJLTTable:
		n := sj.t1 - sj.t0
		r0, r1 := sj.t0+w*n/nw, sj.t0+(w+1)*n/nw
		for _, g := range sj.segs {
			lo, hi := max(g.lo, r0), min(g.lo+g.cnt, r1)
			if lo < hi {
				s.p.fillSJLT(sj.tab[(lo-sj.t0)*sj.nz:(hi-sj.t0)*sj.nz], sj.start+int64(lo), hi-lo)
				sjltTranspose(sj.gT[(lo-sj.t0)*l:(hi-sj.t0)*l], l, g.src[lo-g.lo:], g.stride, s.batch, hi-lo)
			}
		}
	case phaseSJLTScatter:
		ja, jb, c0, c1 := sj.scatterShare(w, nw)
		if ja >= jb {
			return
		}
		for _, g := range sj.segs {
			lo, hi := max(g.lo, sj.t0), min(g.lo+g.cnt, sj.t1)
			if lo >= hi {
				continue
			}
			sjltScatterT(sj.partT, sj.gT[(lo-sj.t0)*l:(hi-sj.t0)*l], sj.tab[(lo-sj.t0)*sj.nz:(hi-sj.t0)*sj.nz],
				hi-lo, sj.nz, ja, jb, l, uint32(c0), uint32(c1))
		}
	case phaseSJLTAdd:
		c0, c1 := w*sj.k/nw, (w+1)*sj.k/nw
		if c0 >= c1 {
			return
		}
		sc := s.p.sjltScale
		pt := sj.partT[c0*l : c1*l]
		for b := 0; b < s.batch; b++ {
			if sj.norm {
				s.acc.normalise(b*s.dim+c0, b*s.dim+c1)
			}
			part := sj.part[b*sj.k+c0 : b*sj.k+c1]
			for c := range part {
				part[c] = pt[c*l+b]
			}
			if sc != 1 {
				for c, v := range part {
					part[c] = v * sc
				}
			}
			s.acc.addRow(b*s.dim+c0, part)
		}
		clear(pt)
	}
}

// sjltTranspose writes rows rows of the batch's gradients, example b's row i
// at src[b·stride + i], to dst with lanes values a row: dst[i·lanes + b] =
// src[b·stride + i] for b < batch, and +0 in the padding lanes. It goes in
// runs of rows whose destination stays in the L1 cache; sjltTransposeFast
// moves the full 8 × 8 blocks of a run where it can.
func sjltTranspose(dst []float32, lanes int, src []float32, stride, batch, rows int) {
	const run = 256
	for i0 := 0; i0 < rows; i0 += run {
		i1 := min(i0+run, rows)
		d := dst[i0*lanes : i1*lanes]
		r8, b8 := 0, 0
		if sjltTransposeFast(d, lanes, src[i0:], stride, batch, i1-i0) {
			r8, b8 = (i1-i0)&^7, batch&^7
		}
		for b := 0; b < batch; b++ {
			from := r8
			if b >= b8 {
				from = 0
			}
			for i, v := range src[b*stride+i0+from : b*stride+i1] {
				d[(from+i)*lanes+b] = v
			}
		}
		if batch < lanes {
			for i := 0; i < i1-i0; i++ {
				clear(d[i*lanes+batch : (i+1)*lanes])
			}
		}
	}
}

// sjltScatterT adds rows rows of a tile into the transposed partials: for
// each row i in ascending order and each of its table entries j in [ja, jb)
// whose column c lies in [c0, c1),
//
//	partT[c·lanes + l] += ±gT[i·lanes + l]   for l < lanes,
//
// the sign flipped by XOR of sjltSign (exact). Row i's entries are
// tab[i·nz + j]. It uses the vector code where there is one.
func sjltScatterT(partT, gT []float32, tab []uint32, rows, nz, ja, jb, lanes int, c0, c1 uint32) {
	if !sjltScatterFast(partT, gT, tab, rows, nz, ja, jb, lanes, c0, c1) {
		sjltScatterGo(partT, gT, tab, rows, nz, ja, jb, lanes, c0, c1)
	}
}

// sjltScatterGo is sjltScatterT in portable Go, the fallback and the
// reference the vector code is tested against.
func sjltScatterGo(partT, gT []float32, tab []uint32, rows, nz, ja, jb, lanes int, c0, c1 uint32) {
	for i := 0; i < rows; i++ {
		g := gT[i*lanes : (i+1)*lanes]
		for _, e := range tab[i*nz+ja : i*nz+jb] {
			c := e &^ sjltSign
			if c-c0 >= c1-c0 {
				continue
			}
			sign := e & sjltSign
			p := partT[int(c)*lanes : int(c)*lanes+lanes]
			for l, v := range g {
				p[l] += math.Float32frombits(math.Float32bits(v) ^ sign)
			}
		}
	}
}

// fillSJLT writes the packed (column, sign) entries of rows
// [row0, row0+rows) to dst, s per row in order of the column block j: the
// column b_j + ⌊x·w_j/2³²⌋ in the low 31 bits and sjltSign when the entry is
// −1/√s. It computes exactly what Entry computes: eight rows at a time with
// philox.Block8 (their counters differ only in the row words), one Philox
// evaluation per pair of column blocks, and the rows after the last multiple
// of eight one at a time.
func (p *Projector) fillSJLT(dst []uint32, row0 int64, rows int) {
	nz := p.spec.NonZeros
	base, width := p.sjltBase[:nz], p.sjltWidth[:nz]
	pack := func(j int, col, sign uint32) uint32 {
		return base[j] + uint32(uint64(col)*width[j]>>32) | (sign&1^1)<<31
	}
	full := rows &^ 7
	pairs := (nz + 1) / 2
	if pairs > sjltMaxPairs {
		full = 0 // rare (s > 16): all rows by Block2
	}
	// Two sets of eight-row counters, one per pair of column blocks, used by
	// alternate groups of rows: a group's row words are written a whole
	// group before Block8 loads them as vectors, since a vector load of
	// words still in the store buffer stalls.
	var ctr [2][sjltMaxPairs]philox.Lanes8
	var x philox.Lanes8
	setRows := func(c *[sjltMaxPairs]philox.Lanes8, i int) {
		var lo, hi [8]uint32
		for l := range 8 {
			r := uint64(row0) + uint64(i+l)
			lo[l], hi[l] = uint32(r), uint32(r>>32)
		}
		for jj := range pairs {
			c[jj][1], c[jj][2] = lo, hi
		}
	}
	if full > 0 {
		for jj := range pairs {
			for l := range 8 {
				ctr[0][jj][0][l], ctr[0][jj][3][l] = uint32(jj), DomainSJLT
			}
			ctr[1][jj][0], ctr[1][jj][3] = ctr[0][jj][0], ctr[0][jj][3]
		}
		setRows(&ctr[0], 0)
	}
	if full > 8 {
		setRows(&ctr[1], 8)
	}
	for i := 0; i < full; i += 8 {
		c := &ctr[i/8%2]
		d := dst[i*nz : (i+8)*nz]
		for jj := range pairs {
			j := 2 * jj
			philox.Block8(p.key, &c[jj], &x)
			two := j+1 < nz
			b1, w1 := uint32(0), uint32(0)
			if two {
				b1, w1 = base[j+1], uint32(width[j+1])
			}
			if sjltPack8Fast(d[j:], nz, &x, base[j], uint32(width[j]), b1, w1, two) {
				continue
			}
			sjltPack8(d[j:], nz, base[j], width[j], &x[0], &x[1])
			if two {
				sjltPack8(d[j+1:], nz, base[j+1], width[j+1], &x[2], &x[3])
			}
		}
		if i+16 < full {
			setRows(c, i+16)
		}
	}
	for i := full; i < rows; i++ {
		r := uint64(row0) + uint64(i)
		lo, hi := uint32(r), uint32(r>>32)
		d := dst[i*nz : (i+1)*nz]
		j := 0
		for ; j+3 < nz; j += 4 {
			x0, x1 := philox.Block2(p.key,
				philox.Counter{uint32(j / 2), lo, hi, DomainSJLT},
				philox.Counter{uint32(j/2 + 1), lo, hi, DomainSJLT})
			d[j] = pack(j, x0[0], x0[1])
			d[j+1] = pack(j+1, x0[2], x0[3])
			d[j+2] = pack(j+2, x1[0], x1[1])
			d[j+3] = pack(j+3, x1[2], x1[3])
		}
		for ; j < nz; j += 2 {
			x := philox.Block(p.key, philox.Counter{uint32(j / 2), lo, hi, DomainSJLT})
			d[j] = pack(j, x[0], x[1])
			if j+1 < nz {
				d[j+1] = pack(j+1, x[2], x[3])
			}
		}
	}
}

// sjltPack8 writes fillSJLT's packed entries of one column block (first
// column b, width w) for eight rows, row l's at d[l·nz], from the Philox
// words cols (the column) and signs (bit 0: the sign) of the eight rows.
func sjltPack8(d []uint32, nz int, b uint32, w uint64, cols, signs *[8]uint32) {
	_ = d[7*nz]
	for l := range 8 {
		d[l*nz] = b + uint32(uint64(cols[l])*w>>32) | (signs[l]&1^1)<<31
	}
}
