//go:build amd64

package gemm

import "fmt"

//go:noescape
func copyRows16(dst, src *float32, kc, npanels, lds, dpanel, dls, schunk int)

//go:noescape
func copyRows6(dst, src *float32, kc, lds int)

//go:noescape
func transpose4(dst, src *float32, kc, lds, dstride int)

//go:noescape
func transpose2(dst, src *float32, kc, lds, dstride int)

func rows16(dst, src []float32, kc, npanels, lds, dpanel, dls, schunk int) {
	if kc < 1 || npanels < 1 {
		return
	}
	checkPack("rows16", dst, src, (npanels-1)*dpanel+(kc-1)*dls+16, (kc-1)*lds+(npanels-1)*schunk+16)
	copyRows16(&dst[0], &src[0], kc, npanels, lds, dpanel, dls, schunk)
}

func rows6(dst, src []float32, kc, lds int) {
	if kc < 1 {
		return
	}
	checkPack("rows6", dst, src, 6*kc, (kc-1)*lds+6)
	copyRows6(&dst[0], &src[0], kc, lds)
}

// trans copies rows 4 at a time (then 2, then 1) of src into columns of dst.
func trans(dst, src []float32, rows, kc, lds, dstride int) {
	if kc < 1 || rows < 1 {
		return
	}
	checkPack("trans", dst, src, (kc-1)*dstride+rows, (rows-1)*lds+kc)
	r := 0
	for ; r+4 <= rows; r += 4 {
		transpose4(&dst[r], &src[r*lds], kc, lds, dstride)
	}
	if r+2 <= rows {
		transpose2(&dst[r], &src[r*lds], kc, lds, dstride)
		r += 2
	}
	if r < rows {
		transposeGo(dst[r:], src[r*lds:], 1, kc, lds, dstride)
	}
}

// checkPack guards the assembly helpers' memory accesses; the packing code
// never fails it.
func checkPack(op string, dst, src []float32, needDst, needSrc int) {
	if len(dst) < needDst || len(src) < needSrc {
		panic(fmt.Sprintf("gemm: %s: needs dst %d src %d, has %d %d", op, needDst, needSrc, len(dst), len(src)))
	}
}
