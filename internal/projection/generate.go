package projection

import "github.com/trak-dev/trak/internal/philox"

// signTab maps one byte of rademacher bits to the eight entries it encodes:
// entry t is +s when bit t of the byte is set and −s otherwise, matching the
// bit order of the definition (bit j%32 of word j/32, least significant
// first). Expanding a Philox output through it is 16 table copies instead of
// 128 bit tests.
type signTab [256][8]float32

func newSignTab(s float32) *signTab {
	t := new(signTab)
	for b := range 256 {
		for i := range 8 {
			if b>>i&1 == 1 {
				t[b][i] = s
			} else {
				t[b][i] = -s
			}
		}
	}
	return t
}

// expand writes the 128 entries encoded by one Philox output x.
func (t *signTab) expand(dst *[groupCols]float32, x [4]uint32) {
	for w, v := range x {
		d := (*[32]float32)(dst[w*32 : w*32+32])
		*(*[8]float32)(d[0:8]) = t[v&0xff]
		*(*[8]float32)(d[8:16]) = t[v>>8&0xff]
		*(*[8]float32)(d[16:24]) = t[v>>16&0xff]
		*(*[8]float32)(d[24:32]) = t[v>>24]
	}
}

// fillGroup writes P[row0+i, 128·group + j] to dst[i·ld + j] for i < rows and
// j < width (width ≤ 128, and 128·group + width ≤ k). It computes exactly what
// Entry computes, many entries per Philox call.
func (p *Projector) fillGroup(dst []float32, ld int, row0 int64, rows, group, width int) {
	switch p.spec.Kind {
	case Rademacher:
		p.fillRademacher(dst, ld, row0, rows, group, width)
	case Normal:
		p.fillNormal(dst, ld, row0, rows, group, width)
	default:
		panic("projection: fillGroup called for kind " + string(p.spec.Kind))
	}
}

func (p *Projector) fillRademacher(dst []float32, ld int, row0 int64, rows, group, width int) {
	if p.fillRademacherFast(dst, ld, row0, rows, group, width) { // generate_amd64.go
		return
	}
	put := func(i int, x [4]uint32) {
		if width == groupCols {
			p.signTab.expand((*[groupCols]float32)(dst[i*ld:i*ld+groupCols]), x)
			return
		}
		d := dst[i*ld : i*ld+width]
		for j := range d {
			if x[j/32]>>(j%32)&1 == 1 {
				d[j] = p.sign
			} else {
				d[j] = -p.sign
			}
		}
	}
	g := uint32(group)
	i := 0
	// Two rows at a time: Block2 overlaps the two dependency chains.
	for ; i+1 < rows; i += 2 {
		r0 := uint64(row0) + uint64(i)
		r1 := r0 + 1
		x0, x1 := philox.Block2(p.key,
			philox.Counter{g, uint32(r0), uint32(r0 >> 32), DomainRademacher},
			philox.Counter{g, uint32(r1), uint32(r1 >> 32), DomainRademacher})
		put(i, x0)
		put(i+1, x1)
	}
	if i < rows {
		r := uint64(row0) + uint64(i)
		put(i, philox.Block(p.key, philox.Counter{g, uint32(r), uint32(r >> 32), DomainRademacher}))
	}
}

func (p *Projector) fillNormal(dst []float32, ld int, row0 int64, rows, group, width int) {
	put := func(d []float32, x [4]uint32) {
		z := boxMuller(x)
		for t := range d {
			d[t] = float32(z[t] * p.scale)
		}
	}
	q0 := uint32(group * (groupCols / 4))
	quads := (width + 3) / 4
	for i := 0; i < rows; i++ {
		r := uint64(row0) + uint64(i)
		lo, hi := uint32(r), uint32(r>>32)
		d := dst[i*ld : i*ld+width]
		q := 0
		for ; q+1 < quads; q += 2 {
			x0, x1 := philox.Block2(p.key,
				philox.Counter{q0 + uint32(q), lo, hi, DomainNormal},
				philox.Counter{q0 + uint32(q) + 1, lo, hi, DomainNormal})
			put(d[4*q:4*q+4], x0)
			put(d[4*q+4:min(4*q+8, width)], x1)
		}
		if q < quads {
			put(d[4*q:width], philox.Block(p.key, philox.Counter{q0 + uint32(q), lo, hi, DomainNormal}))
		}
	}
}
