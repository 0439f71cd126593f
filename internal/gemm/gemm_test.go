package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// TestReference checks results against a float64 computation.
//
// Tolerance: per element, with u = 2^-24, L = k + ⌈k/KC⌉ + 1 and
// S = |alpha|·Σ_l |a_il||b_lj| + |beta·c_ij|,
//
//	|c − ref| ≤ γ_L·S + L·2^-149,  γ_L = L·u/(1−L·u).
//
// Why: each block sum t_q is an FMA chain of at most KC steps, one rounding
// per step, so |t_q − exact| ≤ γ_KC·Σ|a||b| over the block; beta·c rounds
// once; each of the ⌈k/KC⌉ combining FMAs rounds once. Every product term
// therefore passes through at most L roundings, which gives the classic
// γ_L bound on the sum of absolute values. The 2^-149 per rounding covers
// underflow (absolute, not relative, error). The float64 reference itself is
// off by at most ~k·2^-53·S, far inside the bound.
func TestReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dims := []int{0, 1, 2, 5, 6, 7, 16, 17, 31, 97}
	ks := []int{0, 1, 3, 64, 255, 256, 257, 600}
	alphas := []float32{1, 0, -0.5, 2}
	betas := []float32{0, 1, -0.5, 2}
	for _, g := range allGemms(t, 2) {
		cases := 0
		for mi, m := range dims {
			for ni, n := range dims {
				k := ks[(mi+2*ni)%len(ks)]
				if g.Kernel() == Generic && m*n*k > 200000 {
					k = ks[(mi+ni)%4]
				}
				tr := (mi + ni) % 4
				tA, tB := tr&1 != 0, tr&2 != 0
				alpha := alphas[(mi+ni)%4]
				beta := betas[(mi*3+ni)%4]
				pad := (mi * ni) % 3
				o := newOperands(rng, tA, tB, m, n, k, pad, alpha, beta, beta == 0)
				got := o.run(g)
				checkReference(t, g, o, got)
				cases++
			}
		}
		t.Logf("%s: %d shapes within the γ_L bound", g.Kernel(), cases)
	}
}

func checkReference(t *testing.T, g *Gemm, o *operands, got []float32) {
	t.Helper()
	const u = 0x1p-24
	L := float64(o.k + (o.k+KC-1)/KC + 1)
	gamma := L * u / (1 - L*u)
	for i := range o.m {
		for j := range o.n {
			var ref, abs float64
			for l := range o.k {
				var av, bv float64
				if o.tA {
					av = float64(o.a[l*o.lda+i])
				} else {
					av = float64(o.a[i*o.lda+l])
				}
				if o.tB {
					bv = float64(o.b[j*o.ldb+l])
				} else {
					bv = float64(o.b[l*o.ldb+j])
				}
				ref += av * bv
				abs += math.Abs(av * bv)
			}
			ref *= float64(o.alpha)
			abs *= math.Abs(float64(o.alpha))
			if o.beta != 0 {
				cv := float64(o.beta) * float64(o.c[i*o.ldc+j])
				ref += cv
				abs += math.Abs(cv)
			}
			v := float64(got[i*o.ldc+j])
			if d := math.Abs(v - ref); !(d <= gamma*abs+L*0x1p-149) {
				t.Fatalf("%s m,n,k=%d,%d,%d tA=%v tB=%v alpha=%g beta=%g: C[%d,%d] = %g, float64 reference %g, |diff| %g > bound %g",
					g.Kernel(), o.m, o.n, o.k, o.tA, o.tB, o.alpha, o.beta, i, j, v, ref, d, gamma*abs)
			}
		}
	}
	// Padding between rows of C is not part of C and must be untouched.
	for i := range o.m {
		for j := o.n; j < o.ldc && i*o.ldc+j < len(got); j++ {
			if !sameFloat(got[i*o.ldc+j], o.c[i*o.ldc+j]) {
				t.Fatalf("%s m,n,k=%d,%d,%d: wrote C padding at row %d column %d", g.Kernel(), o.m, o.n, o.k, i, j)
			}
		}
	}
}

