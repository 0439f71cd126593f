package score

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/store"
)

// Ranked is one train row picked by Top and its score.
type Ranked struct {
	Row   int
	Score float64
}

// Top returns the k train rows that rank first for target column target of
// scores, a row-major n × t score matrix (as written by Scores), best first.
//
// Rows rank by decreasing score ("proponents"), or by increasing score when
// opponents is true; equal scores rank by increasing row index, and a NaN
// ranks after every number, NaNs by increasing row index. When k ≥ n all n
// rows come back, ranked. It runs in O(n log k) time and O(k) memory.
//
// Top panics if len(scores) ≠ n·t, if target is not in [0, t) or if k < 0:
// callers check user input against the matrix first.
func Top(scores []float32, n, t, target, k int, opponents bool) []Ranked {
	if n < 0 || t < 0 || len(scores) != n*t {
		panic(fmt.Sprintf("score: %d scores for a %d×%d matrix", len(scores), n, t))
	}
	if target < 0 || target >= t {
		panic(fmt.Sprintf("score: target %d outside [0, %d)", target, t))
	}
	if k < 0 {
		panic(fmt.Sprintf("score: negative count %d", k))
	}
	k = min(k, n)
	before := func(a, b Ranked) bool {
		an, bn := math.IsNaN(a.Score), math.IsNaN(b.Score)
		switch {
		case an != bn:
			return bn
		case !an && a.Score != b.Score:
			return (a.Score > b.Score) != opponents
		}
		return a.Row < b.Row
	}

	// h is a heap whose root ranks last of the k best seen so far, so a new
	// row only has to beat the root.
	h := make([]Ranked, 0, k)
	for i := 0; i < n && k > 0; i++ {
		r := Ranked{Row: i, Score: float64(scores[i*t+target])}
		if len(h) < k {
			h = append(h, r)
			for c := len(h) - 1; c > 0; {
				p := (c - 1) / 2
				if !before(h[p], h[c]) {
					break
				}
				h[p], h[c] = h[c], h[p]
				c = p
			}
			continue
		}
		if !before(r, h[0]) {
			continue
		}
		h[0] = r
		for p := 0; ; {
			worst, l := p, 2*p+1
			if l < k && before(h[worst], h[l]) {
				worst = l
			}
			if l+1 < k && before(h[worst], h[l+1]) {
				worst = l + 1
			}
			if worst == p {
				break
			}
			h[p], h[worst] = h[worst], h[p]
			p = worst
		}
	}
	slices.SortFunc(h, func(a, b Ranked) int {
		switch {
		case a.Row == b.Row:
			return 0
		case before(a, b):
			return -1
		}
		return 1
	})
	return h
}

// OpenScores maps scores/<name>.npy of experiment exp read-only, checked to
// be the float32 train × target matrix score writes and to hold only
// finite numbers (a NaN or infinity, which score never writes, would rank
// and correlate arbitrarily). Every error names the file and the fix.
func OpenScores(st *store.Store, name string, exp store.Experiment) (*npy.File, error) {
	f, err := npy.Open(st.ScoresPath(name), npy.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("%w: run `trak score --exp %s` again", err, name)
	}
	h := f.Header()
	if h.DType != npy.Float32 || len(h.Shape) != 2 || h.Shape[0] != st.Meta.TrainSize || h.Shape[1] != exp.NumTargets {
		f.Close()
		return nil, fmt.Errorf("%s: want a float32 %d × %d matrix, found %s %v: run `trak score --exp %s` again", f.Path(), st.Meta.TrainSize, exp.NumTargets, h.DType, h.Shape, name)
	}
	var nf *NonFiniteError
	if err := CheckFinite32(f.Float32s(), exp.NumTargets); errors.As(err, &nf) {
		f.Close()
		return nil, fmt.Errorf("%s row %d (train example %d), column %d (target %d) holds %g, not a finite number: the file is damaged; run `trak score --exp %s` again",
			f.Path(), nf.Row, nf.Row, nf.Col, nf.Col, nf.Value, name)
	}
	return f, nil
}
