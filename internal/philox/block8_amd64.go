//go:build amd64

package philox

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 Block8. It is fixed when the package is loaded.
var useAVX2 = cpu.X86.HasAVX2

// block8AVX2 is Block8 with key (k0, k1), in block8_amd64.s. It requires
// AVX2.
//
//go:noescape
func block8AVX2(k0, k1 uint32, in, out *Lanes8)