// TestKernelsAgree checks that every kernel gives Generic's bits on shapes
// that hit full tiles, edge tiles, several K blocks, the parallel path and
// the row, column and row super-block boundaries, with A packed, read in place, or as the driver
// chooses. Tolerance: none (numeric contract).
func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ref, err := New(Generic, 1)
	if err != nil {
		t.Fatal(err)
	}
	shapes := [][3]int{{6, 16, 256}, {61, 67, 513}, {mcBlock + 7, 35, 40}, {9, ncBlock + 21, 3}, {128, 128, 128},
		{2*mcBlock + 5, 20, KC + 3}, {7, ncBlock + 37, KC + 20}, {msBlock + 7, 5, KC + 1}}
	if testing.Short() || testutil.RaceEnabled {
		shapes = shapes[:3]
	}
	for _, g := range allGemms(t, 2) {
		if g.Kernel() == Generic {
			continue
		}
		for si, s := range shapes {
			for tr := range 4 {
				tA, tB := tr&1 != 0, tr&2 != 0
				o := newOperands(rng, tA, tB, s[0], s[1], s[2], si%2, 0.5, -2, false)
				want := o.run(ref)
				for _, pack := range []int{0, 1, -1} {
					gp := *g
					gp.packA, gp.packB = pack, -pack
					if i := sameBits(o.run(&gp), want); i >= 0 {
						t.Fatalf("%s (packA %d) != generic at m,n,k=%v tA=%v tB=%v, element %d", g.Kernel(), pack, s, tA, tB, i)
					}
				}
			}
		}
	}
}

// TestRowIndependence checks that a row of C is the same bits however it is
// computed: alone, inside a larger or differently placed product, with a
// subset of the columns, with other leading dimensions, and on 1, 2, 3 or 7
// threads. Tolerance: none (numeric contract).
func TestRowIndependence(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const m, n, k = 23, 150, 300
	for _, kern := range Available() {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				o := newOperands(rng, tA, tB, m, n, k, 0, 1.5, 0.25, false)
				g1, _ := New(kern, 1)
				full := o.run(g1)
				for _, threads := range []int{2, 3, 7} {
					g, _ := New(kern, threads)
					if i := sameBits(o.run(g), full); i >= 0 {
						t.Fatalf("%s tA=%v tB=%v: threads=%d differs from threads=1 at element %d", kern, tA, tB, threads, i)
					}
				}
				for _, i := range []int{0, 7, m - 1} {
					// Row i alone, at position 0, with padded strides.
					one := rowProblem(o, i, 1, 0, 5)
					if got := one.run(g1); sameBits(got[:n], full[i*n:i*n+n]) >= 0 {
						t.Fatalf("%s tA=%v tB=%v: row %d alone differs from the %d-row product", kern, tA, tB, i, m)
					}
					// Row i at position 4 of a 9-row product of other rows.
					nine := rowProblem(o, i, 9, 4, 3)
					g3, _ := New(kern, 3)
					got := nine.run(g3)
					if sameBits(got[4*nine.ldc:4*nine.ldc+n], full[i*n:i*n+n]) >= 0 {
						t.Fatalf("%s tA=%v tB=%v: row %d at position 4 of 9 differs", kern, tA, tB, i)
					}
					// Columns 17..17+40 of row i only: n does not matter.
					sub := colSubset(one, 17, 40)
					gotSub := sub.run(g1)
					if sameBits(gotSub[:40], full[i*n+17:i*n+57]) >= 0 {
						t.Fatalf("%s tA=%v tB=%v: row %d with 40 columns differs", kern, tA, tB, i)
					}
				}
			}
		}
	}
}

// rowProblem builds an rows-row problem whose row pos is row i of o and whose
// other rows are random, with every leading dimension padded by pad.
func rowProblem(o *operands, i, rows, pos, pad int) *operands {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(rows)))
	p := newOperands(rng, o.tA, o.tB, rows, o.n, o.k, pad, o.alpha, o.beta, false)
	for l := range o.k {
		if o.tA {
			p.a[l*p.lda+pos] = o.a[l*o.lda+i]
		} else {
			p.a[pos*p.lda+l] = o.a[i*o.lda+l]
		}
	}
	// Same B, copied with the new stride.
	br, bc := o.k, o.n
	if o.tB {
		br, bc = o.n, o.k
	}
	for r := range br {
		copy(p.b[r*p.ldb:r*p.ldb+bc], o.b[r*o.ldb:r*o.ldb+bc])
	}
	copy(p.c[pos*p.ldc:pos*p.ldc+o.n], o.c[i*o.ldc:i*o.ldc+o.n])
	return p
}

// colSubset restricts a one-row problem to columns j0..j0+w.
func colSubset(o *operands, j0, w int) *operands {
	p := *o
	p.n = w
	if o.tB {
		p.b = o.b[j0*o.ldb:]
	} else {
		p.b = o.b[j0:]
	}
	p.c = o.c[j0:]
	return &p
}

