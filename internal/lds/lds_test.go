package lds

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPredictSumsSubsetRows(t *testing.T) {
	// N = 3 rows × T = 2 targets; the values are small integers, so the
	// float64 sums are exact and compared with ==.
	scores := []float32{
		1, 10,
		2, 20,
		4, 40,
	}
	subsets := [][]int{{0, 1}, {1, 2}, {0, 2}, {}}
	got := Predict(scores, 3, 2, subsets)
	want := []float64{3, 30, 6, 60, 5, 50, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Predict = %v, want %v", got, want)
		}
	}
}

func TestComputeConstantTargets(t *testing.T) {
	// N = 4, T = 3, M = 4. Target 0 has increasing outputs matching the
	// predictions (LDS 1); target 1's outputs are constant; target 2's
	// scores are zero, so its predictions are constant.
	scores := []float32{
		1, 1, 0,
		2, 1, 0,
		3, 1, 0,
		4, 1, 0,
	}
	subsets := [][]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}} // sums 3, 4, 6, 7 for target 0
	outputs := []float64{
		0.1, 5, 1,
		0.2, 5, 2,
		0.3, 5, 3,
		0.4, 5, 4,
	}
	r, err := Compute(scores, 4, 3, subsets, outputs)
	if err != nil {
		t.Fatal(err)
	}
	if r.PerTarget[0] != 1 || !math.IsNaN(r.PerTarget[1]) || !math.IsNaN(r.PerTarget[2]) {
		t.Errorf("PerTarget = %v, want [1 NaN NaN]", r.PerTarget)
	}
	if r.Count != 1 || r.Constant != 2 || r.Mean != 1 || !math.IsNaN(r.StdErr) {
		t.Errorf("Count %d Constant %d Mean %v StdErr %v, want 1, 2, 1, NaN (one value has no spread estimate)",
			r.Count, r.Constant, r.Mean, r.StdErr)
	}
}

func TestMeanStdErr(t *testing.T) {
	// Values 0.2, 0.4, 0.9 (and a NaN left out): mean 0.5, sample variance
	// ((−0.3)² + (−0.1)² + 0.4²)/2 = 0.13, standard error √(0.13/3).
	// Tolerance 1e-15: three terms, each off by an ulp or so of 1.
	mean, se, n := meanStdErr([]float64{0.2, math.NaN(), 0.4, 0.9})
	if n != 3 || math.Abs(mean-0.5) > 1e-15 || math.Abs(se-math.Sqrt(0.13/3)) > 1e-15 {
		t.Errorf("mean %v, stderr %v, count %d; want 0.5, %v, 3", mean, se, n, math.Sqrt(0.13/3))
	}
	if mean, se, n := meanStdErr([]float64{math.NaN()}); n != 0 || !math.IsNaN(mean) || !math.IsNaN(se) {
		t.Errorf("all NaN: mean %v, stderr %v, count %d; want NaN, NaN, 0", mean, se, n)
	}
}

func TestComputeErrors(t *testing.T) {
	good := func() ([]float32, [][]int, []float64) {
		return []float32{1, 2, 3, 4, 5, 6}, // N = 3, T = 2
			[][]int{{0}, {1}, {2}},
			[]float64{1, 2, 3, 4, 5, 6}
	}
	tests := []struct {
		name   string
		mutate func(s *[]float32, sub *[][]int, out *[]float64)
		want   string
	}{
		{"scores too short", func(s *[]float32, _ *[][]int, _ *[]float64) { *s = (*s)[:5] }, "5 scores"},
		{"outputs too long", func(_ *[]float32, _ *[][]int, o *[]float64) { *o = append(*o, 7) }, "7 outputs"},
		{"two subsets", func(_ *[]float32, sub *[][]int, o *[]float64) { *sub = (*sub)[:2]; *o = (*o)[:4] }, "2 subsets"},
		{"row out of range", func(_ *[]float32, sub *[][]int, _ *[]float64) { (*sub)[1] = []int{3} }, "row 3"},
		{"negative row", func(_ *[]float32, sub *[][]int, _ *[]float64) { (*sub)[1] = []int{-1} }, "row -1"},
		{"NaN output", func(_ *[]float32, _ *[][]int, o *[]float64) { (*o)[3] = math.NaN() }, "subset model 1, target 1"},
		{"Inf score", func(s *[]float32, _ *[][]int, _ *[]float64) { (*s)[4] = float32(math.Inf(1)) }, "train row 2, target 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, sub, o := good()
			tc.mutate(&s, &sub, &o)
			_, err := Compute(s, 3, 2, sub, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := Compute(nil, 0, 2, nil, nil); err == nil {
		t.Error("N = 0: no error")
	}
}

// TestComputeRandomScores: outputs follow a linear datamodel of the
// subsets, f_j(t) = Σ_{i∈S_j} a(t, i) + noise, and the scores are drawn
// independently of a. Each target's LDS is then a rank correlation of
// independent variables, mean 0, and the test asks |mean| ≤ 3·StdErr (seed
// 11, deterministic; a correct implementation fails this for about 0.3% of
// seeds). The true coefficients a, given as scores, must instead reach an
// LDS near 1: with noise of standard deviation 1 against a signal of
// standard deviation √(k·(1−α)) ≈ 3.5, ρ ≈ 0.95, and 0.85 leaves margin.
func TestComputeRandomScores(t *testing.T) {
	const n, m, nt, alpha = 50, 40, 200, 0.5
	rng := rand.New(rand.NewPCG(11, 0))
	subsets, err := Subsets(n, m, alpha, 11)
	if err != nil {
		t.Fatal(err)
	}
	truth := make([]float32, n*nt)
	random := make([]float32, n*nt)
	for i := range truth {
		truth[i] = float32(rng.NormFloat64())
		random[i] = float32(rng.NormFloat64())
	}
	outputs := Predict(truth, n, nt, subsets)
	for i := range outputs {
		outputs[i] += rng.NormFloat64()
	}

	r, err := Compute(random, n, nt, subsets, outputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("random scores: mean LDS %.4f ± %.4f over %d targets", r.Mean, r.StdErr, r.Count)
	if r.Count != nt || math.Abs(r.Mean) > 3*r.StdErr {
		t.Errorf("random scores: mean LDS %.4f ± %.4f over %d targets, want |mean| ≤ 3·stderr over %d", r.Mean, r.StdErr, r.Count, nt)
	}

	r, err = Compute(truth, n, nt, subsets, outputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("true coefficients: mean LDS %.4f ± %.4f", r.Mean, r.StdErr)
	if r.Mean < 0.85 {
		t.Errorf("true coefficients: mean LDS %.4f, want ≥ 0.85", r.Mean)
	}
}
