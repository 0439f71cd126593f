package gemm

const (
	genericMR = 6
	genericNR = 16
)

var genericImpl = impl{mr: genericMR, nr: genericNR, micro: microGeneric}

// microGeneric is the portable micro-kernel. It performs, element by element,
// the same float32 FMAs in the same order as the assembly kernels, using the
// software fma32, so its results are bit-identical to theirs.
func microGeneric(kc int, a []float32, ars, als int, b, c []float32, ldc, mv, nv int, alpha, beta float32, mode int) {
	const mr, nr = genericMR, genericNR
	var acc [mr * nr]float32
	b = b[:kc*nr]
	for l := range kc {
		bp := b[l*nr : l*nr+nr]
		for i := range mv {
			ai := a[i*ars+l*als]
			row := acc[i*nr : i*nr+nr]
			for j, bj := range bp[:nv] {
				row[j] = fma32(ai, bj, row[j])
			}
		}
	}
	for i := range mv {
		cr := c[i*ldc : i*ldc+nv]
		for j := range cr {
			var c0 float32
			switch mode {
			case 1:
				c0 = cr[j]
			case 2:
				c0 = float32(beta * cr[j])
			}
			cr[j] = fma32(alpha, acc[i*nr+j], c0)
		}
	}
}