// TestConcurrent runs products on one *Gemm from several goroutines (run it
// with -race) and checks each against a serial result. Tolerance: none.
func TestConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, kern := range Available() {
		g, _ := New(kern, 2)
		size := 70
		if kern == Generic {
			size = 20
		}
		var ops []*operands
		var want [][]float32
		for i := range 6 {
			o := newOperands(rng, i%2 == 0, i%3 == 0, size+i, size-i, 2*size+3*i, i%2, 1, 0.5, false)
			ops = append(ops, o)
			want = append(want, o.runContract())
		}
		var wg sync.WaitGroup
		errs := make([]error, len(ops))
		for i, o := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					if j := sameBits(o.run(g), want[i]); j >= 0 {
						errs[i] = fmt.Errorf("%s: concurrent product %d differs at element %d", kern, i, j)
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBetaZeroIgnoresC: with beta = 0, NaN and Inf in C must not leak into
// the result. Tolerance: none (the result equals a product into zeroed C).
func TestBetaZeroIgnoresC(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, g := range allGemms(t, 2) {
		for _, k := range []int{0, 5, 300} {
			o := newOperands(rng, false, false, 13, 21, k, 2, 1, 0, true)
			got := o.run(g)
			for i := range o.m {
				for j := range o.n {
					if v := got[i*o.ldc+j]; math.IsNaN(float64(v)) {
						t.Fatalf("%s k=%d: NaN from C leaked into C[%d,%d]", g.Kernel(), k, i, j)
					}
				}
			}
			zero := *o
			zero.c = make([]float32, len(o.c))
			want := zero.run(g)
			for i := range o.m {
				for j := range o.n {
					if !sameFloat(got[i*o.ldc+j], want[i*o.ldc+j]) {
						t.Fatalf("%s k=%d: beta=0 result depends on C's old contents at C[%d,%d]", g.Kernel(), k, i, j)
					}
				}
			}
		}
	}
}

// TestPanics checks that inconsistent arguments panic with a message naming
// Sgemm, the sizes and the offending argument, and that empty products with
// nil slices do not. Tolerance: n/a (no arithmetic).
func TestPanics(t *testing.T) {
	g, _ := New(Generic, 1)
	x := make([]float32, 100)
	cases := []struct {
		name string
		f    func()
		want string
	}{
		{"negative m", func() { g.Sgemm(false, false, -1, 2, 2, 1, x, 2, x, 2, 0, x, 2) }, "negative size"},
		{"short A", func() { g.Sgemm(false, false, 20, 2, 10, 1, x, 10, x, 2, 0, x, 2) }, "A is 20×10"},
		{"short B transposed", func() { g.Sgemm(false, true, 2, 20, 10, 1, x, 10, x, 10, 0, x, 20) }, "B is 20×10"},
		{"small ldc", func() { g.Sgemm(false, false, 2, 5, 2, 1, x, 2, x, 5, 0, x, 4) }, "ldc=4"},
		{"small lda transposed", func() { g.Sgemm(true, false, 5, 2, 2, 1, x, 4, x, 2, 0, x, 2) }, "lda=4"},
	}
	for _, c := range cases {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, c.want) || !strings.Contains(s, "gemm: Sgemm") {
					t.Errorf("%s: panic %v, want one mentioning %q", c.name, r, c.want)
				}
			}()
			c.f()
		}()
	}
	// Empty products with nil slices are fine.
	g.Sgemm(false, false, 0, 0, 0, 1, nil, 1, nil, 1, 0, nil, 1)
	g.Sgemm(false, false, 3, 4, 0, 1, nil, 1, nil, 4, 2, x, 4)
}

// TestParseKernel checks kernel selection: auto, every available name,
// unknown and unavailable names (errors listing what is available).
// Tolerance: n/a (no arithmetic).
func TestParseKernel(t *testing.T) {
	best := Best()
	for _, s := range []string{"", "auto", " AUTO "} {
		if k, err := ParseKernel(s); err != nil || k != best {
			t.Errorf("ParseKernel(%q) = %q, %v; want %q", s, k, err, best)
		}
	}
	for _, k := range Available() {
		if got, err := ParseKernel(string(k)); err != nil || got != k {
			t.Errorf("ParseKernel(%q) = %q, %v", k, got, err)
		}
		if _, err := New(k, 0); err != nil {
			t.Errorf("New(%q): %v", k, err)
		}
	}
	if _, err := ParseKernel("sse9"); err == nil || !strings.Contains(err.Error(), "generic") {
		t.Errorf("ParseKernel(sse9) error %v should name the available kernels", err)
	}
	if !hasAVX512() {
		if _, err := ParseKernel("avx512"); err == nil || !strings.Contains(err.Error(), "not available") {
			t.Errorf("ParseKernel(avx512) on a CPU without AVX-512: %v", err)
		}
		if _, err := New(AVX512, 1); err == nil {
			t.Errorf("New(avx512) succeeded on a CPU without AVX-512")
		}
	}
	if g, _ := New(Generic, 0); g.Threads() < 1 || g.Kernel() != Generic {
		t.Errorf("New(generic, 0): threads %d kernel %s", g.Threads(), g.Kernel())
	}
	if Available()[len(Available())-1] != Generic {
		t.Errorf("Available() = %v; Generic must come last", Available())
	}
}

