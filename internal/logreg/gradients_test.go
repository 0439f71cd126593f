package logreg

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/testutil"
)

const (
	// paramStep is the central-difference step for f in one parameter, as
	// fdStep for the logits: with |x| ≲ 5 the logit moves by ≲ 5h, keeping
	// the truncation error ≲ 1e-10 and the rounding error ≈ ulp(f)/h ≲ 1e-9.
	paramStep = 1e-6
	// gradRelTol: Gradients returns float32, so each entry carries a
	// relative rounding error of up to 2⁻²⁴ ≈ 6e-8 against the float64
	// finite difference; 1e-6 leaves 16× headroom for that (the observed
	// worst case on this model is ~5% of the combined tolerance).
	gradRelTol = 1e-6
	// gradAbsTol absorbs the finite difference's own absolute error
	// (≲ 1e-9, see paramStep) on entries near zero, where the relative
	// bound is vacuous.
	gradAbsTol = 1e-8
	// qRelTol: Q is delivered as float32, so it is within 2⁻²⁴ relative of
	// the float64 reference; 2⁻²³ allows for the reference's own ulps.
	qRelTol = 0x1p-23
)

// recordingSink is a featurize.GradSink that keeps a copy of every block.
type recordingSink struct {
	t      *testing.T
	rows   int // the batch size the caller announced
	blocks []recordedBlock
}

type recordedBlock struct {
	offset int64
	n      int
	stride int
	g      [][]float32 // g[b] holds example b's gradient for [offset, offset+n)
}

var _ featurize.GradSink = (*recordingSink)(nil)

func (s *recordingSink) Add(offset int64, n int, g []float32, stride int) {
	s.t.Helper()
	if n <= 0 || stride < n {
		s.t.Errorf("Add(offset=%d, n=%d, stride=%d): want n ≥ 1 and stride ≥ n", offset, n, stride)
		return
	}
	if need := (s.rows-1)*stride + n; s.rows > 0 && len(g) < need {
		s.t.Errorf("Add(offset=%d, n=%d, stride=%d): len(g) = %d, %d rows need %d", offset, n, stride, len(g), s.rows, need)
		return
	}
	blk := recordedBlock{offset: offset, n: n, stride: stride, g: make([][]float32, s.rows)}
	for b := range s.rows {
		blk.g[b] = slices.Clone(g[b*stride : b*stride+n])
	}
	s.blocks = append(s.blocks, blk)
}

// assemble checks that the blocks arrived in ascending, contiguous order
// covering [0, p) exactly, and returns each example's full gradient.
func (s *recordingSink) assemble(p int64) [][]float32 {
	s.t.Helper()
	out := make([][]float32, s.rows)
	for b := range out {
		out[b] = make([]float32, p)
		for k := range out[b] {
			out[b][k] = float32(math.NaN()) // any parameter no block covers stays NaN
		}
	}
	var next int64
	for k, blk := range s.blocks {
		if blk.offset != next {
			s.t.Fatalf("block %d covers [%d, %d), want it to start at %d (blocks must be ascending and contiguous)", k, blk.offset, blk.offset+int64(blk.n), next)
		}
		if end := blk.offset + int64(blk.n); end > p {
			s.t.Fatalf("block %d covers [%d, %d), past the %d parameters", k, blk.offset, end, p)
		}
		for b := range s.rows {
			copy(out[b][blk.offset:], blk.g[b])
		}
		next += int64(blk.n)
	}
	if next != p {
		s.t.Fatalf("blocks cover [0, %d), want [0, %d)", next, p)
	}
	return out
}

// gradients runs Gradients for idx and returns the per-example gradients and Q.
func gradients(t *testing.T, ex featurize.Examples, idx []int) ([][]float32, []float32) {
	t.Helper()
	sink := &recordingSink{t: t, rows: len(idx)}
	q := make([]float32, len(idx))
	for i := range q {
		q[i] = float32(math.NaN())
	}
	if err := ex.Gradients(context.Background(), idx, sink, q); err != nil {
		t.Fatalf("Gradients(%v): %v", idx, err)
	}
	return sink.assemble(ex.NumParams()), q
}

// exampleF is f for example i of d under m, computed in float64.
func exampleF(m *Model, d *Data, i int) float64 {
	z := make([]float64, m.C)
	m.Logits(d.Row(i), z)
	f, _ := OutputGrad(z, d.Y[i], make([]float64, m.C))
	return f
}

