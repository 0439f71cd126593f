package projection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// span is a parameter range [lo, hi).
type span struct{ lo, hi int64 }

// projectSpans runs one batch through a fresh Accumulator, adding the
// parameter ranges in the given order (they need not cover everything), and
// returns the batch × Dim() features.
func projectSpans(t testing.TB, pr *Projector, g []float32, stride, batch int, spans []span) []float32 {
	t.Helper()
	a := pr.NewAccumulator(batch)
	defer a.Close()
	addSpans(a, g, stride, spans)
	out := make([]float32, batch*pr.Dim())
	a.Finish(out, pr.Dim())
	return out
}

func addSpans(a *Accumulator, g []float32, stride int, spans []span) {
	for _, s := range spans {
		a.Add(s.lo, int(s.hi-s.lo), g[s.lo:], stride)
	}
}

// cut splits [lo, hi) at sizes drawn by size, in ascending order.
func cut(lo, hi int64, size func() int) []span {
	var s []span
	for lo < hi {
		n := min(int64(size()), hi-lo)
		s = append(s, span{lo, lo + n})
		lo += n
	}
	return s
}

// tensorSize draws sizes like those of a model's tensors: biases and norms,
// small and large weight matrices.
func tensorSize(rng *rand.Rand) int {
	return []int{1, 7, 64, 512, 768, 1000, 1536, 2048}[rng.IntN(8)]
}

