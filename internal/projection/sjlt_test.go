package projection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/philox"
)

// sjltDefinition is the test's own transcription of the SJLT definition of
// the package documentation: the columns and signs (+1 or −1) of row r's s
// non-zeros, in order of the column block j.
func sjltDefinition(seed int64, modelID, k, s int, r int64) (cols []int, signs []int) {
	key := philox.KeyFromSeed(uint64(seed) ^ philox.SplitMix64(uint64(int64(modelID))))
	ru := uint64(r)
	for j := 0; j < s; j++ {
		b := int(int64(j) * int64(k) / int64(s)) // ⌊j·k/s⌋
		w := int(int64(j+1)*int64(k)/int64(s)) - b
		x := philox.Block(key, philox.Counter{uint32(j / 2), uint32(ru), uint32(ru >> 32), 3})
		col := b + int(uint64(x[2*(j%2)])*uint64(w)/4294967296)
		sign := -1
		if x[2*(j%2)+1]%2 == 1 {
			sign = 1
		}
		cols = append(cols, col)
		signs = append(signs, sign)
	}
	return cols, signs
}

// sjltEntryDefinition is P[r, c] by the transcribed definition.
func sjltEntryDefinition(seed int64, modelID, k, s int, r int64, c int) float32 {
	cols, signs := sjltDefinition(seed, modelID, k, s, r)
	scale := float32(1 / math.Sqrt(float64(s)))
	for j, col := range cols {
		if col == c {
			return float32(signs[j]) * scale
		}
	}
	return 0
}

// withSJLTBlocks makes pr's Accumulator use SJLT blocks of rows rows and
// table tiles of tile rows, so that small tests cross block and tile edges.
// Block rows change the output's last bits (they are part of the
// definition); tile rows change nothing.
func withSJLTBlocks(pr *Projector, rows, tile int) *Projector {
	pr.blockRows, pr.sjltTile = rows, tile
	return pr
}

// Entry must equal the transcribed definition exactly (tolerance 0: it is the
// contract a GPU kernel reproduces), for k not a multiple of s, s = 1, s = k,
// odd s (the last Philox call half used), rows across 2³².
func TestSJLTEntryMatchesDefinition(t *testing.T) {
	const p = int64(1) << 41
	rows := []int64{0, 1, 2, SJLTBlockRows - 1, SJLTBlockRows, 1<<32 - 1, 1 << 32, 1<<40 + 12345, p - 1}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 30 {
		rows = append(rows, rng.Int64N(p))
	}
	for _, ks := range [][2]int{{1, 1}, {7, 1}, {7, 3}, {7, 7}, {300, 1}, {300, 2}, {300, 4}, {300, 7}, {300, 8}, {4096, 4}} {
		k, s := ks[0], ks[1]
		for _, sm := range []struct {
			seed  int64
			model int
		}{{0, 0}, {-7, 1 << 20}, {math.MinInt64, -1}} {
			pr := mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: s, Seed: sm.seed, ModelID: sm.model, NumParams: p}, 1)
			for _, r := range rows {
				nonZero := 0
				for c := range k {
					got, want := pr.Entry(r, c), sjltEntryDefinition(sm.seed, sm.model, k, s, r, c)
					if math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("k=%d s=%d seed %d model %d: Entry(%d, %d) = %v, definition gives %v", k, s, sm.seed, sm.model, r, c, got, want)
					}
					if got != 0 {
						nonZero++
					}
				}
				if nonZero != s {
					t.Fatalf("k=%d s=%d: row %d has %d non-zeros, want %d", k, s, r, nonZero, s)
				}
			}
		}
	}
}