// param returns a pointer to parameter k in the documented flat order: W
// row-major, then b.
func param(m *Model, k int) *float64 {
	if k < len(m.W) {
		return &m.W[k]
	}
	return &m.B[k-len(m.W)]
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	const c, d, n = 3, 4, 6
	rng := newRand(3)
	m := randomModel(rng, c, d, 1)
	data := randomData(rng, n, d, c, 1.5)
	ex, err := m.Examples(data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ex.NumParams(), int64(c*d+c); got != want {
		t.Fatalf("NumParams() = %d, want C·D + C = %d", got, want)
	}
	if ex.Len() != n {
		t.Fatalf("Len() = %d, want %d", ex.Len(), n)
	}
	idx := []int{0, 1, 2, 3, 4, 5}
	g, q := gradients(t, ex, idx)

	for b, i := range idx {
		for k := range int(m.NumParams()) {
			p := param(m, k)
			orig := *p
			up, down := orig+paramStep, orig-paramStep
			*p = up
			fp := exampleF(m, data, i)
			*p = down
			fm := exampleF(m, data, i)
			*p = orig
			fd := (fp - fm) / (up - down)
			got := float64(g[b][k])
			if tol := gradRelTol*math.Abs(fd) + gradAbsTol; math.Abs(got-fd) > tol {
				what := fmt.Sprintf("W[%d,%d]", k/d, k%d)
				if k >= c*d {
					what = fmt.Sprintf("b[%d]", k-c*d)
				}
				t.Errorf("example %d, ∂f/∂%s = %.9g, central difference %.9g (tolerance %.3g)", i, what, got, fd, tol)
			}
		}

		z := make([]float64, c)
		m.Logits(data.Row(i), z)
		want := refQ(z, data.Y[i])
		if got := float64(q[b]); math.Abs(got-want) > qRelTol*want {
			t.Errorf("example %d: Q = %.9g, want 1 − p_y = %.9g", i, got, want)
		}
	}
}

// The gradient of f in b is ∂f/∂z, and in W it is the outer product
// (∂f/∂z) xᵀ: check this structure on top of the finite differences, exactly
// in float32, so that a transposed or mis-strided W block cannot hide
// behind tolerances.
func TestGradientsLayout(t *testing.T) {
	const c, d, n = 4, 3, 5
	rng := newRand(4)
	m := randomModel(rng, c, d, 1)
	data := randomData(rng, n, d, c, 1)
	ex, err := m.Examples(data)
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{4, 0, 2, 2, 1}
	g, q := gradients(t, ex, idx)
	z := make([]float64, c)
	dz := make([]float64, c)
	for b, i := range idx {
		m.Logits(data.Row(i), z)
		_, qi := OutputGrad(z, data.Y[i], dz)
		if q[b] != float32(qi) {
			t.Errorf("row %d (example %d): Q = %v, want float32(%v)", b, i, q[b], qi)
		}
		for cl := range c {
			for j, x := range data.Row(i) {
				if got, want := g[b][cl*d+j], float32(dz[cl]*x); got != want {
					t.Errorf("row %d (example %d): gradient of W[%d,%d] = %v, want ∂f/∂z_%d · x_%d = %v", b, i, cl, j, got, cl, j, want)
				}
			}
			if got, want := g[b][c*d+cl], float32(dz[cl]); got != want {
				t.Errorf("row %d (example %d): gradient of b[%d] = %v, want ∂f/∂z_%d = %v", b, i, cl, got, cl, want)
			}
		}
	}
}

// Each example's gradient and Q depend only on the example, never on the
// batch around it or its position in it (the featurize driver relies on this
// for resumability and batch-size independence).
func TestGradientsIndependentOfBatch(t *testing.T) {
	const c, d, n = 3, 5, 12
	rng := newRand(5)
	m := randomModel(rng, c, d, 1)
	data := randomData(rng, n, d, c, 2)
	ex, err := m.Examples(data)
	if err != nil {
		t.Fatal(err)
	}
	single := make([][]float32, n)
	singleQ := make([]float32, n)
	for i := range n {
		g, q := gradients(t, ex, []int{i})
		single[i], singleQ[i] = g[0], q[0]
	}
	check := func(idx []int) {
		t.Helper()
		g, q := gradients(t, ex, idx)
		for b, i := range idx {
			if !sameBits32(g[b], single[i]) || math.Float32bits(q[b]) != math.Float32bits(singleQ[i]) {
				t.Errorf("batch %v, row %d: example %d differs from its single-example result", idx, b, i)
			}
		}
	}
	for i := range n {
		j, k := (i+5)%n, (i+7)%n
		check([]int{j, i, k})
		check([]int{i, i})
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	check(all)
	slices.Reverse(all)
	check(all)
	rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
	check(all)
}

// An example whose logits are in the hundreds still yields finite
// gradients and a Q in [0, 1].
func TestGradientsExtremeLogitsFinite(t *testing.T) {
	m := &Model{C: 3, D: 2, W: []float64{300, -300, 0, 0, -300, 300}, B: []float64{0, 1, 0}}
	data := &Data{N: 4, D: 2, X: []float64{2, -2, -2, 2, 1.5, 1.5, 0, 0}, Y: []int{0, 0, 2, 1}}
	ex, err := m.Examples(data)
	if err != nil {
		t.Fatal(err)
	}
	g, q := gradients(t, ex, []int{0, 1, 2, 3})
	for b := range g {
		for k, v := range g[b] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Errorf("example %d, parameter %d: gradient %v", b, k, v)
			}
		}
		if !(q[b] >= 0 && q[b] <= 1) {
			t.Errorf("example %d: Q = %v", b, q[b])
		}
	}
	// Example 0 has z = (1200, 1, −1200) and y = 0: the model is sure and
	// right, Q underflows to 0. Example 1 has z = (−1200, 1, 1200) and y = 0:
	// sure and wrong, Q = 1.
	if q[0] != 0 || q[1] != 1 {
		t.Errorf("Q = %v, %v; want 0 and 1", q[0], q[1])
	}
}

