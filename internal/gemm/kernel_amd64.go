//go:build amd64

package gemm

//go:generate go run gen_kernels.go

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

// hasAVX512 reports the features kernel_avx512_amd64.s uses: every
// instruction in it is AVX-512 F (the FMAs are EVEX forms, which F covers).
func hasAVX512() bool { return cpu.X86.HasAVX512F }

var (
	avx2Impl   = impl{mr: 6, nr: 16, micro: microAVX2}
	avx512Impl = impl{mr: 6, nr: 32, micro: microAVX512}
)

// The assembly kernels multiply a 6×kc A panel (element (r, l) at
// a[r·ars + l·als]: packed, or read in place) by a kc×nr B panel (row l at
// b[l·bls:]: packed, or read in place) and update the mv×nv corner of the
// tile at c, rows ldc floats apart: c = fma(alpha, t, c0) with c0 = 0
// (mode 0), c (mode 1) or float32(beta·c) (mode 2). They read no row of A
// past mv and write nothing of C outside that corner.
//
//go:noescape
func kernelAVX2(a, b, c *float32, kc, ldc, mv, nv int, alpha, beta float32, mode, ars, als, bls int)

//go:noescape
func kernelAVX512(a, b, c *float32, kc, ldc, mv, nv int, alpha, beta float32, mode, ars, als, bls int)

func microAVX2(kc int, a []float32, ars, als int, b []float32, bls int, c []float32, ldc, mv, nv int, alpha, beta float32, mode int) {
	checkMicro(kc, a, ars, als, b, bls, c, ldc, mv, nv, 6, 16)
	kernelAVX2(&a[0], &b[0], &c[0], kc, ldc, mv, nv, alpha, beta, mode, ars, als, bls)
}

func microAVX512(kc int, a []float32, ars, als int, b []float32, bls int, c []float32, ldc, mv, nv int, alpha, beta float32, mode int) {
	checkMicro(kc, a, ars, als, b, bls, c, ldc, mv, nv, 6, 32)
	kernelAVX512(&a[0], &b[0], &c[0], kc, ldc, mv, nv, alpha, beta, mode, ars, als, bls)
}

// checkMicro is the bounds check the assembly cannot do. The driver never
// fails it; it guards memory safety, not the caller's input.
func checkMicro(kc int, a []float32, ars, als int, b []float32, bls int, c []float32, ldc, mv, nv, mr, nr int) {
	if kc < 1 || mv < 1 || mv > mr || nv < 1 || nv > nr || ars < 0 || als < 0 || bls < nr ||
		len(a) <= (mv-1)*ars+(kc-1)*als || len(b) < (kc-1)*bls+nr || len(c) < (mv-1)*ldc+nv {
		panic(fmt.Sprintf("gemm: micro-kernel %d×%d: bad call kc=%d mv=%d nv=%d ars=%d als=%d bls=%d ldc=%d len(a)=%d len(b)=%d len(c)=%d", mr, nr, kc, mv, nv, ars, als, bls, ldc, len(a), len(b), len(c)))
	}
}