// The packed table the Accumulator uses must decode to Entry's non-zeros
// exactly, for s ≤ 2 (two rows per Block2), s ≥ 3 (two Philox calls per
// Block2, with a tail) and odd and even row counts.
func TestFillSJLTMatchesEntry(t *testing.T) {
	for _, ks := range [][2]int{{1, 1}, {5, 2}, {300, 1}, {300, 2}, {300, 3}, {300, 4}, {300, 5}, {300, 8}, {300, 9}} {
		k, s := ks[0], ks[1]
		pr := mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: s, Seed: 5, ModelID: 2, NumParams: 1 << 40}, 1)
		for _, row0 := range []int64{0, 1<<32 - 2} {
			for _, rows := range []int{1, 2, 5} {
				tab := make([]uint32, rows*s)
				pr.fillSJLT(tab, row0, rows)
				for i := range rows {
					want := make([]float32, k)
					for j := range s {
						e := tab[i*s+j]
						v := pr.sjltScale
						if e&sjltSign != 0 {
							v = -v
						}
						want[e&^sjltSign] = v
					}
					for c := range k {
						if got := pr.Entry(row0+int64(i), c); math.Float32bits(got) != math.Float32bits(want[c]) {
							t.Fatalf("k=%d s=%d row %d col %d: Entry %v, table %v", k, s, row0+int64(i), c, got, want[c])
						}
					}
				}
			}
		}
	}
}

func TestSJLTValidates(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: SJLT, Dim: 4, NonZeros: 5, NumParams: 10}, "sjlt non-zeros per row s is 5, must be between 1 and the dimension k = 4"},
		{Spec{Kind: SJLT, Dim: 4, NonZeros: -1, NumParams: 10}, "s is -1"},
		{Spec{Kind: SJLT, Dim: 0, NumParams: 10}, "dimension k is 0"},
	} {
		if _, err := New(tc.spec, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error %v, want %q", tc.spec, err, tc.want)
		}
	}
	if got := mustNew(t, Spec{Kind: SJLT, Dim: 100, NumParams: 10}, 1).NonZeros(); got != DefaultNonZeros {
		t.Errorf("default s = %d, want %d", got, DefaultNonZeros)
	}
	if got := mustNew(t, Spec{Kind: SJLT, Dim: 2, NumParams: 10}, 1).NonZeros(); got != 2 {
		t.Errorf("default s for k = 2 is %d, want 2", got)
	}
	if got := mustNew(t, Spec{Kind: Rademacher, Dim: 2, NonZeros: 3, NumParams: 10}, 1).Spec().NonZeros; got != 0 {
		t.Errorf("rademacher keeps NonZeros %d, want 0", got)
	}
}

