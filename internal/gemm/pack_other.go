//go:build !amd64

package gemm

func rows16(dst, src []float32, kc, npanels, lds, dpanel, dls, schunk int) {
	copyRows16Go(dst, src, kc, npanels, lds, dpanel, dls, schunk)
}

func rows6(dst, src []float32, kc, lds int) { copyRows6Go(dst, src, kc, lds) }

func trans(dst, src []float32, rows, kc, lds, dstride int) {
	transposeGo(dst, src, rows, kc, lds, dstride)
}
