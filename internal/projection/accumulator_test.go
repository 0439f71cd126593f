package projection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/trak-dev/trak/internal/testutil"
)

// The Accumulator must agree with the float64 brute force
// want[b, c] = Σ_j g_b[j]·Entry(j, c) (products of two float32 are exact in
// float64, so want is accurate to ~p·2⁻⁵³ relative to A = Σ_j |g_b[j]·P[j,c]|).
//
// Rigorous bound: each block's float32 dot product of L ≤ BlockRows terms is
// within γ_L·Σ_block|g·P| of the exact value (γ_n = n·u/(1−n·u), u = 2⁻²⁴);
// the sum over blocks is exact, and the final rounding adds at most
// u·(|want| + γ_R·A). So |got − want| ≤ γ_R·A·(1+u) + u·|want| + 1e-12·A,
// the last term covering want's own float64 error.
//
// Typical error: rounding errors of a sum behave like a random walk, so the
// RMS error relative to the RMS feature is about u·√(R/2) ≈ 1e-6; the test
// requires 1e-5.
func TestAccumulatorMatchesBruteForce(t *testing.T) {
	const p = 2*BlockRows + 123
	gamma := float64(BlockRows) * u32 / (1 - float64(BlockRows)*u32)
	for _, kind := range []Kind{Rademacher, Normal} {
		for _, k := range []int{1, 129, 300} {
			pr := mustNew(t, Spec{Kind: kind, Dim: k, Seed: 3, ModelID: 5, NumParams: p}, 2)
			ids := []int{0, 1, 2}
			grads := [][]float32{exampleGrad(0, p), exampleGrad(1, p), exampleGrad(2, p)}
			got := project(t, pr, batchOf(ids, grads, p, p+3), p+3, len(ids), chunks(p, 100, nil))
			pm := make([]float64, p*k)
			for j := range p {
				for c := range k {
					pm[j*k+c] = float64(pr.Entry(int64(j), c))
				}
			}
			var errSq, valSq float64
			for b := range ids {
				for c := range k {
					var want, abs float64
					for j := range p {
						v := float64(grads[b][j]) * pm[j*k+c]
						want += v
						abs += math.Abs(v)
					}
					g := float64(got[b*k+c])
					bound := gamma*abs*(1+u32) + u32*math.Abs(want) + 1e-12*abs
					if math.Abs(g-want) > bound {
						t.Errorf("%s k=%d: feature[%d, %d] = %v, brute force %v, |error| %.3g > bound %.3g", kind, k, b, c, g, want, math.Abs(g-want), bound)
					}
					errSq += (g - want) * (g - want)
					valSq += want * want
				}
			}
			if rel := math.Sqrt(errSq / valSq); rel > 1e-5 {
				t.Errorf("%s k=%d: RMS relative error %.3g > 1e-5", kind, k, rel)
			}
		}
	}
}