// The Accumulator agrees with the float64 brute force
// want[b, c] = Σ_r g_b[r]·P[r, c] over the transcribed definition's
// non-zeros (exact products, float64 sums accurate to ~1e-12 relative to
// A = Σ_r |g_b[r]·P[r, c]|).
//
// Bound: a block's partial for column c is a float32 running sum of its n
// terms ±g (exact sign flips), at most γ_n·Σ|g| off, then multiplied by the
// float32 scale (one rounding, u, and the scale itself within u of 1/√s);
// the sum over blocks is exact and the final rounding adds u·|result|. So
// |got − want| ≤ (γ_n + 3u)·A·(1+γ_n) + u·|want| + 1e-12·A with n the
// largest number of terms in one block's column (counted here).
//
// Both the real block size (p spans two blocks and a part of one) and small
// test blocks (many blocks, tiles of 37 rows) are checked.
func TestSJLTMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		p, k, s, blockRows, tile int
	}{
		{2*SJLTBlockRows + 4321, 300, 4, SJLTBlockRows, 0},
		{2*SJLTBlockRows + 4321, 64, 1, SJLTBlockRows, 0},
		{3000, 7, 3, 256, 37},
		{3000, 129, 8, 512, 64},
	} {
		t.Run(fmt.Sprintf("p=%d/k=%d/s=%d/R=%d", tc.p, tc.k, tc.s, tc.blockRows), func(t *testing.T) {
			pr := mustNew(t, Spec{Kind: SJLT, Dim: tc.k, NonZeros: tc.s, Seed: 3, ModelID: 5, NumParams: int64(tc.p)}, 2)
			if tc.tile > 0 {
				withSJLTBlocks(pr, tc.blockRows, tc.tile)
			}
			ids := []int{0, 1, 2}
			grads := [][]float32{exampleGrad(0, tc.p), exampleGrad(1, tc.p), exampleGrad(2, tc.p)}
			got := project(t, pr, batchOf(ids, grads, tc.p, tc.p+3), tc.p+3, len(ids), chunks(tc.p, 1000, nil))
			want := make([]float64, len(ids)*tc.k)
			abs := make([]float64, len(ids)*tc.k)
			terms := make(map[[2]int]int) // (block, column) → terms
			scale := 1 / math.Sqrt(float64(tc.s))
			for r := range tc.p {
				cols, signs := sjltDefinition(3, 5, tc.k, tc.s, int64(r))
				for j, c := range cols {
					terms[[2]int{r / tc.blockRows, c}]++
					for b := range ids {
						v := float64(grads[b][r]) * float64(signs[j]) * scale
						want[b*tc.k+c] += v
						abs[b*tc.k+c] += math.Abs(v)
					}
				}
			}
			n := 0
			for _, m := range terms {
				n = max(n, m)
			}
			gamma := float64(n) * u32 / (1 - float64(n)*u32)
			var errSq, valSq float64
			for e := range want {
				g := float64(got[e])
				bound := (gamma+3*u32)*abs[e]*(1+gamma) + u32*math.Abs(want[e]) + 1e-12*abs[e]
				if math.Abs(g-want[e]) > bound {
					t.Errorf("feature %d = %v, brute force %v, |error| %.3g > bound %.3g", e, g, want[e], math.Abs(g-want[e]), bound)
				}
				errSq += (g - want[e]) * (g - want[e])
				valSq += want[e] * want[e]
			}
			// Typical error: a random walk over n terms, u·√n relative.
			if rel, lim := math.Sqrt(errSq/valSq), 10*u32*math.Sqrt(float64(n)); rel > lim {
				t.Errorf("RMS relative error %.3g > %.3g", rel, lim)
			}
		})
	}
}

// The SJLT features are bit-identical whatever the chunking, the delivery
// order, the sparsity, the batch size and position and the worker count, and
// whatever the table tile size. Tolerance: none. Small blocks (R = 256) so
// that p crosses many, and one run at the real block size.
func TestSJLTBitIdentical(t *testing.T) {
	for _, tc := range []struct {
		p, k, s, R int
	}{
		{5*256 + 37, 129, 4, 256},
		{5*256 + 37, 300, 1, 256},
		{5*256 + 37, 10, 3, 256},
		{SJLTBlockRows + 999, 64, 2, SJLTBlockRows},
	} {
		t.Run(fmt.Sprintf("p=%d/k=%d/s=%d/R=%d", tc.p, tc.k, tc.s, tc.R), func(t *testing.T) {
			const nGrads = 9
			p, k := tc.p, tc.k
			grads := make([][]float32, nGrads)
			ids := make([]int, nGrads)
			for i := range grads {
				grads[i] = exampleGrad(200+i, p)
				ids[i] = i
			}
			spec := Spec{Kind: SJLT, Dim: k, NonZeros: tc.s, Seed: 12, ModelID: 1, NumParams: int64(p)}
			mk := func(workers, tile int) *Projector {
				pr := mustNew(t, spec, workers)
				if tile == 0 {
					tile = pr.sjltTile
				}
				return withSJLTBlocks(pr, tc.R, tile)
			}
			stride := p + 5
			g := batchOf(ids, grads, p, stride)
			ref := project(t, mk(1, 0), g, stride, nGrads, []int{p})
			rng := rand.New(rand.NewPCG(77, uint64(k)))

			for _, n := range []int{1, 100, tc.R - 1, tc.R, tc.R + 1, 0} {
				checkSame(t, fmt.Sprintf("chunks of %d", n), k, project(t, mk(1, 0), g, stride, nGrads, chunks(p, n, rng)), ids, ref)
			}
			for _, tile := range []int{1, 7, 64} {
				checkSame(t, fmt.Sprintf("tile %d", tile), k, project(t, mk(1, tile), g, stride, nGrads, []int{p}), ids, ref)
			}
			for _, w := range []int{2, 3, 8} {
				checkSame(t, fmt.Sprintf("%d workers", w), k, project(t, mk(w, 0), g, stride, nGrads, chunks(p, 0, rng)), ids, ref)
			}
			for _, sub := range [][]int{{0}, {8}, {8, 2, 8}, {3, 1, 4, 1, 5}} {
				checkSame(t, fmt.Sprintf("batch %v", sub), k, project(t, mk(2, 0), batchOf(sub, grads, p, p), p, len(sub), chunks(p, 500, rng)), sub, ref)
			}
			// Delivery orders: backward and shuffled tensor-sized pieces.
			pieces := cut(0, int64(p), func() int { return tensorSize(rng) })
			for trial, spans := range [][]span{reversed(pieces), shuffled(rng, pieces), shuffled(rng, cut(0, int64(p), func() int { return 1 + rng.IntN(3*tc.R) }))} {
				for _, w := range []int{1, 3} {
					checkSame(t, fmt.Sprintf("order %d, %d workers", trial, w), k, projectSpans(t, mk(w, 0), g, stride, nGrads, spans), ids, ref)
				}
			}
		})
	}
}

