package lds

import (
	"math"
	"slices"
	"testing"
)

func TestSubsetsShape(t *testing.T) {
	tests := []struct {
		n     int
		alpha float64
		k     int
	}{
		{10, 0.5, 5},
		{7, 0.5, 4}, // round(3.5) = 4: math.Round rounds half away from zero
		{100, 0.3, 30},
		{2, 0.5, 1},
		{1000, 0.999, 999},
	}
	for _, tc := range tests {
		subs, err := Subsets(tc.n, 20, tc.alpha, 7)
		if err != nil {
			t.Fatalf("n=%d α=%v: %v", tc.n, tc.alpha, err)
		}
		if len(subs) != 20 {
			t.Fatalf("n=%d α=%v: %d subsets, want 20", tc.n, tc.alpha, len(subs))
		}
		for j, s := range subs {
			if len(s) != tc.k {
				t.Errorf("n=%d α=%v subset %d: %d rows, want %d", tc.n, tc.alpha, j, len(s), tc.k)
			}
			for p, i := range s {
				if i < 0 || i >= tc.n || (p > 0 && s[p-1] >= i) {
					t.Fatalf("n=%d α=%v subset %d = %v: not strictly increasing within [0, n)", tc.n, tc.alpha, j, s)
				}
			}
		}
	}
}

func TestSubsetsDeterministicAndPrefixStable(t *testing.T) {
	a, err := Subsets(50, 10, 0.5, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Subsets(50, 10, 0.5, 42)
	more, _ := Subsets(50, 20, 0.5, 42)
	other, _ := Subsets(50, 10, 0.5, 43)
	for j := range a {
		if !slices.Equal(a[j], b[j]) {
			t.Errorf("subset %d differs between two identical calls", j)
		}
		if !slices.Equal(a[j], more[j]) {
			t.Errorf("subset %d changes when 20 subsets are drawn instead of 10", j)
		}
	}
	// Another seed must give other subsets (C(50, 25) choices: a repeat
	// means the seed is ignored), and subsets of one seed must differ.
	if slices.Equal(a[0], other[0]) {
		t.Error("seeds 42 and 43 give the same subset 0")
	}
	if slices.Equal(a[0], a[1]) {
		t.Error("subsets 0 and 1 are equal")
	}
}

// TestSubsetsInclusionUniform draws m = 2000 subsets of k = 15 of n = 50
// rows. Each subset holds a given row with probability k/n = 0.3,
// independently across subsets, so a row's count is Binomial(2000, 0.3):
// mean 600, standard deviation √(2000·0.3·0.7) ≈ 20.5. The test allows 5
// standard deviations (two-sided tail ≈ 5.7e-7 per row, ≈ 3e-5 for any of
// the 50 rows), so a correct sampler essentially never fails it while a bias
// of ~10% towards any row (or a Fisher–Yates off by one) does.
func TestSubsetsInclusionUniform(t *testing.T) {
	const n, m, alpha = 50, 2000, 0.3
	subs, err := Subsets(n, m, alpha, 2026)
	if err != nil {
		t.Fatal(err)
	}
	count := make([]int, n)
	for _, s := range subs {
		for _, i := range s {
			count[i]++
		}
	}
	p := 15.0 / n
	mu, sd := m*p, math.Sqrt(m*p*(1-p))
	for i, c := range count {
		if math.Abs(float64(c)-mu) > 5*sd {
			t.Errorf("row %d is in %d of %d subsets, expected %.0f ± %.0f (5σ)", i, c, m, mu, 5*sd)
		}
	}
}

func TestSubsetsErrors(t *testing.T) {
	tests := []struct {
		name  string
		n, m  int
		alpha float64
	}{
		{"one row", 1, 5, 0.5},
		{"no subsets", 10, 0, 0.5},
		{"alpha 0", 10, 5, 0},
		{"alpha 1", 10, 5, 1},
		{"alpha negative", 10, 5, -0.2},
		{"alpha NaN", 10, 5, math.NaN()},
		{"rounds to 0", 10, 5, 0.04},
		{"rounds to n", 10, 5, 0.96},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := Subsets(tc.n, tc.m, tc.alpha, 1); err == nil {
				t.Errorf("no error, %d subsets", len(s))
			}
		})
	}
}
