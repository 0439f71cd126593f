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
// with AVX2: eight rows per philox.Block8 call, whose counters differ only in
// the row words, then the 8 × 128 bits expanded to ±s by expandSigns8. It
// writes exactly what fillRademacher's portable path writes and reports
// whether it did; it declines (false, nothing written) for partial groups,
// overlapping rows (ld < 128) and CPUs without AVX2.
func (p *Projector) fillRademacherFast(dst []float32, ld int, row0 int64, rows, group, width int) bool {
	if !generateAVX2 || width != groupCols || ld < groupCols || rows < 1 {
		return false
	}
	_ = dst[(rows-1)*ld+groupCols-1] // every row is in dst; the assembly does not check
	var ctr, x philox.Lanes8
	for l := range 8 {
		ctr[0][l] = uint32(group)
		ctr[3][l] = DomainRademacher
	}
	pos := math.Float32bits(p.sign)
	for i := 0; i < rows; i += 8 {
		for l := range 8 {
			r := uint64(row0) + uint64(i+l)
			ctr[1][l], ctr[2][l] = uint32(r), uint32(r>>32)
		}
		philox.Block8(p.key, &ctr, &x)
		expandSigns8(&dst[i*ld], uintptr(ld)*4, &x, min(8, rows-i), pos)
	}
	return true
}

// expandSigns8 writes rows (1 ≤ rows ≤ 8) rows of 128 rademacher entries:
// for i < rows and j < 128, the float32 at byte offset i·ldBytes + 4·j from
// dst is the float32 with bits pos (the magnitude s) if bit j%32 of
// x[j/32][i] is set, and −s (pos with the sign bit set) otherwise. It is in
// generate_amd64.s and requires AVX2.
//
//go:noescape
func expandSigns8(dst *float32, ldBytes uintptr, x *philox.Lanes8, rows int, pos uint32)
