//go:build amd64

package projection

import (
	"math"

	"github.com/trak-dev/trak/internal/philox"
	"golang.org/x/sys/cpu"
)

// generateAVX2 selects the vector rademacher generator. It is fixed when the
// package is loaded.
var generateAVX2 = cpu.X86.HasAVX2

// fillRademacherFast is fillRademacher for full 128-column groups on a CPU
// with AVX2. It works in groups of eight rows, whose counters differ only in
// the row words, so that one philox.Block8 call gives all eight rows' bits.
// rademacherPipe expands one group to ±s while it computes the next group's
// Philox blocks with AVX2; the expansion goes through the sign table with
// loads, stores and integer shifts only, so it does not compete with the
// Philox rounds for the vector units, and most of the Philox cost hides
// behind the stores. expandSigns8 (vector shifts and blends) expands the last
// group and the rows after the last multiple of eight. It writes exactly what
// fillRademacher's portable path writes and reports whether it did; it
// declines (false, nothing written) for partial groups, overlapping rows
// (ld < 128) and CPUs without AVX2.
func (p *Projector) fillRademacherFast(dst []float32, ld int, row0 int64, rows, group, width int) bool {
	if !generateAVX2 || width != groupCols || ld < groupCols || rows < 1 {
		return false
	}
	_ = dst[(rows-1)*ld+groupCols-1] // every row is in dst; the assembly does not check
	pos := math.Float32bits(p.sign)
	ldBytes := uintptr(ld) * 4
	var ctr philox.Lanes8
	for l := range 8 {
		ctr[0][l] = uint32(group)
		ctr[3][l] = DomainRademacher
	}
	setRows := func(first uint64) {
		for l := range 8 {
			r := first + uint64(l)
			ctr[1][l], ctr[2][l] = uint32(r), uint32(r>>32)
		}
	}
	full := rows / 8
	if full > 0 {
		var st pipeState
		setRows(uint64(row0))
		philox.Block8(p.key, &ctr, &st.buf[0])
		if full > 1 {
			k0, k1 := p.key[0], p.key[1]
			for r := range philox.Rounds {
				for l := range 8 {
					st.keys[r][0][l], st.keys[r][1][l] = k0, k1
				}
				k0 += philox.W0
				k1 += philox.W1
			}
			for l := range 8 {
				st.grp[l] = uint32(group)
				st.dom[l] = DomainRademacher
			}
			for l := range 4 {
				st.rowA[l] = uint64(row0) + 8 + uint64(l)
				st.rowB[l] = uint64(row0) + 12 + uint64(l)
			}
			rademacherPipe(&dst[0], ldBytes, full-1, &st, p.signTab)
		}
		expandSigns8(&dst[(full-1)*8*ld], ldBytes, &st.buf[(full-1)%2], 8, pos)
	}
	if tail := rows - 8*full; tail > 0 {
		var x philox.Lanes8
		setRows(uint64(row0) + uint64(8*full))
		philox.Block8(p.key, &ctr, &x)
		expandSigns8(&dst[8*full*ld], ldBytes, &x, tail, pos)
	}
	return true
}

// pipeState is rademacherPipe's working memory; generate_amd64.s addresses
// its fields by the offsets in the comments (TestPipeStateLayout checks them).
type pipeState struct {
	keys [philox.Rounds][2][8]uint32 // 0: round r's key words, broadcast
	grp  [8]uint32                   // 640: counter word 0, the column group
	dom  [8]uint32                   // 672: counter word 3, DomainRademacher
	rowA [4]uint64                   // 704: rows of blocks 0-3 of the next group
	rowB [4]uint64                   // 736: rows of blocks 4-7 of the next group
	buf  [2]philox.Lanes8            // 768: Philox outputs of this and the next group
}

// rademacherPipe expands groups groups of eight rows, the first group's
// Philox outputs in st.buf[0], to dst (rows ldBytes apart) as expandSigns8
// does, and computes the Philox outputs of each following group (counters
// from st.grp, st.rowA, st.rowB, st.dom; st.rowA and st.rowB advance by 8 a
// group) while it expands the previous one. The outputs of group j are in
// st.buf[j%2]; those of group groups (the next one, not expanded) are left
// in st.buf[groups%2]. The entries are copied from tab, p.signTab. It is in
// generate_amd64.s and requires AVX2.
//
//go:noescape
func rademacherPipe(dst *float32, ldBytes uintptr, groups int, st *pipeState, tab *signTab)

// expandSigns8 writes rows (1 ≤ rows ≤ 8) rows of 128 rademacher entries:
// for i < rows and j < 128, the float32 at byte offset i·ldBytes + 4·j from
// dst is the float32 with bits pos (the magnitude s) if bit j%32 of
// x[j/32][i] is set, and −s (pos with the sign bit set) otherwise. It is in
// generate_amd64.s and requires AVX2.
//
//go:noescape
func expandSigns8(dst *float32, ldBytes uintptr, x *philox.Lanes8, rows int, pos uint32)
