//go:build amd64

package gemm

import "golang.org/x/sys/cpu"

func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

// hasAVX512 reports the features kernel_avx512_amd64.s uses.
func hasAVX512() bool { return cpu.X86.HasAVX512F && cpu.X86.HasFMA }

var avx2Impl = impl{mr: 6, nr: 16, micro: microAVX2}

// kernelAVX2 is the 6×16 AVX2+FMA micro-kernel of kernel_avx2_amd64.s. It
// reads kc·6 floats at a and kc·16 at b and updates 6 rows of 16 floats at c,
// ldc floats apart.
//
//go:noescape
func kernelAVX2(a, b, c *float32, kc, ldc int, alpha float32)

func microAVX2(kc int, a, b, c []float32, ldc int, alpha float32) {
	// The slicing is the bounds check the assembly cannot do.
	_ = a[kc*6-1]
	_ = b[kc*16-1]
	_ = c[5*ldc+15]
	kernelAVX2(&a[0], &b[0], &c[0], kc, ldc, alpha)
}

// avx512Impl is unset until an AVX-512 kernel exists; hasAVX512 alone never
// makes it selectable (see avx512SelfCheck).
var avx512Impl impl
