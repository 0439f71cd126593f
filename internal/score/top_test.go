package score

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// fullRank ranks every row of column target by a stable sort on the score
// alone, so ties keep row order; NaNs are moved to the end first.
func fullRank(scores []float32, n, t, target int, opponents bool) []Ranked {
	var nums, nans []Ranked
	for i := range n {
		r := Ranked{Row: i, Score: float64(scores[i*t+target])}
		if math.IsNaN(r.Score) {
			nans = append(nans, r)
		} else {
			nums = append(nums, r)
		}
	}
	slices.SortStableFunc(nums, func(a, b Ranked) int {
		if opponents {
			return cmp.Compare(a.Score, b.Score)
		}
		return cmp.Compare(b.Score, a.Score)
	})
	return append(nums, nans...)
}

func sameRanking(a, b []Ranked) bool {
	return slices.EqualFunc(a, b, func(x, y Ranked) bool {
		return x.Row == y.Row && (x.Score == y.Score || math.IsNaN(x.Score) && math.IsNaN(y.Score))
	})
}

func TestTopExamples(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	// One column; row i holds col[i].
	col := []float32{3, nan, 5, 5, -1, nan, 3, negZero, 0}
	cases := []struct {
		k         int
		opponents bool
		want      []int
	}{
		{k: 3, want: []int{2, 3, 0}},
		{k: 4, want: []int{2, 3, 0, 6}},
		{k: 3, opponents: true, want: []int{4, 7, 8}}, // −0 and 0 tie: lower row first
		{k: 20, want: []int{2, 3, 0, 6, 7, 8, 4, 1, 5}},
		{k: 20, opponents: true, want: []int{4, 7, 8, 0, 6, 2, 3, 1, 5}},
		{k: 0, want: []int{}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("k=%d/opponents=%t", c.k, c.opponents), func(t *testing.T) {
			got := Top(col, len(col), 1, 0, c.k, c.opponents)
			rows := make([]int, len(got))
			for i, r := range got {
				rows[i] = r.Row
				if s := float64(col[r.Row]); r.Score != s && !(math.IsNaN(s) && math.IsNaN(r.Score)) {
					t.Errorf("row %d: score %g, want %g", r.Row, r.Score, s)
				}
			}
			if !slices.Equal(rows, c.want) {
				t.Errorf("rows %v, want %v", rows, c.want)
			}
		})
	}
}

func TestTopMatchesFullSort(t *testing.T) {
	const n, nt = 300, 3
	rng := rand.New(rand.NewPCG(1, 1))
	scores := make([]float32, n*nt)
	for i := range scores {
		switch target := i % nt; {
		case target == 0: // distinct values
			scores[i] = float32(rng.NormFloat64())
		case target == 1: // many ties
			scores[i] = float32(rng.IntN(10) - 5)
		default: // ties and NaNs
			scores[i] = float32(rng.IntN(6))
			if rng.IntN(5) == 0 {
				scores[i] = float32(math.NaN())
			}
		}
	}
	for target := range nt {
		for _, opponents := range []bool{false, true} {
			want := fullRank(scores, n, nt, target, opponents)
			for _, k := range []int{0, 1, 2, 7, 50, n - 1, n, n + 10} {
				t.Run(fmt.Sprintf("target=%d/opponents=%t/k=%d", target, opponents, k), func(t *testing.T) {
					got := Top(scores, n, nt, target, k, opponents)
					if w := want[:min(k, n)]; !sameRanking(got, w) {
						t.Errorf("got %v\nwant %v", got, w)
					}
				})
			}
		}
	}
}

func TestTopPanics(t *testing.T) {
	scores := make([]float32, 6)
	for _, c := range []struct {
		name            string
		n, t, target, k int
	}{
		{name: "length", n: 4, t: 2, target: 0, k: 1},
		{name: "target too large", n: 3, t: 2, target: 2, k: 1},
		{name: "negative target", n: 3, t: 2, target: -1, k: 1},
		{name: "negative k", n: 3, t: 2, target: 0, k: -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || len(s) < 7 || s[:7] != "score: " {
					t.Errorf("recovered %v, want a panic message starting with \"score: \"", r)
				}
			}()
			Top(scores, c.n, c.t, c.target, c.k, false)
		})
	}
}

func BenchmarkTop(b *testing.B) {
	const n, t = 1_000_000, 4
	rng := rand.New(rand.NewPCG(1, 1))
	scores := make([]float32, n*t)
	for i := range scores {
		scores[i] = float32(rng.NormFloat64())
	}
	for b.Loop() {
		Top(scores, n, t, 1, 100, false)
	}
}
