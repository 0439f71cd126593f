package lds

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// spearmanTol bounds |computed − exact| for the hand-computed cases: the
// ranks are exact (halves of integers), so the only rounding is in the
// centred sums (n ≤ 10 terms of size ≤ 25) and one square root, a few ulps
// of 1; 1e-12 leaves orders of magnitude of headroom while any wrong rank
// moves ρ by at least ~1e-3 on these sizes.
const spearmanTol = 1e-12

func TestSpearmanHandComputed(t *testing.T) {
	exp := func(v []float64) []float64 {
		out := make([]float64, len(v))
		for i, a := range v {
			out[i] = math.Exp(a)
		}
		return out
	}
	x5 := []float64{1, 2, 3, 4, 5}
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		// A monotone increasing transform keeps every rank: ρ = 1.
		{"perfect increasing", x5, exp(x5), 1},
		{"perfect decreasing", x5, []float64{50, 40, 30, 20, 10}, -1},
		// Ranks of y are 2 1 4 3 5: Σd² = 4, ρ = 1 − 6·4/(5·24) = 0.8.
		{"one swap pair", x5, []float64{2, 1, 4, 3, 5}, 0.8},
		// x has a tie: ranks 1 2.5 2.5 4 against 1 2 3 4. Centred:
		// (−1.5 0 0 1.5)·(−1.5 −0.5 0.5 1.5) = 4.5, |x|² = 4.5, |y|² = 5,
		// ρ = 4.5/√22.5 = √0.9.
		{"tie in x", []float64{1, 2, 2, 3}, []float64{1, 2, 3, 4}, math.Sqrt(0.9)},
		// Ranks 1.5 1.5 3.5 3.5 against 1.5 3.5 1.5 3.5: orthogonal.
		{"ties both sides, uncorrelated", []float64{1, 1, 2, 2}, []float64{1, 2, 1, 2}, 0},
		// Ten pairs; y's ranks 3 1 2 5 4 7 6 10 8 9 (values are not
		// ranks, to exercise the sort): Σd² = 16, ρ = 1 − 96/990 = 149/165.
		{"ten pairs", []float64{0.5, 1.1, 2.0, 3.7, 4.2, 5.9, 6.3, 7.7, 8.1, 9.4},
			[]float64{-3, -10, -7, 12, 4, 30, 21, 99, 40, 55}, 149.0 / 165.0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Spearman(tc.x, tc.y)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > spearmanTol {
				t.Errorf("ρ = %.17g, want %.17g (tolerance %g)", got, tc.want, spearmanTol)
			}
			back, err := Spearman(tc.y, tc.x)
			if err != nil || back != got {
				t.Errorf("not symmetric: ρ(y, x) = %v (%v), ρ(x, y) = %v", back, err, got)
			}
		})
	}
}

// TestSpearmanMatchesRankDifferenceFormula checks ρ against the classical
// 1 − 6Σd²/(n(n²−1)), exact for data without ties, on random data (no ties
// with probability 1 for continuous draws). Tolerance 1e-12: both sides are
// ratios of exact integers computed in float64 with sums of ≤ 200 terms,
// each correct to a few ulps of 1.
func TestSpearmanMatchesRankDifferenceFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{3, 4, 7, 30, 200} {
		x := make([]float64, n)
		y := make([]float64, n)
		for i := range n {
			x[i] = rng.NormFloat64()
			y[i] = x[i] + 2*rng.NormFloat64()
		}
		rx, ry := ranks(x), ranks(y)
		var d2 float64
		for i := range n {
			d2 += (rx[i] - ry[i]) * (rx[i] - ry[i])
		}
		fn := float64(n)
		want := 1 - 6*d2/(fn*(fn*fn-1))
		got, err := Spearman(x, y)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("n=%d: ρ = %.17g, rank-difference formula %.17g", n, got, want)
		}
	}
}

func TestRanksAverageTies(t *testing.T) {
	got := ranks([]float64{3, 1, 3, 2, 3})
	want := []float64{4, 1, 4, 2, 4} // the three 3s share ranks 3, 4, 5
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ranks = %v, want %v", got, want)
		}
	}
}

func TestSpearmanErrors(t *testing.T) {
	tests := []struct {
		name     string
		x, y     []float64
		constant bool
	}{
		{"lengths differ", []float64{1, 2, 3}, []float64{1, 2}, false},
		{"too short", []float64{1, 2}, []float64{2, 1}, false},
		{"NaN", []float64{1, math.NaN(), 3}, []float64{1, 2, 3}, false},
		{"Inf", []float64{1, 2, 3}, []float64{1, math.Inf(-1), 3}, false},
		{"constant x", []float64{2, 2, 2}, []float64{1, 2, 3}, true},
		{"constant y", []float64{1, 2, 3}, []float64{0, 0, 0}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Spearman(tc.x, tc.y)
			if err == nil {
				t.Fatalf("no error, ρ = %v", got)
			}
			if errors.Is(err, ErrConstant) != tc.constant {
				t.Errorf("error %q: wraps ErrConstant = %v, want %v", err, !tc.constant, tc.constant)
			}
		})
	}
}
