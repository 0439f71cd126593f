package gemm

// Portable versions of the packing helpers. On amd64 the assembly versions
// in pack_amd64.s are used and these serve as their test oracle; elsewhere
// they are the implementation.

// copyRows16Go: for l < kc, p < npanels:
// dst[p·dpanel + l·dls : +16] = src[l·lds + p·schunk : +16].
func copyRows16Go(dst, src []float32, kc, npanels, lds, dpanel, dls, schunk int) {
	for l := range kc {
		for p := range npanels {
			d := p*dpanel + l*dls
			s := l*lds + p*schunk
			copy(dst[d:d+16], src[s:s+16])
		}
	}
}

// copyRows6Go: for l < kc: dst[6l : 6l+6] = src[l·lds : +6].
func copyRows6Go(dst, src []float32, kc, lds int) {
	for l := range kc {
		copy(dst[6*l:6*l+6], src[l*lds:l*lds+6])
	}
}

// transposeGo: for r < rows, l < kc: dst[l·dstride + r] = src[r·lds + l].
func transposeGo(dst, src []float32, rows, kc, lds, dstride int) {
	for r := range rows {
		s := src[r*lds : r*lds+kc]
		for l, v := range s {
			dst[l*dstride+r] = v
		}
	}
}