// The features must be bit-identical however the gradient is chunked, however
// large the batch and wherever the example sits in it, and whatever the worker
// count, for k on both sides of the 128-column group width. Tolerance: none.
//
// Reference: a batch of 17 examples added in one piece with one worker. p
// spans two full blocks and a partial one.
func TestBitIdentical(t *testing.T) {
	const (
		p       = 2*BlockRows + 37
		nGrads  = 17
		pad     = 5 // row stride p+pad, to check that strides are honoured
		chkSeed = 77
	)
	grads := make([][]float32, nGrads)
	allIDs := make([]int, nGrads)
	for i := range grads {
		grads[i] = exampleGrad(100+i, p)
		allIDs[i] = i
	}
	for _, kind := range []Kind{Rademacher, Normal} {
		for _, k := range []int{1, 127, 128, 129, 300} {
			t.Run(fmt.Sprintf("%s/k=%d", kind, k), func(t *testing.T) {
				spec := Spec{Kind: kind, Dim: k, Seed: 12, ModelID: 1, NumParams: p}
				one := mustNew(t, spec, 1)
				ref := project(t, one, batchOf(allIDs, grads, p, p+pad), p+pad, nGrads, []int{p})
				check := func(what string, ids []int, out []float32) {
					t.Helper()
					for b, id := range ids {
						if j := sameBits(out[b*k:(b+1)*k], ref[id*k:(id+1)*k]); j >= 0 {
							t.Fatalf("%s: example %d (position %d) differs from the reference at column %d: %v vs %v",
								what, id, b, j, out[b*k+j], ref[id*k+j])
						}
					}
				}

				// Chunkings.
				rng := rand.New(rand.NewPCG(chkSeed, uint64(k)))
				g := batchOf(allIDs, grads, p, p+pad)
				for _, n := range []int{1, BlockRows - 1, BlockRows, BlockRows + 1, 0, 0} {
					sizes := chunks(p, n, rng)
					check(fmt.Sprintf("chunks of %d (0 = random)", n), allIDs, project(t, one, g, p+pad, nGrads, sizes))
				}
				// Zero-length slices in between.
				check("with empty slices", allIDs, project(t, one, g, p+pad, nGrads, []int{0, 10, 0, 0, p - 10, 0}))

				// Batch sizes and positions: 1, 3, and 70 (more than one
				// 64-row GEMM call, examples repeated at several positions).
				for _, ids := range [][]int{{0}, {9}, {16}, {16, 2, 9}} {
					check(fmt.Sprintf("batch %v", ids), ids, project(t, one, batchOf(ids, grads, p, p), p, len(ids), []int{p}))
				}
				big := make([]int, 70)
				for i := range big {
					big[i] = (i*7 + 3) % nGrads
				}
				check("batch of 70", big, project(t, one, batchOf(big, grads, p, p+1), p+1, len(big), chunks(p, 300, nil)))

				// Worker counts.
				for _, w := range []int{2, 3, 8} {
					pw := mustNew(t, spec, w)
					check(fmt.Sprintf("%d workers", w), allIDs, project(t, pw, g, p+pad, nGrads, []int{p}))
				}

				// Everything at once.
				ids := []int{4, 15, 4}
				check("random chunks, batch 3, 3 workers", ids,
					project(t, mustNew(t, spec, 3), batchOf(ids, grads, p, p), p, 3, chunks(p, 0, rng)))
			})
		}
	}
}

// One Accumulator reused for several batches (after Finish, after Reset, and
// after SetBatch to a shorter batch) must give the same bits as fresh ones.
func TestAccumulatorReuse(t *testing.T) {
	const p = BlockRows + 300
	pr := mustNew(t, Spec{Kind: Rademacher, Dim: 200, Seed: 1, NumParams: p}, 2)
	k := pr.Dim()
	grads := [][]float32{exampleGrad(1, p), exampleGrad(2, p), exampleGrad(3, p)}
	full := batchOf([]int{0, 1, 2}, grads, p, p)
	want := project(t, pr, full, p, 3, []int{p})

	a := pr.NewAccumulator(3)
	defer a.Close()
	out := make([]float32, 3*k)
	for round := range 3 {
		a.Add(0, 700, full, p) // abandoned half-way
		a.Reset()
		a.Add(0, 100, full, p)
		a.Add(100, p-100, full[100:], p)
		a.Finish(out, k)
		if j := sameBits(out, want); j >= 0 {
			t.Fatalf("round %d: reused accumulator differs at %d", round, j)
		}
	}
	a.SetBatch(2)
	if a.Batch() != 2 {
		t.Fatalf("Batch() = %d after SetBatch(2)", a.Batch())
	}
	short := batchOf([]int{2, 0}, grads, p, p)
	a.Add(0, p, short, p)
	a.Finish(out, k)
	if sameBits(out[:k], want[2*k:3*k]) >= 0 || sameBits(out[k:2*k], want[:k]) >= 0 {
		t.Fatal("short batch after SetBatch differs from the full batch")
	}
}

