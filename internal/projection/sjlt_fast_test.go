package projection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// sjltSpecials are values the scatter must carry bit for bit: signed zeros,
// infinities, NaNs with payloads and signs, subnormals and extremes.
var sjltSpecials = []uint32{
	0x80000000, 0x00000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001,
	0x7f800001, 0x00000001, 0x80000001, 0x7f7fffff, 0xff7fffff,
}

// sjltRandomValues fills v with normal values of spread magnitudes and, with
// probability 1/8 each, one of sjltSpecials.
func sjltRandomValues(rng *rand.Rand, v []float32) {
	for i := range v {
		if rng.IntN(8) == 0 {
			v[i] = math.Float32frombits(sjltSpecials[rng.IntN(len(sjltSpecials))])
			continue
		}
		v[i] = float32(rng.NormFloat64() * math.Pow(10, 4*rng.Float64()-2))
	}
}

// The vector scatter writes exactly the bits of the portable one, for every
// batch width, s, k (multiples of neither 8 nor s), worker share and values
// with signed zeros, NaNs and infinities. Tolerance: none, except that a NaN
// may have another payload or sign: which operand's NaN an addition of two
// NaNs keeps depends on the operand order the Go compiler picks for
// p[l] += x, and it does not matter, since the exact sums record any NaN as
// a flag and round it to the one quiet NaN.
func TestSJLTScatterFastMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ran := false
	for _, batch := range []int{1, 5, 8, 16, 17} {
		for _, s := range []int{1, 2, 3, 4, 8} {
			for _, k := range []int{s, 13, 100, 1031} {
				if k < s {
					continue
				}
				pr := mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: s, Seed: 9, NumParams: 1 << 20}, 1)
				lanes := sjltLanes(batch)
				rows := 1 + rng.IntN(300)
				tab := make([]uint32, rows*s)
				pr.fillSJLT(tab, int64(rng.IntN(1<<19)), rows)
				gT := make([]float32, rows*lanes)
				for i := range rows {
					sjltRandomValues(rng, gT[i*lanes:i*lanes+batch])
				}
				init := make([]float32, k*lanes)
				for c := range k {
					sjltRandomValues(rng, init[c*lanes:c*lanes+batch])
				}
				sj := &sjltState{nz: s, k: k, colStart: pr.colStart}
				for _, nw := range []int{1, 2, 3, 8} {
					for w := range nw {
						ja, jb, c0, c1 := sj.scatterShare(w, nw)
						want := append([]float32(nil), init...)
						got := append([]float32(nil), init...)
						sjltScatterGo(want, gT, tab, rows, s, ja, jb, lanes, uint32(c0), uint32(c1))
						if !sjltScatterFast(got, gT, tab, rows, s, ja, jb, lanes, uint32(c0), uint32(c1)) {
							continue
						}
						ran = true
						for e := range want {
							if math.Float32bits(got[e]) != math.Float32bits(want[e]) && !(got[e] != got[e] && want[e] != want[e]) {
								t.Fatalf("B=%d s=%d k=%d worker %d/%d: partT[%d] = %#x, portable %#x", batch, s, k, w, nw, e,
									math.Float32bits(got[e]), math.Float32bits(want[e]))
							}
						}
					}
				}
			}
		}
	}
	t.Logf("vector scatter ran: %v", ran)
}

// The workers' scatter shares cover every column block's columns exactly
// once. Tolerance: none.
func TestSJLTScatterShares(t *testing.T) {
	for _, k := range []int{1, 3, 8, 13, 100} {
		for _, s := range []int{1, 2, 3, 4, 8} {
			if s > k {
				continue
			}
			pr := mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: s, Seed: 1, NumParams: 10}, 1)
			sj := &sjltState{nz: s, k: k, colStart: pr.colStart}
			for _, nw := range []int{1, 2, 3, 5, 8, 16} {
				seen := make([]int, k)
				for w := range nw {
					ja, jb, c0, c1 := sj.scatterShare(w, nw)
					for j := ja; j < jb; j++ {
						for c := max(c0, pr.colStart[j]); c < min(c1, pr.colStart[j+1]); c++ {
							seen[c]++
						}
					}
				}
				for c, n := range seen {
					if n != 1 {
						t.Fatalf("k=%d s=%d nw=%d: column %d applied by %d workers", k, s, nw, c, n)
					}
				}
			}
		}
	}
}

// sjltTranspose writes the transpose with +0 padding, whatever the batch
// and the rows (full 8 × 8 blocks or not). Tolerance: none.
func TestSJLTTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, batch := range []int{1, 5, 8, 16, 17, 24} {
		for _, rows := range []int{1, 7, 8, 9, 64, 255, 256, 257, 700} {
			lanes := sjltLanes(batch)
			stride := rows + rng.IntN(20)
			src := make([]float32, batch*stride)
			sjltRandomValues(rng, src)
			dst := make([]float32, rows*lanes)
			for i := range dst {
				dst[i] = float32(math.NaN()) // the padding must be cleared
			}
			sjltTranspose(dst, lanes, src, stride, batch, rows)
			for i := range rows {
				for l := range lanes {
					want := uint32(0)
					if l < batch {
						want = math.Float32bits(src[l*stride+i])
					}
					if got := math.Float32bits(dst[i*lanes+l]); got != want {
						t.Fatalf("B=%d rows=%d: row %d lane %d = %#x, want %#x", batch, rows, i, l, got, want)
					}
				}
			}
		}
	}
}