// Sparse delivery of an embedding table's used rows gives the bits of dense
// delivery with explicit zeros, and an example alone with its own rows gives
// the bits it has in the batch. Tolerance: none.
func TestSJLTSparseDelivery(t *testing.T) {
	const batch = 4
	for _, width := range []int{100, 256, 700} {
		m := sparseModel{head: 333, width: width, vocab: 40}
		m.p = m.head + m.vocab*m.width + 250
		rng := rand.New(rand.NewPCG(66, uint64(width)))
		used := make([][]int, batch)
		var union []int
		for b := range batch - 1 {
			for range 5 {
				r := rng.IntN(m.vocab)
				used[b] = append(used[b], r)
				union = append(union, r)
			}
		}
		grads := make([][]float32, batch)
		ids := make([]int, batch)
		for b := range grads {
			grads[b] = m.grad(300+b, used[b])
			ids[b] = b
		}
		stride := m.p + 1
		g := batchOf(ids, grads, m.p, stride)
		for _, R := range []int{256, SJLTBlockRows} {
			for _, workers := range []int{1, 2} {
				pr := withSJLTBlocks(mustNew(t, Spec{Kind: SJLT, Dim: 129, NonZeros: 3, Seed: 4, ModelID: 9, NumParams: int64(m.p)}, workers), R, 50)
				dense := projectSpans(t, pr, g, stride, batch, []span{{0, int64(m.p)}})
				what := fmt.Sprintf("width %d, R %d, %d workers", width, R, workers)
				for trial := range 2 {
					checkSame(t, fmt.Sprintf("%s, sparse trial %d", what, trial), 129, projectSpans(t, pr, g, stride, batch, m.spans(rng, dedup(union))), ids, dense)
				}
				for b := range batch {
					alone := projectSpans(t, pr, grads[b], m.p, 1, m.spans(rng, dedup(used[b])))
					checkSame(t, what+", alone", 129, alone, []int{b}, dense)
				}
			}
		}
	}
}

