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
// changes only speed: every example's partial still receives its terms in
// ascending row order). For each tile the workers first share out its rows
// and write the tile's (column, sign) table, s packed entries per present
// row; then they share out the examples of the batch, each scattering its
// examples' rows of the tile into their own rows of the B × k float32
// partial. After the last tile each worker scales its examples' partials and
// adds them to their exact sums. So the result does not depend on the worker
// count, and an example's partial only on its own gradient.

// sjltTableEntries is the target size of a tile's table, in entries: 256 KiB,
// which stays in the L2 cache while every example of the batch reads it.
const sjltTableEntries = 1 << 16

// sjltSign is the bit of a packed table entry that holds the sign (set for
// −1/√s); the other bits hold the column, < 2³¹.
const sjltSign = 1 << 31

// sjltState is the SJLT part of an Accumulator.
type sjltState struct {
	nz       int       // s
	k        int       // columns
	tileRows int       // rows of a tile
	tab      []uint32  // tileRows × s packed (column, sign) entries of the tile
	part     []float32 // capacity × k float32 partials of the block
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

func newSJLTState(p *Projector, batch int) *sjltState {
	nz := p.spec.NonZeros
	tr := p.sjltTile
	return &sjltState{
		nz:       nz,
		k:        p.dim,
		tileRows: tr,
		tab:      make([]uint32, tr*nz),
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

// runSJLT does worker w's share of the current SJLT phase.
func (s *accState) runSJLT(w int) {
	sj := s.sj
	nw := len(s.work)
	switch s.phase {
	case phaseSJLTTable:
		n := sj.t1 - sj.t0
		r0, r1 := sj.t0+w*n/nw, sj.t0+(w+1)*n/nw
		for _, g := range sj.segs {
			lo, hi := max(g.lo, r0), min(g.lo+g.cnt, r1)
			if lo < hi {
				s.p.fillSJLT(sj.tab[(lo-sj.t0)*sj.nz:(hi-sj.t0)*sj.nz], sj.start+int64(lo), hi-lo)
			}
		}
	case phaseSJLTScatter:
		b0, b1 := w*s.batch/nw, (w+1)*s.batch/nw
		for _, g := range sj.segs {
			lo, hi := max(g.lo, sj.t0), min(g.lo+g.cnt, sj.t1)
			if lo >= hi {
				continue
			}
			tab := sj.tab[(lo-sj.t0)*sj.nz : (hi-sj.t0)*sj.nz]
			for b := b0; b < b1; b++ {
				src := g.src[b*g.stride+lo-g.lo : b*g.stride+hi-g.lo]
				scatter(sj.part[b*sj.k:(b+1)*sj.k], src, tab, sj.nz)
			}
		}
	case phaseSJLTAdd:
		b0, b1 := w*s.batch/nw, (w+1)*s.batch/nw
		for b := b0; b < b1; b++ {
			if sj.norm {
				s.acc.normalise(b*s.dim, (b+1)*s.dim)
			}
			part := sj.part[b*sj.k : (b+1)*sj.k]
			if sc := s.p.sjltScale; sc != 1 {
				for c, v := range part {
					part[c] = v * sc
				}
			}
			s.acc.addRow(b*s.dim, part)
			clear(part)
		}
	}
}

// scatter adds the rows of one example, g[i] for row i, into its partial:
// for each row in ascending order and each of its s table entries in order,
// part[column] += ±g[i] (the sign flip is exact).
func scatter(part, g []float32, tab []uint32, nz int) {
	switch nz {
	case 1:
		tab = tab[:len(g)]
		for i, v := range g {
			e := tab[i]
			part[e&^sjltSign] += math.Float32frombits(math.Float32bits(v) ^ e&sjltSign)
		}
	case 2:
		tab = tab[:2*len(g)]
		for i, v := range g {
			e := tab[2*i : 2*i+2 : 2*i+2]
			u := math.Float32bits(v)
			part[e[0]&^sjltSign] += math.Float32frombits(u ^ e[0]&sjltSign)
			part[e[1]&^sjltSign] += math.Float32frombits(u ^ e[1]&sjltSign)
		}
	case 4:
		tab = tab[:4*len(g)]
		for i, v := range g {
			e := (*[4]uint32)(tab[4*i : 4*i+4])
			u := math.Float32bits(v)
			part[e[0]&^sjltSign] += math.Float32frombits(u ^ e[0]&sjltSign)
			part[e[1]&^sjltSign] += math.Float32frombits(u ^ e[1]&sjltSign)
			part[e[2]&^sjltSign] += math.Float32frombits(u ^ e[2]&sjltSign)
			part[e[3]&^sjltSign] += math.Float32frombits(u ^ e[3]&sjltSign)
		}
	default:
		tab = tab[:nz*len(g)]
		for i, v := range g {
			u := math.Float32bits(v)
			for _, e := range tab[i*nz : (i+1)*nz] {
				part[e&^sjltSign] += math.Float32frombits(u ^ e&sjltSign)
			}
		}
	}
}

// fillSJLT writes the packed (column, sign) entries of rows
// [row0, row0+rows) to dst, s per row in order of the column block j: the
// column b_j + ⌊x·w_j/2³²⌋ in the low 31 bits and sjltSign when the entry is
// −1/√s. It computes exactly what Entry computes, two non-zeros per Philox
// call.
func (p *Projector) fillSJLT(dst []uint32, row0 int64, rows int) {
	nz := p.spec.NonZeros
	base, width := p.sjltBase[:nz], p.sjltWidth[:nz]
	pack := func(j int, col, sign uint32) uint32 {
		return base[j] + uint32(uint64(col)*width[j]>>32) | (sign&1^1)<<31
	}
	if nz <= 2 {
		// One Philox call per row: two rows per Block2.
		put := func(d []uint32, x [4]uint32) {
			d[0] = pack(0, x[0], x[1])
			if nz == 2 {
				d[1] = pack(1, x[2], x[3])
			}
		}
		i := 0
		for ; i+1 < rows; i += 2 {
			r0 := uint64(row0) + uint64(i)
			r1 := r0 + 1
			x0, x1 := philox.Block2(p.key,
				philox.Counter{0, uint32(r0), uint32(r0 >> 32), DomainSJLT},
				philox.Counter{0, uint32(r1), uint32(r1 >> 32), DomainSJLT})
			put(dst[i*nz:], x0)
			put(dst[(i+1)*nz:], x1)
		}
		if i < rows {
			r := uint64(row0) + uint64(i)
			put(dst[i*nz:], philox.Block(p.key, philox.Counter{0, uint32(r), uint32(r >> 32), DomainSJLT}))
		}
		return
	}
	for i := 0; i < rows; i++ {
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
