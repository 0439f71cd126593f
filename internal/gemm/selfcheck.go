package gemm

import (
	"fmt"
	"math"
	"sync"
)

// avx512SelfCheck runs once per process: the AVX-512 kernel cannot be tested
// on the machines this package is developed on, so before it is ever used it
// must reproduce Generic bit for bit on a product that exercises partial K
// blocks, edge tiles and every transpose combination. The result never changes
// after the first call.
var avx512SelfCheck = sync.OnceValue(func() error {
	if !hasAVX512() || avx512Impl.micro == nil {
		return fmt.Errorf("gemm: kernel avx512 is not available on this CPU")
	}
	return selfCheck(avx512Impl)
})

// selfCheck compares im against Generic on a few odd-sized products: two
// K blocks (the second partial), partial row and column tiles.
func selfCheck(im impl) error {
	ref := &Gemm{kernel: Generic, threads: 1, im: genericImpl, pool: &sync.Pool{}}
	got := &Gemm{kernel: "candidate", threads: 2, im: im, pool: &sync.Pool{}}
	const m, n, k = 13, 37, KC + 45
	// A deterministic, sign-mixed fill whose products do not cancel exactly.
	fill := func(x []float32, seed uint32) {
		s := seed
		for i := range x {
			s = s*1664525 + 1013904223
			x[i] = float32(int32(s>>8)-1<<23) / (1 << 23)
		}
	}
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	c0 := make([]float32, m*n)
	fill(a, 1)
	fill(b, 2)
	fill(c0, 3)
	for i, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		// Every update mode of the kernel: beta == 0 (C not read), 1, other.
		alpha, beta := []float32{0.75, -2, 1, 0.5}[i], []float32{-1.5, 0, 1, 2}[i]
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		want := append([]float32(nil), c0...)
		have := append([]float32(nil), c0...)
		ref.Sgemm(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, want, n)
		got.Sgemm(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, have, n)
		for i := range want {
			if math.Float32bits(want[i]) != math.Float32bits(have[i]) {
				return fmt.Errorf("gemm: kernel avx512 failed its self-check against generic (tA=%v tB=%v, element %d: %g != %g); not using it", tr[0], tr[1], i, have[i], want[i])
			}
		}
	}
	return nil
}
