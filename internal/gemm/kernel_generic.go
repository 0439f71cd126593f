package gemm

import "math"

const (
	genericMR = 6
	genericNR = 16
)

var genericImpl = impl{mr: genericMR, nr: genericNR, micro: microGeneric}

// microGeneric is the portable micro-kernel. It performs, element by element,
// the same float32 FMAs in the same order as the assembly kernels, using the
// software fma32, or the hardware's where the compiler fuses x*y + z
// (fusedFMA), so its results are bit-identical to theirs.
func microGeneric(kc int, a []float32, ars, als int, b []float32, bls int, c []float32, ldc, mv, nv int, alpha, beta float32, mode int) {
	const mr, nr = genericMR, genericNR
	var acc [mr * nr]float32
	for l := range kc {
		bp := b[l*bls : l*bls+nr]
		for i := range mv {
			ai := a[i*ars+l*als]
			row := acc[i*nr : i*nr+nr]
			if fusedFMA {
				// One instruction that rounds once, as fma32 does
				// (fused.go checks it).
				for j, bj := range bp[:nv] {
					row[j] = ai*bj + row[j]
				}
				continue
			}
			for j, bj := range bp[:nv] {
				// fma32 with its fast path written out, because the
				// compiler will not inline it here.
				t := row[j]
				s := float64(float64(ai)*float64(bj)) + float64(t)
				if bits := math.Float64bits(s); bits&0x1fffffff != 0x10000000 && bits&0x7ff0000000000000 >= 0x3810000000000000 {
					row[j] = float32(s)
				} else {
					row[j] = fma32Slow(ai, bj, t)
				}
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