// One Accumulator reused: after Finish, after Reset in the middle of a batch
// and with SetBatch, it gives the bits of a fresh one. Tolerance: none.
func TestSJLTReuse(t *testing.T) {
	const p, k = 3*256 + 11, 40
	pr := withSJLTBlocks(mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: 2, Seed: 1, NumParams: p}, 2), 256, 64)
	grads := [][]float32{exampleGrad(1, p), exampleGrad(2, p), exampleGrad(3, p)}
	ids := []int{0, 1, 2}
	g := batchOf(ids, grads, p, p)
	ref := project(t, pr, g, p, 3, []int{p})
	a := pr.NewAccumulator(3)
	defer a.Close()
	out := make([]float32, 3*k)
	for range 3 {
		a.Add(0, 300, g, p) // leaves block 1 staged
		a.Reset()
		a.Add(100, p-100, g[100:], p)
		a.Add(0, 100, g, p)
		a.Finish(out, k)
		checkSame(t, "reused", k, out, ids, ref)
	}
	a.SetBatch(1)
	a.Add(0, p, grads[2], p)
	a.Finish(out, k)
	checkSame(t, "SetBatch(1)", k, out[:k], []int{2}, ref)
}

// Statistics of the columns and signs over 200,000 rows: within each column
// block the column is uniform (chi-square over the w_j cells with w_j − 1
// degrees of freedom, allowed mean + 6 standard deviations), the signs are
// balanced (each block's fraction of + within 6 standard deviations, 0.5 ±
// 6·√(1/4n)), and the sign is uncorrelated with the column's parity.
func TestSJLTColumnsAndSigns(t *testing.T) {
	const rows = 200_000
	for _, ks := range [][2]int{{64, 1}, {100, 3}, {512, 4}} {
		k, s := ks[0], ks[1]
		pr := mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: s, Seed: 8, NumParams: rows}, 1)
		tab := make([]uint32, rows*s)
		pr.fillSJLT(tab, 0, rows)
		count := make([]int, k)
		plus := make([]int, s)
		plusEven := 0
		even := 0
		for i := range rows {
			for j := range s {
				e := tab[i*s+j]
				c := int(e &^ sjltSign)
				if c < pr.colStart[j] || c >= pr.colStart[j+1] {
					t.Fatalf("k=%d s=%d: row %d's entry %d in column %d, outside block [%d, %d)", k, s, i, j, c, pr.colStart[j], pr.colStart[j+1])
				}
				count[c]++
				if e&sjltSign == 0 {
					plus[j]++
				}
				if c%2 == 0 {
					even++
					if e&sjltSign == 0 {
						plusEven++
					}
				}
			}
		}
		for j := range s {
			w := pr.colStart[j+1] - pr.colStart[j]
			exp := float64(rows) / float64(w)
			var chi float64
			for c := pr.colStart[j]; c < pr.colStart[j+1]; c++ {
				d := float64(count[c]) - exp
				chi += d * d / exp
			}
			df := float64(w - 1)
			if chi > df+6*math.Sqrt(2*df)+1 {
				t.Errorf("k=%d s=%d block %d: chi-square %.1f with %v degrees of freedom", k, s, j, chi, df)
			}
			if f := float64(plus[j]) / rows; math.Abs(f-0.5) > 6*math.Sqrt(0.25/rows) {
				t.Errorf("k=%d s=%d block %d: fraction of + signs %.4f", k, s, j, f)
			}
		}
		if f := float64(plusEven) / float64(even); math.Abs(f-0.5) > 6*math.Sqrt(0.25/float64(even)) {
			t.Errorf("k=%d s=%d: fraction of + signs in even columns %.4f", k, s, f)
		}
	}
}