func shuffled(rng *rand.Rand, s []span) []span {
	s = append([]span(nil), s...)
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func reversed(s []span) []span {
	r := make([]span, len(s))
	for i, x := range s {
		r[len(s)-1-i] = x
	}
	return r
}

// checkSame fails if out's rows differ bitwise from ref's rows ids.
func checkSame(t *testing.T, what string, k int, out []float32, ids []int, ref []float32) {
	t.Helper()
	for b, id := range ids {
		if j := sameBits(out[b*k:(b+1)*k], ref[id*k:(id+1)*k]); j >= 0 {
			t.Fatalf("%s: example %d (position %d) differs from the reference at column %d: %v vs %v",
				what, id, b, j, out[b*k+j], ref[id*k+j])
		}
	}
}

// The delivery order changes no bit: tensor-sized pieces and odd-sized
// pieces, in random permutations and in backward order, with one worker and
// with several, against the gradient added in one piece with one worker.
// Tolerance: none.
func TestAnyDeliveryOrder(t *testing.T) {
	const (
		p      = 5*BlockRows + 37
		nGrads = 5
		stride = p + 3
	)
	grads := make([][]float32, nGrads)
	ids := make([]int, nGrads)
	for i := range grads {
		grads[i] = exampleGrad(200+i, p)
		ids[i] = i
	}
	g := batchOf(ids, grads, p, stride)
	trials := 3
	if testing.Short() {
		trials = 1
	}
	for _, kind := range []Kind{Rademacher, Normal} {
		for _, k := range []int{1, 129, 300} {
			t.Run(fmt.Sprintf("%s/k=%d", kind, k), func(t *testing.T) {
				spec := Spec{Kind: kind, Dim: k, Seed: 8, ModelID: 2, NumParams: p}
				ref := project(t, mustNew(t, spec, 1), g, stride, nGrads, []int{p})
				rng := rand.New(rand.NewPCG(55, uint64(k)))
				for _, workers := range []int{1, 3} {
					pr := mustNew(t, spec, workers)
					for trial := range trials {
						tensors := cut(0, p, func() int { return tensorSize(rng) })
						odd := cut(0, p, func() int { return 1 + rng.IntN(700) })
						for name, spans := range map[string][]span{
							"tensors shuffled": shuffled(rng, tensors),
							"tensors backward": reversed(tensors),
							"odd shuffled":     shuffled(rng, odd),
							"odd backward":     reversed(odd),
						} {
							what := fmt.Sprintf("%s, trial %d, %d workers", name, trial, workers)
							checkSame(t, what, k, projectSpans(t, pr, g, stride, nGrads, spans), ids, ref)
						}
					}
				}
			})
		}
	}
}

// sparseModel is a parameter layout with an embedding table: dense
// parameters [0, head), then vocab rows of width parameters, then dense
// parameters up to p.
type sparseModel struct {
	head, width, vocab int
	p                  int
}

func (m sparseModel) row(r int) span {
	lo := int64(m.head + r*m.width)
	return span{lo, lo + int64(m.width)}
}

// grad returns example id's gradient: dense parts non-zero, the table zero
// except in the rows used.
func (m sparseModel) grad(id int, used []int) []float32 {
	g := exampleGrad(id, m.p)
	inUse := make(map[int]bool)
	for _, r := range used {
		inUse[r] = true
	}
	for r := range m.vocab {
		if !inUse[r] {
			s := m.row(r)
			clear(g[s.lo:s.hi])
		}
	}
	return g
}

// spans returns the dense parts in tensor-sized pieces and the table rows
// used, shuffled.
func (m sparseModel) spans(rng *rand.Rand, used []int) []span {
	tail := int64(m.head + m.vocab*m.width)
	s := append(cut(0, int64(m.head), func() int { return tensorSize(rng) }),
		cut(tail, int64(m.p), func() int { return tensorSize(rng) })...)
	for _, r := range used {
		s = append(s, m.row(r))
	}
	return shuffled(rng, s)
}

// Sparse delivery (only the embedding rows that some example uses, the rest
// of the table left out) gives the bits of dense delivery of the same
// gradients with explicit zeros; and an example's features are the same
// whatever rows the other examples of its batch use, as when it is alone in
// its batch with only its own rows delivered. Rows narrower than a block,
// exactly one block wide (at an unaligned offset) and wider than a block.
// Tolerance: none.
func TestSparseDelivery(t *testing.T) {
	const batch = 4
	for _, width := range []int{100, BlockRows, 700} {
		for _, kind := range []Kind{Rademacher, Normal} {
			t.Run(fmt.Sprintf("width=%d/%s", width, kind), func(t *testing.T) {
				m := sparseModel{head: 333, width: width, vocab: 40}
				m.p = m.head + m.vocab*m.width + 250
				rng := rand.New(rand.NewPCG(66, uint64(width)))
				used := make([][]int, batch)
				var union []int
				seen := make(map[int]bool)
				for b := range batch - 1 { // the last example uses no row
					for range 5 {
						r := rng.IntN(m.vocab)
						used[b] = append(used[b], r)
						if !seen[r] {
							seen[r] = true
							union = append(union, r)
						}
					}
				}
				used[0] = append(used[0], used[1][0]) // shared with example 1
				grads := make([][]float32, batch)
				ids := make([]int, batch)
				for b := range grads {
					grads[b] = m.grad(300+b, used[b])
					ids[b] = b
				}
				stride := m.p + 1
				g := batchOf(ids, grads, m.p, stride)
				for _, k := range []int{1, 129} {
					for _, workers := range []int{1, 2} {
						pr := mustNew(t, Spec{Kind: kind, Dim: k, Seed: 4, ModelID: 9, NumParams: int64(m.p)}, workers)
						dense := projectSpans(t, pr, g, stride, batch, []span{{0, int64(m.p)}})
						what := fmt.Sprintf("k=%d, %d workers", k, workers)
						for trial := range 3 {
							sparse := projectSpans(t, pr, g, stride, batch, m.spans(rng, dedup(union)))
							checkSame(t, fmt.Sprintf("%s, sparse trial %d", what, trial), k, sparse, ids, dense)
						}
						for b := range batch {
							alone := projectSpans(t, pr, grads[b], m.p, 1, m.spans(rng, dedup(used[b])))
							checkSame(t, fmt.Sprintf("%s, alone with its own rows", what), k, alone, []int{b}, dense)
						}
					}
				}
			})
		}
	}
}

func dedup(rows []int) []int {
	seen := make(map[int]bool)
	var out []int
	for _, r := range rows {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Parameters never added are zero: a batch with nothing added gives +0
// features, and one with a few ranges added equals dense delivery with
// zeros elsewhere. Then the Accumulator, reused, forgets them. Tolerance:
// none.
func TestMissingParametersAreZero(t *testing.T) {
	const p = 3*BlockRows + 100
	for _, kind := range []Kind{Rademacher, None} {
		pr := mustNew(t, Spec{Kind: kind, Dim: 130, Seed: 2, NumParams: p}, 2)
		k := pr.Dim()
		a := pr.NewAccumulator(2)
		out := make([]float32, 2*k)
		for i := range out {
			out[i] = float32(math.NaN())
		}
		a.Finish(out, k)
		for i, v := range out {
			if math.Float32bits(v) != 0 {
				t.Fatalf("%s: feature %d of an empty batch is %v, want +0", kind, i, v)
			}
		}
		grads := [][]float32{exampleGrad(1, p), exampleGrad(2, p)}
		g := batchOf([]int{0, 1}, grads, p, p)
		spans := []span{{1100, 1300}, {5, 6}, {BlockRows, 2 * BlockRows}}
		addSpans(a, g, p, spans)
		a.Finish(out, k)
		zeroed := make([]float32, len(g))
		for _, s := range spans {
			for b := range 2 {
				copy(zeroed[b*p+int(s.lo):b*p+int(s.hi)], g[b*p+int(s.lo):b*p+int(s.hi)])
			}
		}
		want := project(t, pr, zeroed, p, 2, []int{p})
		checkSame(t, string(kind)+": some ranges", k, out, []int{0, 1}, want)
		a.Add(0, p, g, p)
		a.Finish(out, k)
		checkSame(t, string(kind)+": then all", k, out, []int{0, 1}, project(t, pr, g, p, 2, []int{p}))
		a.Close()
	}
}

// The identity projection accepts any order too.
func TestNoneAnyOrder(t *testing.T) {
	const p = 1000
	pr := mustNew(t, Spec{Kind: None, NumParams: p}, 1)
	grads := [][]float32{exampleGrad(1, p), exampleGrad(2, p)}
	g := batchOf([]int{0, 1}, grads, p, p+2)
	rng := rand.New(rand.NewPCG(9, 9))
	out := projectSpans(t, pr, g, p+2, 2, shuffled(rng, cut(0, p, func() int { return 1 + rng.IntN(100) })))
	for b := range 2 {
		if j := sameBits(out[b*p:(b+1)*p], grads[b]); j >= 0 {
			t.Fatalf("example %d: output differs from input at %d", b, j)
		}
	}
}

// Normalising the exact sums between blocks, which happens every
// normaliseEvery blocks of a batch, changes nothing: forced after every block
// or every third. Tolerance: none.
func TestNormalisationBetweenBlocks(t *testing.T) {
	const p = 7*BlockRows + 5
	pr := mustNew(t, Spec{Kind: Normal, Dim: 200, Seed: 6, NumParams: p}, 2)
	g := batchOf([]int{0, 1}, [][]float32{exampleGrad(5, p), exampleGrad(6, p)}, p, p)
	want := project(t, pr, g, p, 2, []int{p})
	for _, every := range []int{1, 3} {
		a := pr.NewAccumulator(2)
		a.s.normEvery = every
		a.Add(0, p, g, p)
		out := make([]float32, 2*pr.Dim())
		a.Finish(out, pr.Dim())
		a.Close()
		checkSame(t, fmt.Sprintf("normalising every %d blocks", every), pr.Dim(), out, []int{0, 1}, want)
	}
}

// openTable against a map, through random puts and deletes, and growth.
func TestOpenTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h openTable
	h.init(2)
	ref := make(map[int64]*staged)
	for i := range 20000 {
		key := int64(rng.IntN(300))
		if i%3 == 0 {
			key = int64(rng.Uint64() >> 1)
		}
		if sb, ok := ref[key]; ok {
			if got := h.get(key); got != sb {
				t.Fatalf("step %d: get(%d) = %p, want %p", i, key, got, sb)
			}
			if rng.IntN(2) == 0 {
				h.del(key)
				delete(ref, key)
			}
		} else {
			if got := h.get(key); got != nil {
				t.Fatalf("step %d: get(%d) of an absent key = %p", i, key, got)
			}
			if len(ref) < 200 {
				sb := &staged{t: key}
				h.put(key, sb)
				ref[key] = sb
			}
		}
		if h.n != len(ref) {
			t.Fatalf("step %d: %d entries, want %d", i, h.n, len(ref))
		}
	}
	for key, sb := range ref {
		if h.get(key) != sb {
			t.Fatalf("final get(%d) wrong", key)
		}
	}
}

// Sparse delivery allocates only while the number of open blocks grows:
// repeating a batch with the same pattern allocates nothing.
func TestSparseDoesNotAllocateWhenWarm(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector, whose sync.Pool drops buffers at random")
	}
	m := sparseModel{head: 100, width: 300, vocab: 50}
	m.p = m.head + m.vocab*m.width + 77
	pr := mustNew(t, Spec{Kind: Rademacher, Dim: 256, NumParams: int64(m.p)}, 2)
	rng := rand.New(rand.NewPCG(3, 3))
	rows := []int{3, 17, 18, 40, 41, 42, 9}
	spans := m.spans(rng, rows)
	g := batchOf([]int{0, 1}, [][]float32{m.grad(1, rows), m.grad(2, rows)}, m.p, m.p)
	a := pr.NewAccumulator(2)
	defer a.Close()
	out := make([]float32, 2*pr.Dim())
	pass := func() {
		addSpans(a, g, m.p, spans)
		a.Finish(out, pr.Dim())
	}
	pass()
	if n := testing.AllocsPerRun(5, pass); n != 0 {
		t.Errorf("%v allocations per warm sparse batch, want 0", n)
	}
}
