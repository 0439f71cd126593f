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
// the row words, so that one Philox evaluation of eight lanes gives all eight
// rows' bits. philox.Block8 computes the first group; rademacherPipe then
// expands each full group to ±s while it computes the next group's Philox
// blocks with AVX2. Its expansion goes through the sign table with loads,
// stores and integer shifts only, so it does not compete with the Philox
// rounds for the vector units, and most of the Philox cost hides behind the
// stores. The group after the last full one holds the bits of the rows after
// the last multiple of eight, which expandSigns8 (vector shifts and blends)
// expands. It writes exactly what fillRademacher's portable path writes and
// reports whether it did; it declines (false, nothing written) for partial
// groups, overlapping rows (ld < 128) and CPUs without AVX2.
func (p *Projector) fillRademacherFast(dst []float32, ld int, row0 int64, rows, group, width int) bool {
	if !generateAVX2 || width != groupCols || ld < groupCols || rows < 1 {
		return false
	}
	_ = dst[(rows-1)*ld+groupCols-1] // every row is in dst; the assembly does not check
	ldBytes := uintptr(ld) * 4
	var st pipeState
	var ctr philox.Lanes8
	for l := range 8 {
		r := uint64(row0) + uint64(l)
		ctr[0][l], ctr[1][l], ctr[2][l], ctr[3][l] = uint32(group), uint32(r), uint32(r>>32), DomainRademacher
	}
	philox.Block8(p.key, &ctr, &st.buf[0])
	full := rows / 8
	if full > 0 {
		for l := range 4 {
			st.rowA[l] = uint64(row0) + 8 + uint64(l)
			st.rowB[l] = uint64(row0) + 12 + uint64(l)
		}
		rademacherPipe(&dst[0], ldBytes, full, &st, p.signTab, p.key[0], p.key[1], uint32(group), DomainRademacher)
	}
	if tail := rows - 8*full; tail > 0 {
		expandSigns8(&dst[8*full*ld], ldBytes, &st.buf[full%2], tail, math.Float32bits(p.sign))
	}
	return true
}

// pipeState is rademacherPipe's working memory; generate_amd64.s addresses
// its fields by the offsets in the comments (TestPipeStateLayout checks them).
// fillRademacherFast sets buf[0], rowA and rowB; rademacherPipe the rest.
type pipeState struct {
	keys [philox.Rounds][2][8]uint32 // 0: round r's key words, broadcast
	grp  [8]uint32                   // 640: counter word 0, the column group
	dom  [8]uint32                   // 672: counter word 3, DomainRademacher
	rowA [4]uint64                   // 704: rows of blocks 0-3 of the next group
	rowB [4]uint64                   // 736: rows of blocks 4-7 of the next group
	buf  [2]philox.Lanes8            // 768: Philox outputs of this and the next group
}

// rademacherPipe expands groups (≥ 1) groups of eight rows, the first
// group's Philox outputs in st.buf[0], to dst (rows ldBytes apart) as
// expandSigns8 does, copying the entries from tab (p.signTab). While it
// expands group j it computes the Philox outputs of group j+1 (key (k0, k1),
// counter words grp, st.rowA and st.rowB, dom; st.rowA and st.rowB advance by
// 8 a group) into st.buf[(j+1)%2]: those of group groups, not expanded, are
// left in st.buf[groups%2]. It fills st.keys, st.grp and st.dom itself. It is
// in generate_amd64.s and requires AVX2.
//
//go:noescape
func rademacherPipe(dst *float32, ldBytes uintptr, groups int, st *pipeState, tab *signTab, k0, k1, grp, dom uint32)

// expandSigns8 writes rows (1 ≤ rows ≤ 8) rows of 128 rademacher entries:
// for i < rows and j < 128, the float32 at byte offset i·ldBytes + 4·j from
// dst is the float32 with bits pos (the magnitude s) if bit j%32 of
// x[j/32][i] is set, and −s (pos with the sign bit set) otherwise. It is in
// generate_amd64.s and requires AVX2.
//
//go:noescape
func expandSigns8(dst *float32, ldBytes uintptr, x *philox.Lanes8, rows int, pos uint32)
