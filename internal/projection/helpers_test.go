package projection

import (
	"math"
	"math/rand/v2"
	"testing"
)

// u32 is the float32 unit roundoff, 2⁻²⁴.
const u32 = 0x1p-24

// exampleGrad returns a deterministic pseudo-random gradient of length p for
// example id. Entries are normal with magnitudes spread over four orders of
// magnitude, as real per-layer gradients are, so that rounding errors of the
// sums are exercised and not only well-scaled data.
func exampleGrad(id int, p int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(id), 0x9a7d))
	g := make([]float32, p)
	for i := range g {
		g[i] = float32(rng.NormFloat64() * math.Pow(10, 4*rng.Float64()-2))
	}
	return g
}

// batchOf lays out the gradients of examples ids as a batch with the given
// row stride (≥ p).
func batchOf(ids []int, grads [][]float32, p, stride int) []float32 {
	out := make([]float32, (len(ids)-1)*stride+p)
	for b, id := range ids {
		copy(out[b*stride:b*stride+p], grads[id])
	}
	return out
}

// project runs one batch through a fresh Accumulator, adding parameters in
// slices of the given sizes (which must sum to p; zeros are allowed), and
// returns the batch × Dim() features.
func project(t testing.TB, pr *Projector, g []float32, stride, batch int, sizes []int) []float32 {
	t.Helper()
	a := pr.NewAccumulator(batch)
	defer a.Close()
	var off int64
	for _, n := range sizes {
		a.Add(off, n, g[off:], stride)
		off += int64(n)
	}
	if off != pr.NumParams() {
		t.Fatalf("test bug: chunk sizes sum to %d, want %d", off, pr.NumParams())
	}
	out := make([]float32, batch*pr.Dim())
	a.Finish(out, pr.Dim())
	return out
}

// chunks returns slice sizes summing to p: all of size n (the last one
// shorter), or random sizes in [0, 2·BlockRows] when n is 0.
func chunks(p, n int, rng *rand.Rand) []int {
	var s []int
	for left := p; left > 0; {
		m := n
		if n == 0 {
			m = rng.IntN(2*BlockRows + 1)
		}
		m = min(m, left)
		s = append(s, m)
		left -= m
	}
	return s
}

func mustNew(t testing.TB, s Spec, workers int) *Projector {
	t.Helper()
	p, err := New(s, workers)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameBits reports the first index where a and b differ bitwise, or −1.
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// entries returns P[r, c] for rows [row0, row0+rows) and all columns,
// row-major, generated with fillGroup (fast) so statistics can use many.
func entries(pr *Projector, row0 int64, rows int) []float32 {
	k := pr.Dim()
	out := make([]float32, rows*k)
	for g := 0; g*groupCols < k; g++ {
		width := min(groupCols, k-g*groupCols)
		pr.fillGroup(out[g*groupCols:], k, row0, rows, g, width)
	}
	return out
}
