package gemm

import (
	"fmt"
	"math"
	"sync"
)

// avx512SelfCheck runs once per process: the AVX-512 kernel cannot be tested
// on the machines this package is developed on, so before it is ever used it
// must reproduce the contract bit for bit on every code path of the kernel
// and on whole products. The result never changes after the first call.
var avx512SelfCheck = sync.OnceValue(func() error {
	if !hasAVX512() || avx512Impl.micro == nil {
		return fmt.Errorf("gemm: kernel avx512 is not available on this CPU")
	}
	if err := selfCheck(avx512Impl); err != nil {
		return fmt.Errorf("gemm: kernel avx512 failed its self-check, not using it: %w", err)
	}
	return nil
})

// selfFill is a deterministic, sign-mixed fill whose products do not cancel
// exactly.
func selfFill(x []float32, seed uint32) {
	s := seed
	for i := range x {
		s = s*1664525 + 1013904223
		x[i] = float32(int32(s>>8)-1<<23) / (1 << 23)
	}
}

// selfCheck checks im in two ways. First its micro-kernel directly, against
// the contract for one tile, over every variant the assembly has: each row
// count, each store shape (full, second vector partial, first vector partial
// or exact), the K-loop remainders, the three update modes, packed and
// in-place A and B. Then whole products against Generic, A and B packed and
// in place,
// with two K blocks (the second partial) and edge tiles.
func selfCheck(im impl) error {
	mr, nr := im.mr, im.nr
	const maxKC = 9
	a := make([]float32, 40*40)
	const bpad = 5 // B in place: rows longer than the panel
	b := make([]float32, maxKC*(nr+bpad))
	c0 := make([]float32, mr*40)
	selfFill(a, 1)
	selfFill(b, 2)
	selfFill(c0, 3)
	strides := [][2]int{{1, mr}, {37, 1}, {1, 39}} // packed, A in place, Aᵀ in place
	for mv := 1; mv <= mr; mv++ {
		for _, nv := range []int{1, nr/2 - 3, nr / 2, nr/2 + 1, nr - 1, nr} {
			for kc := 1; kc <= maxKC; kc++ {
				for mode := range 3 {
					for si, st := range strides {
						const ldc = 40
						bls := nr + bpad*(si%2)
						want := append([]float32(nil), c0...)
						have := append([]float32(nil), c0...)
						contractTile(kc, a, st[0], st[1], b, bls, want, ldc, mv, nv, 0.75, -1.5, mode)
						im.micro(kc, a, st[0], st[1], b, bls, have, ldc, mv, nv, 0.75, -1.5, mode)
						for i := range want {
							if math.Float32bits(want[i]) != math.Float32bits(have[i]) {
								return fmt.Errorf("micro-kernel mv=%d nv=%d kc=%d mode=%d strides=%v bls=%d: element %d is %g, contract %g", mv, nv, kc, mode, st, bls, i, have[i], want[i])
							}
						}
					}
				}
			}
		}
	}

	ref := &Gemm{kernel: Generic, threads: 1, im: genericImpl, pool: &sync.Pool{}}
	const m, k = 13, KC + 45
	n := 2*nr + 37
	a = make([]float32, m*k)
	b = make([]float32, k*n)
	c0 = make([]float32, m*n)
	selfFill(a, 4)
	selfFill(b, 5)
	selfFill(c0, 6)
	for i, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		// Every update mode: beta == 0 (C not read), 1, other.
		alpha, beta := []float32{0.75, -2, 1, 0.5}[i], []float32{-1.5, 0, 1, 2}[i]
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		want := append([]float32(nil), c0...)
		ref.Sgemm(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, want, n)
		for _, pack := range []int{1, -1} {
			got := &Gemm{kernel: "candidate", threads: 2, im: im, pool: &sync.Pool{}, packA: pack, packB: -pack}
			have := append([]float32(nil), c0...)
			got.Sgemm(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, have, n)
			for i := range want {
				if math.Float32bits(want[i]) != math.Float32bits(have[i]) {
					return fmt.Errorf("product tA=%v tB=%v packA=%d: element %d is %g, generic %g", tr[0], tr[1], pack, i, have[i], want[i])
				}
			}
		}
	}
	return nil
}

// contractTile is the micro-kernel's job written from the contract: for the
// mv×nv corner, t = FMA chain over l from +0, then c = fma32(alpha, t, c0).
func contractTile(kc int, a []float32, ars, als int, b []float32, bls int, c []float32, ldc, mv, nv int, alpha, beta float32, mode int) {
	for i := range mv {
		for j := range nv {
			var t float32
			for l := range kc {
				t = fma32(a[i*ars+l*als], b[l*bls+j], t)
			}
			var c0 float32
			switch mode {
			case 1:
				c0 = c[i*ldc+j]
			case 2:
				c0 = float32(beta * c[i*ldc+j])
			}
			c[i*ldc+j] = fma32(alpha, t, c0)
		}
	}
}