// sjltOldProject is the SJLT projection as the per-example scatter computed
// it before the transposed layout: per block, each example's float32 partial
// receives part[col] += ±g[r] for its rows in ascending order and entries in
// order, and is scaled and added to the exact sums.
func sjltOldProject(pr *Projector, g []float32, stride, batch int) []float32 {
	k, s, p := pr.Dim(), pr.spec.NonZeros, int(pr.NumParams())
	acc := newExactAcc(batch * k)
	part := make([]float32, k)
	for r0 := 0; r0 < p; r0 += pr.blockRows {
		rows := min(pr.blockRows, p-r0)
		tab := make([]uint32, rows*s)
		pr.fillSJLT(tab, int64(r0), rows)
		for b := range batch {
			clear(part)
			for i, v := range g[b*stride+r0 : b*stride+r0+rows] {
				for _, e := range tab[i*s : (i+1)*s] {
					part[e&^sjltSign] += math.Float32frombits(math.Float32bits(v) ^ e&sjltSign)
				}
			}
			if pr.sjltScale != 1 {
				for c := range part {
					part[c] *= pr.sjltScale
				}
			}
			acc.addRow(b*k, part)
		}
		acc.normalise(0, batch*k)
	}
	out := make([]float32, batch*k)
	for e := range out {
		out[e] = acc.round(e)
	}
	return out
}

// The Accumulator gives the bits of the per-example scatter, with gradients
// that hold signed zeros, infinities and NaNs in some examples, for every
// worker count. Tolerance: none.
func TestSJLTMatchesPerExampleScatter(t *testing.T) {
	for _, tc := range []struct {
		p, k, s, R, batch int
		specials          bool
	}{
		{3*256 + 37, 129, 4, 256, 16, false},
		{3*256 + 37, 13, 3, 256, 5, true},
		{3*256 + 37, 100, 1, 256, 17, false},
		{2*256 + 11, 1031, 8, 256, 8, false},
		{2*256 + 11, 61, 2, 256, 1, false},
		{SJLTBlockRows + 999, 4096, 4, SJLTBlockRows, 16, false},
	} {
		t.Run(fmt.Sprintf("p=%d/k=%d/s=%d/B=%d", tc.p, tc.k, tc.s, tc.batch), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.k), uint64(tc.s)))
			stride := tc.p + 3
			g := make([]float32, tc.batch*stride)
			for b := range tc.batch {
				row := g[b*stride : b*stride+tc.p]
				copy(row, exampleGrad(300+b, tc.p))
				if tc.specials && b%2 == 1 {
					for range 3 {
						row[rng.IntN(tc.p)] = math.Float32frombits(sjltSpecials[rng.IntN(len(sjltSpecials))])
					}
				}
				if b == 0 {
					for i := range row[:100] {
						row[i] = float32(math.Copysign(0, -1))
					}
				}
			}
			spec := Spec{Kind: SJLT, Dim: tc.k, NonZeros: tc.s, Seed: 4, ModelID: 2, NumParams: int64(tc.p)}
			ref := sjltOldProject(withSJLTBlocks(mustNew(t, spec, 1), tc.R, 100), g, stride, tc.batch)
			for _, w := range []int{1, 2, 3, 8} {
				pr := mustNew(t, spec, w)
				withSJLTBlocks(pr, tc.R, pr.sjltTile)
				got := project(t, pr, g, stride, tc.batch, chunks(tc.p, 1000, nil))
				for e := range ref {
					if math.Float32bits(got[e]) != math.Float32bits(ref[e]) {
						t.Fatalf("%d workers: feature %d = %#x, per-example scatter %#x", w, e, math.Float32bits(got[e]), math.Float32bits(ref[e]))
					}
				}
			}
		})
	}
}

// fillSJLT's eight-row path (philox.Block8 and the vector packing) writes
// the entries of the definition, for tables of up to 40 rows at row offsets
// that cross 2³². Tolerance: none.
func TestFillSJLTEightRows(t *testing.T) {
	for _, ks := range [][2]int{{1, 1}, {5, 2}, {300, 1}, {300, 2}, {300, 3}, {300, 4}, {4099, 4}, {300, 5}, {300, 8}, {300, 9}} {
		k, s := ks[0], ks[1]
		pr := mustNew(t, Spec{Kind: SJLT, Dim: k, NonZeros: s, Seed: 5, ModelID: 2, NumParams: 1 << 40}, 1)
		for _, row0 := range []int64{0, 3, 1<<32 - 13} {
			for _, rows := range []int{8, 9, 16, 23, 40} {
				tab := make([]uint32, rows*s)
				pr.fillSJLT(tab, row0, rows)
				for i := range rows {
					cols, signs := sjltDefinition(5, 2, k, s, row0+int64(i))
					for j := range s {
						want := uint32(cols[j])
						if signs[j] < 0 {
							want |= sjltSign
						}
						if got := tab[i*s+j]; got != want {
							t.Fatalf("k=%d s=%d row %d entry %d: %#x, definition %#x", k, s, row0+int64(i), j, got, want)
						}
					}
				}
			}
		}
	}
}