// gonum's pure-Go Sgemm must compute each row of C the same whatever the
// number of rows m: the Accumulator's independence of the batch size rests on
// it. The checks of A's stride, of column ranges and of a tiled inner
// dimension document further properties the package documentation mentions.
// Tolerance: none (bitwise). If a different blas32 implementation is plugged
// in, this test reports whether it keeps the property.
func TestGemmRowsIndependent(t *testing.T) {
	const m, kk, n = 70, 300, 128
	rng := rand.New(rand.NewPCG(2, 2))
	a := make([]float32, m*kk)
	b := make([]float32, kk*n)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	gemm := func(rows, c0, cols int, arow []float32) []float32 {
		c := make([]float32, rows*cols)
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas32.General{Rows: rows, Cols: kk, Stride: kk, Data: arow},
			blas32.General{Rows: kk, Cols: cols, Stride: n, Data: b[c0:]},
			0, blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: c})
		return c
	}
	full := gemm(m, 0, n, a)
	for i := range m {
		row := gemm(1, 0, n, a[i*kk:])
		if j := sameBits(row, full[i*n:(i+1)*n]); j >= 0 {
			t.Fatalf("row %d computed alone differs at column %d", i, j)
		}
	}
	// The stride and alignment of A do not matter either: the Accumulator
	// reads a block from the caller's slice or from its staging copy.
	for _, pad := range []int{1, 37} {
		wide := make([]float32, 3+m*(kk+pad))
		for i := range m {
			copy(wide[3+i*(kk+pad):], a[i*kk:(i+1)*kk])
		}
		c := make([]float32, m*n)
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas32.General{Rows: m, Cols: kk, Stride: kk + pad, Data: wide[3:]},
			blas32.General{Rows: kk, Cols: n, Stride: n, Data: b},
			0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
		if j := sameBits(c, full); j >= 0 {
			t.Fatalf("A with stride %d differs at %d", kk+pad, j)
		}
	}
	// Splitting the inner dimension into tiles accumulated with β = 1 (as
	// the Accumulator does) gives the one-call result: gonum adds the terms
	// of each dot product in ascending order either way.
	tiled := make([]float32, m*n)
	for l0 := 0; l0 < kk; l0 += 64 {
		tl := min(64, kk-l0)
		beta := float32(1)
		if l0 == 0 {
			beta = 0
		}
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas32.General{Rows: m, Cols: tl, Stride: kk, Data: a[l0:]},
			blas32.General{Rows: tl, Cols: n, Stride: n, Data: b[l0*n:]},
			beta, blas32.General{Rows: m, Cols: n, Stride: n, Data: tiled})
	}
	if j := sameBits(tiled, full); j >= 0 {
		t.Fatalf("tiled inner dimension differs at %d", j)
	}
	for _, cr := range [][2]int{{0, 1}, {1, 3}, {5, 64}, {64, 64}, {127, 1}} {
		part := gemm(m, cr[0], cr[1], a)
		for i := range m {
			if j := sameBits(part[i*cr[1]:(i+1)*cr[1]], full[i*n+cr[0]:i*n+cr[0]+cr[1]]); j >= 0 {
				t.Fatalf("columns [%d, %d) computed alone differ at row %d", cr[0], cr[0]+cr[1], i)
			}
		}
	}
}

// The identity projection copies the gradient exactly.
func TestNoneIsIdentity(t *testing.T) {
	const p = 1000
	pr := mustNew(t, Spec{Kind: None, Dim: 7, Seed: 3, NumParams: p}, 4)
	if pr.Dim() != p {
		t.Fatalf("Dim() = %d, want %d", pr.Dim(), p)
	}
	grads := [][]float32{exampleGrad(1, p), exampleGrad(2, p)}
	grads[1][5] = float32(math.Inf(-1))
	grads[1][6] = float32(math.Copysign(0, -1))
	in := batchOf([]int{0, 1}, grads, p, p+9)
	out := project(t, pr, in, p+9, 2, chunks(p, 0, rand.New(rand.NewPCG(4, 4))))
	for b := range 2 {
		if j := sameBits(out[b*p:(b+1)*p], grads[b]); j >= 0 {
			t.Fatalf("example %d: output differs from input at %d", b, j)
		}
	}
}

