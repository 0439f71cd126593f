//go:build amd64

package projection

import (
	"github.com/trak-dev/trak/internal/philox"
	"golang.org/x/sys/cpu"
)

// sjltAVX2 selects the vector SJLT scatter. It is fixed when the package is
// loaded.
var sjltAVX2 = cpu.X86.HasAVX2

// sjltScatterFast is sjltScatterT on a CPU with AVX2: it does exactly what
// sjltScatterGo does and reports whether it did; it declines (false, nothing
// written) without AVX2. It checks the bounds that the assembly relies on:
// every row of gT and tab is present, and every column in [c0, c1) has its
// lanes in partT (columns outside it are skipped before any access).
func sjltScatterFast(partT, gT []float32, tab []uint32, rows, nz, ja, jb, lanes int, c0, c1 uint32) bool {
	if !sjltAVX2 || lanes <= 0 || lanes%8 != 0 {
		return false
	}
	if rows <= 0 || ja >= jb || c0 >= c1 {
		return true // nothing to add
	}
	if ja < 0 || jb > nz || len(gT) < rows*lanes || len(tab) < (rows-1)*nz+jb || len(partT) < int(c1)*lanes {
		panic("projection: sjltScatterFast: out of range")
	}
	sjltScatterAVX2(&partT[0], &gT[0], &tab[ja], rows, nz, jb-ja, lanes, c0, c1-c0)
	return true
}

// sjltScatterAVX2 is the body of sjltScatterFast, in sjlt_amd64.s: tab
// points at row 0's first entry to apply (rows nz entries apart), n entries
// a row, and an entry applies when its column c satisfies c − c0 < cn
// (unsigned). It requires AVX2, rows ≥ 1, n ≥ 1 and lanes a positive
// multiple of 8.
//
//go:noescape
func sjltScatterAVX2(partT, gT *float32, tab *uint32, rows, nz, n, lanes int, c0, cn uint32)

// sjltTransposeFast writes the full 8 × 8 blocks of sjltTranspose's output
// (rows below rows&^7, examples below batch&^7; dst and src as there) on a
// CPU with AVX2, and reports whether it did; it declines (false, nothing
// written) without AVX2.
func sjltTransposeFast(dst []float32, lanes int, src []float32, stride, batch, rows int) bool {
	if !sjltAVX2 {
		return false
	}
	groups, rowGroups := batch/8, rows/8
	if groups == 0 || rowGroups == 0 {
		return true
	}
	if lanes < 8*groups || len(dst) < (8*rowGroups-1)*lanes+8*groups || len(src) < (8*groups-1)*stride+8*rowGroups {
		panic("projection: sjltTransposeFast: out of range")
	}
	sjltTranspose8AVX2(&dst[0], 4*lanes, &src[0], 4*stride, groups, rowGroups)
	return true
}

// sjltTranspose8AVX2 is the body of sjltTransposeFast, in sjlt_amd64.s,
// with the strides in bytes. It requires AVX2, groups ≥ 1 and rowGroups ≥ 1.
//
//go:noescape
func sjltTranspose8AVX2(dst *float32, laneBytes int, src *float32, strideBytes, groups, rowGroups int)

// sjltPack8Fast writes fillSJLT's packed entries of column blocks j and, if
// two, j+1 for eight rows (row l's at d[l·nz] and d[l·nz+1]) from their
// Philox outputs x, as sjltPack8 does, on a CPU with AVX2, and reports
// whether it did; it declines (false, nothing written) without AVX2.
func sjltPack8Fast(d []uint32, nz int, x *philox.Lanes8, b0, w0, b1, w1 uint32, two bool) bool {
	if !sjltAVX2 {
		return false
	}
	n, t := 1, 0
	if two {
		n, t = 2, 1
	}
	_ = d[7*nz+n-1] // every entry is in d; the assembly does not check
	sjltPackAVX2(&d[0], uintptr(4*nz), x, b0, w0, b1, w1, t)
	return true
}

// sjltPackAVX2 is the body of sjltPack8Fast, in sjlt_amd64.s. The widths
// are < 2³², so they fit a uint32.
//
//go:noescape
func sjltPackAVX2(d *uint32, nzBytes uintptr, x *philox.Lanes8, b0, w0, b1, w1 uint32, two int)
