package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// contractSgemm is the numeric contract of the package doc written as plainly
// as possible: no packing, no tiles, no threads. Every kernel must equal it
// bit for bit.
func contractSgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	at := func(i, l int) float32 {
		if tA {
			return a[l*lda+i]
		}
		return a[i*lda+l]
	}
	bt := func(l, j int) float32 {
		if tB {
			return b[j*ldb+l]
		}
		return b[l*ldb+j]
	}
	for i := range m {
		for j := range n {
			var cij float32
			if beta != 0 {
				cij = float32(beta * c[i*ldc+j])
			}
			for q := 0; q < k; q += KC {
				var t float32 // +0
				for l := q; l < min(q+KC, k); l++ {
					t = fma32(at(i, l), bt(l, j), t)
				}
				cij = fma32(alpha, t, cij)
			}
			c[i*ldc+j] = cij
		}
	}
}

// operands holds one randomly generated test case with strides.
type operands struct {
	tA, tB        bool
	m, n, k       int
	alpha, beta   float32
	a, b, c       []float32
	lda, ldb, ldc int
}

func newOperands(rng *rand.Rand, tA, tB bool, m, n, k, pad int, alpha, beta float32, nanC bool) *operands {
	o := &operands{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	o.lda, o.ldb, o.ldc = max(ac, 1)+pad, max(bc, 1)+pad, max(n, 1)+pad
	o.a = randSlice(rng, max(ar*o.lda, 0))
	o.b = randSlice(rng, max(br*o.ldb, 0))
	o.c = randSlice(rng, max(m*o.ldc, 0))
	if nanC {
		for i := range o.c {
			o.c[i] = float32(math.NaN())
		}
	}
	return o
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func (o *operands) run(g *Gemm) []float32 {
	c := append([]float32(nil), o.c...)
	g.Sgemm(o.tA, o.tB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, c, o.ldc)
	return c
}

func (o *operands) runContract() []float32 {
	c := append([]float32(nil), o.c...)
	contractSgemm(o.tA, o.tB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, c, o.ldc)
	return c
}

// sameBits compares two results bitwise. NaN results compare equal whatever
// their payload: the contract fixes which elements are NaN, not the payload
// (hardware and math in Go pick NaN payloads differently).
func sameBits(x, y []float32) int {
	if len(x) != len(y) {
		return 0
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) && !(x[i] != x[i] && y[i] != y[i]) {
			return i
		}
	}
	return -1
}

func allGemms(t testing.TB, threads int) []*Gemm {
	var gs []*Gemm
	for _, k := range Available() {
		g, err := New(k, threads)
		if err != nil {
			t.Fatalf("New(%s, %d): %v", k, threads, err)
		}
		gs = append(gs, g)
	}
	if !hasAVX512() {
		t.Logf("avx512 kernel not tested: this CPU has no AVX-512 F")
	}
	return gs
}

// TestContractExact checks every kernel against contractSgemm bitwise.
// Tolerance: none; the contract defines every bit.
func TestContractExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{
		{0, 0, 0}, {1, 1, 1}, {0, 5, 3}, {4, 0, 3}, {3, 4, 0}, {1, 1, 257},
		{6, 16, 256}, {7, 17, 257}, {5, 15, 255}, {13, 29, 31}, {12, 32, 512},
		{50, 50, 64}, {37, 3, 600}, {2, 41, 77}, {150, 40, 20}, {19, 200, 11},
	}
	for _, threads := range []int{1, 3} {
		for _, g := range allGemms(t, threads) {
			for si, s := range shapes {
				for tr := range 4 {
					tA, tB := tr&1 != 0, tr&2 != 0
					alpha := []float32{1, -0.5, 2, 0}[(si+tr)%4]
					beta := []float32{0, 1, -0.5, 2}[(si+2*tr)%4]
					o := newOperands(rng, tA, tB, s[0], s[1], s[2], si%3, alpha, beta, beta == 0 && si%2 == 0)
					want := o.runContract()
					gp := *g
					gp.packA = []int{0, 1, -1}[(si+tr)%3]
					gp.packB = []int{0, 1, -1}[(si+2*tr)%3]
					got := o.run(&gp)
					if i := sameBits(got, want); i >= 0 {
						t.Fatalf("%s threads=%d m,n,k=%v tA=%v tB=%v alpha=%g beta=%g: element %d = %g (%08x), contract gives %g (%08x)",
							g.Kernel(), threads, s, tA, tB, alpha, beta, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// FuzzContract compares every kernel with contractSgemm on shapes, flags,
// strides, scalars and thread counts chosen by the fuzzer (go test -fuzz
// FuzzContract); without -fuzz it runs the seeds. Tolerance: none.
func FuzzContract(f *testing.F) {
	f.Add(uint16(7), uint16(17), uint16(257), uint8(3), uint8(1), uint64(1), float32(1), float32(0))
	f.Add(uint16(1), uint16(1), uint16(1), uint8(0), uint8(0), uint64(2), float32(-0.5), float32(2))
	f.Add(uint16(13), uint16(40), uint16(600), uint8(2), uint8(2), uint64(3), float32(2), float32(1))
	f.Add(uint16(150), uint16(3), uint16(64), uint8(1), uint8(3), uint64(4), float32(0), float32(-0.5))
	f.Fuzz(func(t *testing.T, m16, n16, k16 uint16, flags, pad uint8, seed uint64, alpha, beta float32) {
		m, n, k := int(m16%160), int(n16%160), int(k16%700)
		if m*n*k > 1<<20 {
			t.Skip("too big for a fuzz iteration")
		}
		rng := rand.New(rand.NewPCG(seed, 99))
		o := newOperands(rng, flags&1 != 0, flags&2 != 0, m, n, k, int(pad%4), alpha, beta, flags&4 != 0)
		want := o.runContract()
		for _, kern := range Available() {
			g, err := New(kern, 1+int(flags>>3)%4)
			if err != nil {
				t.Fatal(err)
			}
			if i := sameBits(o.run(g), want); i >= 0 {
				t.Fatalf("%s m,n,k=%d,%d,%d tA=%v tB=%v alpha=%g beta=%g threads=%d: element %d differs from the contract", kern, m, n, k, o.tA, o.tB, alpha, beta, g.Threads(), i)
			}
		}
	})
}