// Projecting p = 2,000,000 parameters to k = 1024 (P would take 8 GB) must
// allocate only the Accumulator's small buffers: 80·B·k bytes of exact sums,
// 2 KiB·B per staging buffer, p/4096 bytes of block flags and
// 512·workers·(B + 64) bytes for the workers, about 150 KB here, and nothing
// per block; the limit of 2 MiB leaves room for the runtime's own
// bookkeeping. The gradient is fed from one reused 10,000-element buffer,
// whose slices are not aligned to the blocks, so blocks are staged.
func TestNoMaterialisation(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector, whose sync.Pool drops buffers at random")
	}
	p := int64(2_000_000)
	if testing.Short() {
		p = 200_000
	}
	const (
		k     = 1024
		chunk = 10_000
		limit = 2 << 20
	)
	g := exampleGrad(9, chunk)
	out := make([]float32, k)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	pr := mustNew(t, Spec{Kind: Rademacher, Dim: k, Seed: 1, NumParams: p}, 2)
	a := pr.NewAccumulator(1)
	for off := int64(0); off < p; off += chunk {
		a.Add(off, int(min(chunk, p-off)), g, chunk)
	}
	a.Finish(out, k)
	a.Close()

	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
		t.Errorf("projecting %d parameters to k=%d allocated %d bytes, want < %d", p, k, alloc, limit)
	} else {
		t.Logf("projecting %d parameters to k=%d allocated %d bytes (a full P is %d bytes)", p, k, alloc, p*k*4)
	}
	var nz bool
	for _, v := range out {
		nz = nz || v != 0
	}
	if !nz {
		t.Error("all features are zero")
	}
}

// Add and Finish allocate nothing once the Accumulator exists, with helper
// goroutines running, for dense delivery in ascending or backward order.
func TestAddFinishDoNotAllocate(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector, whose sync.Pool drops buffers at random")
	}
	const p = 3*BlockRows + 11
	for _, kind := range []Kind{Rademacher, Normal, None} {
		pr := mustNew(t, Spec{Kind: kind, Dim: 300, NumParams: p}, 3)
		a := pr.NewAccumulator(4)
		g := batchOf([]int{0, 1, 2, 3}, [][]float32{exampleGrad(0, p), exampleGrad(1, p), exampleGrad(2, p), exampleGrad(3, p)}, p, p)
		out := make([]float32, 4*pr.Dim())
		forward := func() {
			a.Add(0, 700, g, p)
			a.Add(700, p-700, g[700:], p)
			a.Finish(out, pr.Dim())
		}
		backward := func() { // tensors in backward order, as a backward pass delivers them
			a.Add(1100, p-1100, g[1100:], p)
			a.Add(600, 500, g[600:], p)
			a.Add(10, 590, g[10:], p)
			a.Add(0, 10, g, p)
			a.Finish(out, pr.Dim())
		}
		for name, pass := range map[string]func(){"forward": forward, "backward": backward} {
			pass()
			if n := testing.AllocsPerRun(5, pass); n != 0 {
				t.Errorf("%s, %s: %v allocations per batch, want 0", kind, name, n)
			}
		}
		a.Close()
	}
}