// TestAVX512SelfCheck: on a CPU with AVX-512 the kernel must pass its
// self-check (a failure there is a bug, not a reason to skip); here it can
// only say why it is not tested. Tolerance: none.
func TestAVX512SelfCheck(t *testing.T) {
	if !hasAVX512() {
		t.Skip("avx512 kernel not tested: this CPU has no AVX-512 F (it is guarded by a self-check against generic at first use)")
	}
	if err := avx512SelfCheck(); err != nil {
		t.Fatal(err)
	}
	if Best() != AVX512 {
		t.Fatalf("Best() = %s on a CPU whose AVX-512 kernel passed its self-check", Best())
	}
}

// TestSelfCheckCatchesDifferences runs the self-check on the kernels this
// CPU has (so every kernel variant is checked against the contract tile by
// tile) and makes sure it would reject a kernel that is off by one bit on an
// edge tile. Tolerance: none.
func TestSelfCheckCatchesDifferences(t *testing.T) {
	if err := selfCheck(genericImpl); err != nil {
		t.Fatalf("generic: %v", err)
	}
	if hasAVX2() {
		if err := selfCheck(avx2Impl); err != nil {
			t.Fatalf("avx2: %v", err)
		}
	}
	bad := genericImpl
	bad.micro = func(kc int, a []float32, ars, als int, b []float32, bls int, c []float32, ldc, mv, nv int, alpha, beta float32, mode int) {
		genericImpl.micro(kc, a, ars, als, b, bls, c, ldc, mv, nv, alpha, beta, mode)
		if mv == 1 && nv < genericNR && mode == 0 {
			c[0] = math.Nextafter32(c[0], float32(math.Inf(1)))
		}
	}
	if err := selfCheck(bad); err == nil {
		t.Fatal("self-check accepted a kernel that is one ulp off on an edge tile with beta == 0")
	}
}

// TestSgemmBatch checks that a batch gives the bits of one Sgemm per
// product, for small products (spread over goroutines), a big one (run on
// all threads) and empty ones, and that a bad product panics before any C
// is written. Tolerance: none (numeric contract).
func TestSgemmBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, kern := range Available() {
		g, _ := New(kern, 3)
		var ops []*operands
		for i := range 9 {
			ops = append(ops, newOperands(rng, i%2 == 0, i%3 == 0, 5+i, 11+2*i, 30+7*i, i%2, 1.5, []float32{0, 1, -0.5}[i%3], false))
		}
		big := 100
		if kern == Generic {
			big = 40
		}
		ops = append(ops, newOperands(rng, false, true, big, big, 3*big, 1, 1, 0.5, false))
		ops = append(ops, newOperands(rng, false, false, 0, 7, 3, 0, 1, 0, false))
		ps := make([]Product, len(ops))
		for i, o := range ops {
			o.c = append([]float32(nil), o.c...)
			ps[i] = Product{TA: o.tA, TB: o.tB, M: o.m, N: o.n, K: o.k, Alpha: o.alpha, A: o.a, LDA: o.lda, B: o.b, LDB: o.ldb, Beta: o.beta, C: o.c, LDC: o.ldc}
		}
		want := make([][]float32, len(ops))
		for i, o := range ops {
			want[i] = o.run(g) // o.run copies C, so ps still sees the originals
		}
		g.SgemmBatch(ps)
		for i := range ops {
			if j := sameBits(ps[i].C, want[i]); j >= 0 {
				t.Fatalf("%s: batch product %d differs from Sgemm at element %d", kern, i, j)
			}
		}
	}
	g, _ := New(Generic, 2)
	c := []float32{1, 2, 3, 4}
	func() {
		defer func() {
			if s, _ := recover().(string); !strings.Contains(s, "SgemmBatch product 1") {
				t.Errorf("panic %q should name product 1", s)
			}
		}()
		g.SgemmBatch([]Product{
			{M: 2, N: 2, K: 1, Alpha: 1, A: []float32{1, 1}, LDA: 1, B: []float32{1, 1}, LDB: 2, C: c, LDC: 2},
			{M: 2, N: 2, K: 1, Alpha: 1, A: []float32{1}, LDA: 1, B: []float32{1, 1}, LDB: 2, C: c, LDC: 2},
		})
	}()
	if c[0] != 1 {
		t.Errorf("SgemmBatch wrote C before panicking on a later product")
	}
}
