package score

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// bruteScores evaluates the score formula term by term.
func bruteScores(ks, gs []*Dense, qs [][]float64) *Dense {
	m := len(ks)
	n, t := ks[0].Rows, gs[0].Rows
	s := NewDense(n, t)
	for i := range n {
		var q float64
		for c := range m {
			q += qs[c][i]
		}
		q /= float64(m)
		for tt := range t {
			var kg float64
			for c := range m {
				for j := range ks[c].Cols {
					kg += ks[c].At(i, j) * gs[c].At(tt, j)
				}
			}
			s.Data[i*t+tt] = kg / float64(m) * q
		}
	}
	return s
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.Float64()
	}
	return v
}

func TestScoresMatchesBruteForce(t *testing.T) {
	// Both sides sum the same ≤ M·k = 21 products of O(1) numbers in a
	// different order; the difference is ≲ 21·ε times the sum of their
	// magnitudes, itself within a factor ~10 of the largest score.
	const tol = 1e-13
	const n = 11
	rng := rand.New(rand.NewPCG(1, 1))
	for _, m := range []int{1, 2, 3} {
		for _, t1 := range []int{1, 5} {
			for _, block := range []int{0, 1, 4, n} {
				t.Run(fmt.Sprintf("M=%d/T=%d/block=%d", m, t1, block), func(t *testing.T) {
					var ks, gs []*Dense
					var km, gm []Matrix
					var qs [][]float64
					for c := range m {
						k := 7 - 2*c // feature dimensions may differ between checkpoints
						ks = append(ks, randDense(rng, n, k))
						gs = append(gs, randDense(rng, t1, k))
						km, gm = append(km, ks[c]), append(gm, gs[c])
						qs = append(qs, randVec(rng, n))
					}
					got := NewDense(n, t1)
					var calls int
					err := ScoresWithOptions(km, gm, qs, got, ScoreOptions{
						BlockRows: block,
						Progress:  func(done, total int) { calls++ },
					})
					if err != nil {
						t.Fatal(err)
					}
					if e := relErr(got, toMat(bruteScores(ks, gs, qs))); e > tol {
						t.Errorf("relative error %.3g > %.3g", e, tol)
					}
					nb := 1
					if block > 0 {
						nb = (n + block - 1) / block
					}
					if want := 1 + m + m*nb; calls != want {
						t.Errorf("%d progress calls, want %d", calls, want)
					}
				})
			}
		}
	}
}

func TestScoresDefaultOptions(t *testing.T) {
	// As in TestScoresMatchesBruteForce.
	const tol = 1e-13
	rng := rand.New(rand.NewPCG(1, 1))
	k, g := randDense(rng, 9, 4), randDense(rng, 3, 4)
	q := randVec(rng, 9)
	got := NewDense(9, 3)
	if err := Scores([]Matrix{k}, []Matrix{g}, [][]float64{q}, got); err != nil {
		t.Fatal(err)
	}
	if e := relErr(got, toMat(bruteScores([]*Dense{k}, []*Dense{g}, [][]float64{q}))); e > tol {
		t.Errorf("relative error %.3g > %.3g", e, tol)
	}
}

func TestScoresErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	k := func(n, c int) Matrix { return randDense(rng, n, c) }
	q := func(n int) []float64 { return randVec(rng, n) }
	ioErr := errors.New("disk full")
	cases := []struct {
		name   string
		ks, gs []Matrix
		qs     [][]float64
		out    RowWriter
		want   []string
	}{
		{name: "no checkpoints", want: []string{"no checkpoints"}},
		{name: "missing G", ks: []Matrix{k(5, 3), k(5, 3)}, gs: []Matrix{k(2, 3)}, qs: [][]float64{q(5), q(5)},
			want: []string{"2 K matrices, 1 target", "2 out-to-loss"}},
		{name: "missing Q", ks: []Matrix{k(5, 3)}, gs: []Matrix{k(2, 3)}, qs: nil,
			want: []string{"1 K matrices", "0 out-to-loss"}},
		{name: "train sets differ", ks: []Matrix{k(5, 3), k(6, 3)}, gs: []Matrix{k(2, 3), k(2, 3)}, qs: [][]float64{q(5), q(6)},
			want: []string{"checkpoint 1", "K has 6 rows", "has 5"}},
		{name: "target sets differ", ks: []Matrix{k(5, 3), k(5, 3)}, gs: []Matrix{k(2, 3), k(4, 3)}, qs: [][]float64{q(5), q(5)},
			want: []string{"checkpoint 1", "G has 4 rows", "has 2"}},
		{name: "feature dimensions differ", ks: []Matrix{k(5, 3), k(5, 4)}, gs: []Matrix{k(2, 3), k(2, 3)}, qs: [][]float64{q(5), q(5)},
			want: []string{"checkpoint 1", "K is 5×4 but G is 2×3"}},
		{name: "Q length", ks: []Matrix{k(5, 3)}, gs: []Matrix{k(2, 3)}, qs: [][]float64{q(4)},
			want: []string{"checkpoint 0", "Q has 4 entries", "5 rows"}},
		{name: "no train rows", ks: []Matrix{k(0, 3)}, gs: []Matrix{k(2, 3)}, qs: [][]float64{q(0)},
			want: []string{"no rows"}},
		{name: "no targets", ks: []Matrix{k(5, 3)}, gs: []Matrix{k(0, 3)}, qs: [][]float64{q(5)},
			want: []string{"no targets"}},
		{name: "no features", ks: []Matrix{k(5, 0)}, gs: []Matrix{k(2, 0)}, qs: [][]float64{q(5)},
			want: []string{"no columns"}},
		{name: "write error", ks: []Matrix{k(5, 3)}, gs: []Matrix{k(2, 3)}, qs: [][]float64{q(5)},
			out: errWriter{bad: 3, err: ioErr}, want: []string{"row 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w countWriter
			out := c.out
			if out == nil {
				out = &w
			}
			err := Scores(c.ks, c.gs, c.qs, out)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if w.n != 0 {
				t.Errorf("%d rows written before a validation error", w.n)
			}
			if c.out != nil && !errors.Is(err, ioErr) {
				t.Errorf("error %q does not wrap %q", err, ioErr)
			}
		})
	}
}

// TestScoresRejectNonFinite: a NaN or infinity in K, G or Q is an error
// naming the matrix, checkpoint, row and column, before any row that it
// would enter is written.
func TestScoresRejectNonFinite(t *testing.T) {
	for _, c := range []struct {
		matrix   string
		row, col int
		v        float64
	}{
		{"K", 4, 1, math.NaN()},
		{"G", 2, 0, math.Inf(1)},
		{"Q", 5, 0, math.Inf(-1)},
	} {
		t.Run(c.matrix, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 1))
			ks := []Matrix{randDense(rng, 6, 3), randDense(rng, 6, 3)}
			gs := []Matrix{randDense(rng, 4, 3), randDense(rng, 4, 3)}
			qs := [][]float64{randVec(rng, 6), randVec(rng, 6)}
			switch c.matrix {
			case "K":
				ks[1].(*Dense).Data[c.row*3+c.col] = c.v
			case "G":
				gs[1].(*Dense).Data[c.row*3+c.col] = c.v
			case "Q":
				qs[1][c.row] = c.v
			}
			got := NewDense(6, 4)
			err := ScoresWithOptions(ks, gs, qs, got, ScoreOptions{BlockRows: 2})
			var nf *NonFiniteError
			if !errors.As(err, &nf) || nf.Matrix != c.matrix || nf.Checkpoint != 1 || nf.Row != c.row || nf.Col != c.col {
				t.Fatalf("err = %#v, want a NonFiniteError for %s[%d, %d] of checkpoint 1", err, c.matrix, c.row, c.col)
			}
			for i := c.row; i < 6 && c.matrix == "K"; i++ {
				for j := range 4 {
					if got.At(i, j) != 0 {
						t.Fatalf("row %d was written", i)
					}
				}
			}
		})
	}
	if err := CheckFinite32([]float32{1, 2, 3, float32(math.NaN())}, 2); err == nil || err.Error() != "score[1, 1] is NaN" {
		t.Errorf("CheckFinite32: %v", err)
	}
	if err := CheckFinite32([]float32{1, 2}, 2); err != nil {
		t.Errorf("CheckFinite32 of finite values: %v", err)
	}
}

func BenchmarkScores(b *testing.B) {
	const n, t, k, m = 20000, 100, 512, 3
	rng := rand.New(rand.NewPCG(1, 1))
	var ks, gs []Matrix
	var qs [][]float64
	for range m {
		ks = append(ks, randDense(rng, n, k))
		gs = append(gs, randDense(rng, t, k))
		qs = append(qs, randVec(rng, n))
	}
	for b.Loop() {
		if err := Scores(ks, gs, qs, discard{}); err != nil {
			b.Fatal(err)
		}
	}
}
