package featurize

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/store"
)

// fakeExamples has a closed-form gradient per row and a set of rows that
// are bad examples.
type fakeExamples struct {
	n   int
	p   int64
	bad map[int]bool
}

func (f *fakeExamples) Len() int         { return f.n }
func (f *fakeExamples) NumParams() int64 { return f.p }
func (f *fakeExamples) Gradients(ctx context.Context, idx []int, sink GradSink, q []float32) error {
	var be BadExamplesError
	for _, i := range idx {
		if f.bad[i] {
			be.Rows = append(be.Rows, i)
			be.Reasons = append(be.Reasons, errors.New("unreadable image"))
		}
	}
	if len(be.Rows) > 0 {
		return &be
	}
	g := make([]float32, len(idx)*int(f.p))
	for b, i := range idx {
		for j := range int(f.p) {
			g[b*int(f.p)+j] = float32(math.Sin(float64(i*31 + j)))
		}
		q[b] = float32(i) / 100
	}
	sink.Add(0, int(f.p), g, int(f.p))
	return ctx.Err()
}

func newRows(t *testing.T, n, k int) (*store.Store, *store.Rows) {
	t.Helper()
	st, err := store.Create(t.TempDir(), store.Metadata{Task: "fake", TrainSize: n, K: k, Projector: "rademacher", FeaturesDType: "float32"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddModel(0, "ckpt", "sha"); err != nil {
		t.Fatal(err)
	}
	rows, err := st.TrainRows(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rows.Close() })
	return st, rows
}

// TestSkipBadExamples: with the skip policy, bad rows keep their index,
// are flagged and reported, have zero features and Q, and every other row
// is bit-identical to a run without bad examples.
func TestSkipBadExamples(t *testing.T) {
	const n, k, p = 23, 16, 40
	proj, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, NumParams: p}, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, clean := newRows(t, n, k)
	if _, err := Run(context.Background(), &fakeExamples{n: n, p: p}, clean, Options{Projector: proj, BatchSize: 5}); err != nil {
		t.Fatal(err)
	}
	st, rows := newRows(t, n, k)
	bad := map[int]bool{0: true, 6: true, 7: true, 22: true}
	res, err := Run(context.Background(), &fakeExamples{n: n, p: p, bad: bad}, rows, Options{Projector: proj, BatchSize: 5, OnBad: SkipBad})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 4 || res.Computed != n-4 || res.Remaining != 0 {
		t.Errorf("result %+v, want 4 skipped, %d computed, 0 remaining", res, n-4)
	}
	a, b := make([]float64, k), make([]float64, k)
	qClean, qRows := clean.Q(), rows.Q()
	for i := range n {
		clean.Row(i, a)
		rows.Row(i, b)
		for j := range k {
			want := a[j]
			if bad[i] {
				want = 0
			}
			if b[j] != want {
				t.Fatalf("row %d feature %d = %g, want %g", i, j, b[j], want)
			}
		}
		if rows.Skipped(i) != bad[i] || !rows.Done(i) {
			t.Errorf("row %d: skipped %v, done %v", i, rows.Skipped(i), rows.Done(i))
		}
		if wantQ := qClean[i]; !bad[i] && qRows[i] != wantQ || bad[i] && qRows[i] != 0 {
			t.Errorf("row %d: Q %g", i, qRows[i])
		}
	}
	report, err := os.ReadFile(filepath.Join(st.ModelDir(0), "skipped.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\tunreadable image\n6\tunreadable image\n7\tunreadable image\n22\tunreadable image\n"; string(report) != want {
		t.Errorf("report %q, want %q", report, want)
	}
}

// TestFailOnBadExample: the default policy stops with an error naming the
// row and the way to skip, keeping the batches finished before it.
func TestFailOnBadExample(t *testing.T) {
	const n, k, p = 20, 8, 10
	proj, _ := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, NumParams: p}, 1)
	_, rows := newRows(t, n, k)
	res, err := Run(context.Background(), &fakeExamples{n: n, p: p, bad: map[int]bool{12: true}}, rows, Options{Projector: proj, BatchSize: 5})
	if err == nil || !strings.Contains(err.Error(), "row 12: unreadable image") || !strings.Contains(err.Error(), "on_bad_example: skip") {
		t.Fatalf("err = %v", err)
	}
	if res.Computed != 10 || len(rows.Pending(0, n)) != 10 || !rows.Done(9) || rows.Done(12) {
		t.Errorf("computed %d, pending %v: the two batches before the bad one must be kept", res.Computed, rows.Pending(0, n))
	}
}
