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
				for _, nr := range []int{16, 32} {
					if (np-1)*nr+16 > lds {
						continue
					}
					dpanel := nr*kc + 3
					want := make([]float32, np*dpanel)
					got := make([]float32, np*dpanel)
					copyRows16Go(want, src, kc, np, lds, dpanel, nr, nr)
					rows16(got, src, kc, np, lds, dpanel, nr, nr)
					if i := sameBits(got, want); i >= 0 {
						t.Fatalf("rows16 kc=%d np=%d lds=%d nr=%d differs at %d", kc, np, lds, nr, i)
					}
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

// TestPacking checks packA and packB, for both tile widths in use (16 for
// AVX2 and Generic, 32 for AVX-512, whose packing is thus tested even where
// its kernel cannot run), against the definition of the packed layout:
// panel-major, l-major inside a panel, zero padding. Tolerance: none.
func TestPacking(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tr := range [][2]bool{{false, false}, {true, true}, {false, true}, {true, false}} {
		for _, nr := range []int{16, 32} {
			const mr = 6
			m, n, k := 29, 3*nr+5, 70
			o := newOperands(rng, tr[0], tr[1], m, n, k, 3, 1, 1, false)
			p := &problem{tA: o.tA, tB: o.tB, m: m, n: n, k: k, a: o.a, b: o.b, lda: o.lda, ldb: o.ldb}
			opA := func(i, l int) float32 {
				if o.tA {
					return o.a[l*o.lda+i]
				}
				return o.a[i*o.lda+l]
			}
			opB := func(l, j int) float32 {
				if o.tB {
					return o.b[j*o.ldb+l]
				}
				return o.b[l*o.ldb+j]
			}
			ic, mc, jc, nc, pc, kc := 4, 23, 2, n-2, 3, 61
			pa := randSlice(rng, roundUp(mc, mr)*kc) // garbage that padding must overwrite
			packA(pa, p, ic, mc, pc, kc, mr)
			for i := range roundUp(mc, mr) {
				for l := range kc {
					var want float32
					if i < mc {
						want = opA(ic+i, pc+l)
					}
					if got := pa[(i/mr)*mr*kc+l*mr+i%mr]; got != want {
						t.Fatalf("packA tA=%v: row %d l %d = %g, want %g", o.tA, i, l, got, want)
					}
				}
			}
			pb := randSlice(rng, roundUp(nc, nr)*kc)
			packB(pb, p, pc, kc, jc, nc, nr)
			for j := range roundUp(nc, nr) {
				for l := range kc {
					var want float32
					if j < nc {
						want = opB(pc+l, jc+j)
					}
					if got := pb[(j/nr)*nr*kc+l*nr+j%nr]; got != want {
						t.Fatalf("packB tB=%v nr=%d: column %d l %d = %g, want %g", o.tB, nr, j, l, got, want)
					}
				}
			}
		}
	}
}
