package featurize

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/trak-dev/trak/internal/projection"
)

// nanExamples is fakeExamples whose gradient (or Q) of one row is not
// finite.
type nanExamples struct {
	fakeExamples
	row   int
	value float32
	inQ   bool
}

func (f *nanExamples) Gradients(ctx context.Context, idx []int, sink GradSink, q []float32) error {
	g := make([]float32, len(idx)*int(f.p))
	for b, i := range idx {
		for j := range int(f.p) {
			g[b*int(f.p)+j] = float32(math.Sin(float64(i*31 + j)))
		}
		q[b] = float32(i) / 100
		if i == f.row {
			if f.inQ {
				q[b] = f.value
			} else {
				g[b*int(f.p)+3] = f.value
			}
		}
	}
	sink.Add(0, int(f.p), g, int(f.p))
	return ctx.Err()
}

// TestNonFiniteRow: a row whose features or Q are NaN or infinite stops
// the run with an error naming it, under either bad-example policy, and is
// not marked done; the batches before it are kept.
func TestNonFiniteRow(t *testing.T) {
	const n, k, p = 20, 8, 10
	proj, _ := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, NumParams: p}, 1)
	for _, c := range []struct {
		name  string
		value float32
		inQ   bool
		what  string
	}{
		{"NaN gradient", float32(math.NaN()), false, "features"},
		{"infinite gradient", float32(math.Inf(1)), false, "features"},
		{"NaN Q", float32(math.NaN()), true, "Q"},
		{"infinite Q", float32(math.Inf(-1)), true, "Q"},
	} {
		for _, policy := range []OnBadExample{FailOnBad, SkipBad} {
			_, rows := newRows(t, n, k)
			ex := &nanExamples{fakeExamples: fakeExamples{n: n, p: p}, row: 12, value: c.value, inQ: c.inQ}
			res, err := Run(context.Background(), ex, rows, Options{Projector: proj, BatchSize: 5, OnBad: policy})
			var nf *NonFiniteError
			if !errors.As(err, &nf) || nf.Row != 12 || nf.What != c.what {
				t.Errorf("%s, %s: err = %v", c.name, policy, err)
				continue
			}
			if res.Computed != 10 || rows.Done(12) || rows.Done(10) || !rows.Done(9) {
				t.Errorf("%s, %s: computed %d, pending %v", c.name, policy, res.Computed, rows.Pending(0, n))
			}
		}
	}
}