// E‖Pᵀg‖² = ‖g‖². Each row has s entries ±1/√s in distinct columns, so
// ‖Pᵀg‖² = ‖g‖²·s·scale² + cross terms of mean zero; s·scale² is 1 within
// 2⁻²³. The ratio's variance is at most 2/k (Kane–Nelson; below the dense
// 2/k's bound for s ≥ 1 up to the Σg⁴ term), so the mean over M = 200
// matrices is allowed five standard errors, 5·√(2/(kM)). A one-hot g has
// ratio exactly s·scale², 1 within 2⁻²² for every matrix.
func TestSJLTNormPreserved(t *testing.T) {
	const (
		p = 3000
		k = 512
		m = 200
	)
	for _, s := range []int{1, 2, 4, 8} {
		g := exampleGrad(1, p)
		onehot := make([]float32, p)
		onehot[1555] = 3
		batch := append(append([]float32{}, g...), onehot...)
		var gg float64
		for _, v := range g {
			gg += float64(v) * float64(v)
		}
		var sum float64
		for i := range m {
			pr := withSJLTBlocks(mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: s, Seed: int64(i / 50), ModelID: i % 50, NumParams: p}, 1), 1024, 100)
			out := project(t, pr, batch, p, 2, []int{p})
			var ff, hh float64
			for c := range k {
				ff += float64(out[c]) * float64(out[c])
				hh += float64(out[k+c]) * float64(out[k+c])
			}
			sum += ff / gg
			if math.Abs(hh/9-1) > 4*u32 {
				t.Errorf("s=%d matrix %d: one-hot ratio = %.9f, want 1", s, i, hh/9)
			}
		}
		mean := sum / m
		if tol := 5 * math.Sqrt(2/float64(k*m)); math.Abs(mean-1) > tol {
			t.Errorf("s=%d: mean ‖Pᵀg‖²/‖g‖² over %d matrices = %.5f, want 1 ± %.5f", s, m, mean, tol)
		}
	}
}

// A warm SJLT Accumulator allocates nothing per batch, for whole blocks and
// for blocks staged from pieces.
func TestSJLTDoesNotAllocateWhenWarm(t *testing.T) {
	const p, k = SJLTBlockRows + 5000, 64
	pr := mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: 4, NumParams: p}, 2)
	g := batchOf([]int{0, 1}, [][]float32{exampleGrad(1, p), exampleGrad(2, p)}, p, p)
	a := pr.NewAccumulator(2)
	defer a.Close()
	out := make([]float32, 2*k)
	pass := func() {
		a.Add(SJLTBlockRows, 5000, g[SJLTBlockRows:], p)
		a.Add(0, SJLTBlockRows, g, p)
		a.Add(100, 0, g, p)
		a.Finish(out, k)
		a.Add(30000, p-30000, g[30000:], p)
		a.Add(0, 30000, g, p)
		a.Finish(out, k)
	}
	pass()
	if n := testing.AllocsPerRun(3, pass); n != 0 {
		t.Errorf("%v allocations per warm pass, want 0", n)
	}
}

// Overlapping ranges panic for SJLT too (staged, whole-block and completed
// blocks), and Reset makes the Accumulator usable again with the bits of a
// fresh one.
func TestSJLTOverlapPanics(t *testing.T) {
	const p = 3*256 + 10
	pr := withSJLTBlocks(mustNew(t, Spec{Kind: SJLT, Dim: 8, NonZeros: 2, NumParams: p}, 1), 256, 64)
	g := exampleGrad(5, 2*p)
	ref := project(t, pr, g, p, 2, []int{p})
	a := pr.NewAccumulator(2)
	defer a.Close()
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"staged", func() { a.Add(20, 10, g, p); a.Add(5, 16, g, p) }, "[5, 21) overlaps"},
		{"whole block", func() { a.Add(0, 256, g, p); a.Add(255, 2, g, p) }, "overlaps"},
		{"completed block", func() { a.Add(0, 100, g, p); a.Add(100, 156, g, p); a.Add(99, 1, g, p) }, "[99, 100) overlaps"},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Errorf("%s: panic %v, want %q", tc.name, r, tc.want)
				}
			}()
			tc.f()
		}()
		a.Reset()
		out := make([]float32, 2*8)
		a.Add(0, p, g, p)
		a.Finish(out, 8)
		checkSame(t, tc.name+", after Reset", 8, out, []int{0, 1}, ref)
	}
}
