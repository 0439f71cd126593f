package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestPackHelpers compares the packing helpers in use on this architecture
// (assembly on amd64) with the portable versions, including all l
// remainders of the 4-wide transposes. Tolerance: none (pure data movement).
func TestPackHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for kc := 1; kc <= 11; kc++ {
		for _, lds := range []int{16 * 3, 16*3 + 5} {
			src := randSlice(rng, kc*lds+64)
			for np := 1; np <= 3; np++ {
				dpanel := 16*kc + 3
				want := make([]float32, np*dpanel)
				got := make([]float32, np*dpanel)
				copyRows16Go(want, src, kc, np, lds, dpanel)
				rows16(got, src, kc, np, lds, dpanel)
				if i := sameBits(got, want); i >= 0 {
					t.Fatalf("rows16 kc=%d np=%d lds=%d differs at %d", kc, np, lds, i)
				}
			}
			want := make([]float32, 6*kc)
			got := make([]float32, 6*kc)
			copyRows6Go(want, src, kc, lds)
			rows6(got, src, kc, lds)
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("rows6 kc=%d lds=%d differs at %d", kc, lds, i)
			}
			for rows := 1; rows <= 16; rows++ {
				if (rows-1)*lds+kc > len(src) {
					continue
				}
				for _, dstride := range []int{6, 16, 32} {
					if dstride < rows {
						continue
					}
					want := make([]float32, kc*dstride)
					got := make([]float32, kc*dstride)
					transposeGo(want, src, rows, kc, lds, dstride)
					trans(got, src, rows, kc, lds, dstride)
					if i := sameBits(got, want); i >= 0 {
						t.Fatalf("trans rows=%d kc=%d lds=%d dstride=%d differs at %d", rows, kc, lds, dstride, i)
					}
				}
			}
		}
	}
}
