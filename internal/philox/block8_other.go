//go:build !amd64

package philox

// useAVX2 is false off amd64: Block8 always takes the portable path.
const useAVX2 = false

func block8AVX2(k0, k1 uint32, in, out *Lanes8) {
	panic("philox: block8AVX2 called without AVX2")
}