// Misuse panics with a "projection: " message.
func TestPanics(t *testing.T) {
	const p = 1000
	pr := mustNew(t, Spec{Kind: Rademacher, Dim: 8, NumParams: p}, 1)
	g := make([]float32, 2*p)
	out := make([]float32, 16)
	for _, tc := range []struct {
		name string
		f    func(a *Accumulator)
		want string
	}{
		{"negative offset", func(a *Accumulator) { a.Add(-1, 5, g, p) }, "outside"},
		{"offset past end", func(a *Accumulator) { a.Add(p+1, 0, g, p) }, "outside"},
		{"past end", func(a *Accumulator) { a.Add(0, p+1, g, p+1) }, "exceeds"},
		{"negative n", func(a *Accumulator) { a.Add(0, -1, g, p) }, "exceeds"},
		{"small stride", func(a *Accumulator) { a.Add(0, 10, g, 9) }, "stride"},
		{"short slice", func(a *Accumulator) { a.Add(0, 10, g[:p+9], p) }, "need"},
		{"same range twice", func(a *Accumulator) { a.Add(0, 10, g, p); a.Add(0, 10, g, p) }, "[0, 10) overlaps"},
		{"overlap in a staged block", func(a *Accumulator) { a.Add(20, 10, g, p); a.Add(5, 16, g, p) }, "[5, 21) overlaps"},
		{"overlap with a whole block", func(a *Accumulator) { a.Add(0, BlockRows, g, p); a.Add(BlockRows-1, 2, g, p) }, "overlaps"},
		{"overlap with a completed block", func(a *Accumulator) {
			a.Add(0, 300, g, p)
			a.Add(300, BlockRows-300, g, p)
			a.Add(299, 1, g, p)
		}, "[299, 300) overlaps"},
		{"overlap in the last block", func(a *Accumulator) { a.Add(p-10, 10, g, p); a.Add(p-1, 1, g, p) }, "overlaps"},
		{"overlap, none", func(*Accumulator) {
			b := mustNew(t, Spec{Kind: None, NumParams: p}, 1).NewAccumulator(2)
			b.Add(10, 20, g, p)
			b.Add(0, 11, g, p)
		}, "[0, 11) overlaps"},
		{"short out", func(a *Accumulator) { a.Add(0, p, g, p); a.Finish(out[:15], 8) }, "need 16"},
		{"small out stride", func(a *Accumulator) { a.Add(0, p, g, p); a.Finish(out, 7) }, "stride"},
		{"set batch mid-batch", func(a *Accumulator) { a.Add(0, 1, g, p); a.SetBatch(1) }, "middle"},
		{"set batch mid-batch, none", func(*Accumulator) {
			b := mustNew(t, Spec{Kind: None, NumParams: p}, 1).NewAccumulator(2)
			b.Add(7, 1, g, p)
			b.SetBatch(1)
		}, "middle"},
		{"set batch too big", func(a *Accumulator) { a.SetBatch(3) }, "out of range"},
		{"entry row", func(*Accumulator) { pr.Entry(p, 0) }, "row"},
		{"entry col", func(*Accumulator) { pr.Entry(0, 8) }, "column"},
		{"zero batch", func(*Accumulator) { pr.NewAccumulator(0) }, "batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "projection: ") || !strings.Contains(msg, tc.want) {
					t.Errorf("panic %v, want a projection: message containing %q", r, tc.want)
				}
			}()
			tc.f(pr.NewAccumulator(2))
		})
	}
}

// Close stops the helper goroutines, and an Accumulator that is dropped
// without Close has them stopped by its cleanup after garbage collection.
func TestHelpersStop(t *testing.T) {
	const p = 2 * BlockRows
	pr := mustNew(t, Spec{Kind: Rademacher, Dim: 1024, NumParams: p}, 4)
	g := make([]float32, p)
	out := make([]float32, 1024)
	waitFor := func(want int) int {
		var n int
		for range 200 {
			runtime.GC()
			if n = runtime.NumGoroutine(); n <= want {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		return n
	}
	runtime.GC()
	base := runtime.NumGoroutine()

	a := pr.NewAccumulator(1)
	a.Add(0, p, g, p)
	a.Finish(out, 1024)
	if n := runtime.NumGoroutine(); n != base+3 {
		t.Errorf("%d goroutines with 4 workers, want %d + 3 helpers", n, base)
	}
	a.Close()
	a.Close()
	if n := waitFor(base); n != base {
		t.Errorf("%d goroutines after Close, want %d", n, base)
	}
	a.Add(0, p, g, p) // usable again after Close
	a.Finish(out, 1024)
	a.Close()

	func() {
		b := pr.NewAccumulator(1)
		b.Add(0, p, g, p)
		b.Finish(out, 1024)
	}()
	if n := waitFor(base); n != base {
		t.Errorf("%d goroutines after dropping an Accumulator, want %d", n, base)
	}
}