func TestGradientsCancelled(t *testing.T) {
	rng := newRand(6)
	m := randomModel(rng, 3, 2, 1)
	ex, err := m.Examples(randomData(rng, 4, 2, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sink := &recordingSink{t: t, rows: 2}
	if err := ex.Gradients(ctx, []int{0, 1}, sink, make([]float32, 2)); !errors.Is(err, context.Canceled) {
		t.Errorf("Gradients with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestExamplesValidation(t *testing.T) {
	m := &Model{C: 3, D: 2, W: make([]float64, 6), B: make([]float64, 3)}
	tests := []struct {
		name string
		data *Data
		want []string // substrings of the error; nil for success
	}{
		{"ok", &Data{N: 3, D: 2, X: make([]float64, 6), Y: []int{0, 2, 1}}, nil},
		{"label equals C", &Data{N: 3, D: 2, X: make([]float64, 6), Y: []int{0, 1, 3}}, []string{"row 2", "label 3", "3 classes"}},
		{"label far above C", &Data{N: 2, D: 2, X: make([]float64, 4), Y: []int{7, 0}}, []string{"row 0", "label 7"}},
		{"negative label", &Data{N: 2, D: 2, X: make([]float64, 4), Y: []int{0, -1}}, []string{"row 1", "label -1"}},
		{"fewer features", &Data{N: 1, D: 1, X: make([]float64, 1), Y: []int{0}}, []string{"1 features", "expects 2"}},
		{"more features", &Data{N: 1, D: 5, X: make([]float64, 5), Y: []int{0}}, []string{"5 features", "expects 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := m.Examples(tc.data)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if ex.Len() != tc.data.N {
					t.Errorf("Len() = %d, want %d", ex.Len(), tc.data.N)
				}
				return
			}
			testutil.WantErr(t, err, tc.want...)
		})
	}
}

func TestLogits(t *testing.T) {
	m := &Model{C: 2, D: 3, W: []float64{1, 2, 3, -1, 0.5, 0}, B: []float64{0.25, -4}}
	z := make([]float64, 2)
	m.Logits([]float64{1, -1, 2}, z)
	// z_0 = 1 − 2 + 6 + 0.25, z_1 = −1 − 0.5 + 0 − 4, all exact in float64.
	if want := []float64{5.25, -5.5}; !sameBits(z, want) {
		t.Errorf("Logits = %v, want %v", z, want)
	}
}

func TestConfigHash(t *testing.T) {
	a := &Model{C: 3, D: 4, W: make([]float64, 12), B: make([]float64, 3)}
	b := randomModel(newRand(7), 3, 4, 1)
	if a.ConfigHash() != b.ConfigHash() {
		t.Error("ConfigHash depends on the weights, want only the architecture")
	}
	if len(a.ConfigHash()) != 64 {
		t.Errorf("ConfigHash = %q, want 64 hex digits", a.ConfigHash())
	}
	seen := map[string]string{}
	for _, s := range [][2]int{{3, 4}, {4, 3}, {2, 4}, {3, 5}, {34, 1}, {3, 41}} {
		h := (&Model{C: s[0], D: s[1]}).ConfigHash()
		key := fmt.Sprint(s)
		if prev, ok := seen[h]; ok {
			t.Errorf("C×D %s and %s share ConfigHash %s", prev, key, h)
		}
		seen[h] = key
	}
}
