package backendtest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend"
)

// u is the unit roundoff of float32, 2⁻²⁴.
const u = 1.0 / (1 << 24)

// reporter is the part of *testing.T the suite uses, so that the suite's
// own tests can run it against a deliberately broken backend and inspect
// the failures.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Run(name string, f func(reporter)) bool
}

// testingT adapts *testing.T to reporter.
type testingT struct{ *testing.T }

func (t testingT) Run(name string, f func(reporter)) bool {
	return t.T.Run(name, func(t *testing.T) { f(testingT{t}) })
}

// Run checks every method of b; see the package documentation.
func Run(t *testing.T, b backend.Backend) {
	t.Logf("backend: %s", b.Name())
	run(testingT{t}, b)
}

// family is one group of methods and its checks.
type family struct {
	name string
	run  func(r reporter, b backend.Backend)
}

// families lists the suite.
func families() []family {
	return []family{
		{"Memory", testMemory},
		{"Gemm", testGemm},
		{"Elementwise", testElementwise},
		{"SumPerExample", testSumPerExample},
		{"LayerNorm", testLayerNorm},
		{"LayerNormBack", testLayerNormBack},
		{"GELU", testGELU},
		{"GELUBack", testGELUBack},
		{"Softmax", testSoftmax},
		{"SoftmaxBack", testSoftmaxBack},
		{"L2Normalize", testL2Normalize},
		{"L2NormalizeBack", testL2NormalizeBack},
		{"Heads", testHeads},
		{"Patchify", testPatchify},
		{"Tokens", testTokens},
		{"Gather", testGather},
		{"GatherBack", testGatherBack},
		{"Panics", testPanics},
		{"Projection", testProjection},
	}
}

// run runs the families whose names are in only (all when only is empty).
func run(r reporter, b backend.Backend, only ...string) {
	for _, nm := range only {
		if !slices.ContainsFunc(families(), func(f family) bool { return f.name == nm }) {
			panic("backendtest: no family " + nm)
		}
	}
	for _, f := range families() {
		if len(only) == 0 || slices.Contains(only, f.name) {
			r.Run(f.name, func(r reporter) { f.run(r, b) })
		}
	}
}

// rng returns a generator fixed by the case's name, so that a failure
// reproduces alone.
func rng(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
}

// normal returns n float32 values drawn from N(mean, sd²).
func normal(g *rand.Rand, n int, mean, sd float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + sd*g.NormFloat64())
	}
	return v
}

// filled returns n copies of x.
func filled(n int, x float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = x
	}
	return v
}

// f64 widens a float32 slice.
func f64(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// f32 rounds a float64 slice.
func f32(v []float64) []float32 {
	w := make([]float32, len(v))
	for i, x := range v {
		w[i] = float32(x)
	}
	return w
}

// prod returns the product of dims.
func prod(dims ...int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// download returns a copy of t's elements.
func download(b backend.Backend, t *backend.Tensor) []float32 {
	v := make([]float32, t.Len())
	b.Download(v, t)
	return v
}

// compare reports elements of got that differ from want by more than
// tol·scale[i] (scale nil: tol·|want[i]|). A NaN in want requires NaN,
// an infinity the same infinity; tol = 0 requires equality. It reports
// the count, the worst element (largest error over bound) and the first
// three, and returns whether all passed.
func compare(r reporter, what string, got []float32, want, scale []float64, tol float64) bool {
	r.Helper()
	if len(got) != len(want) {
		r.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return false
	}
	bad, worst, worstRatio := 0, -1, 0.0
	var first []string
	for i, g := range got {
		w, gv := want[i], float64(g)
		bound := tol * math.Abs(w)
		if scale != nil {
			bound = tol * scale[i]
		}
		var ok bool
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(gv)
		case math.IsInf(w, 0):
			ok = gv == w
		default:
			ok = math.Abs(gv-w) <= bound
		}
		if ok {
			continue
		}
		bad++
		if ratio := math.Abs(gv-w) / bound; worst < 0 || !(ratio <= worstRatio) {
			worst, worstRatio = i, ratio
		}
		if len(first) < 3 {
			first = append(first, fmt.Sprintf("[%d] = %g, want %g ± %.3g", i, gv, w, bound))
		}
	}
	if bad == 0 {
		return true
	}
	r.Errorf("%s: %d of %d values out of tolerance; worst [%d] = %g, want %g (error %.3g times the bound); first %s",
		what, bad, len(got), worst, got[worst], want[worst], worstRatio, strings.Join(first, "; "))
	return false
}

// exact reports elements of got that are not exactly want (NaN matching
// NaN).
func exact(r reporter, what string, got []float32, want []float64) bool {
	r.Helper()
	return compare(r, what, got, want, nil, 0)
}

// expectPanic runs f and reports unless it panics with a message that
// starts "backend: " and contains op.
func expectPanic(r reporter, op, what string, f func()) {
	r.Helper()
	msg, panicked := catch(f)
	switch {
	case !panicked:
		r.Errorf("%s: no panic", what)
	case !strings.HasPrefix(msg, "backend: ") || !strings.Contains(msg, op):
		r.Errorf("%s: panic %q does not start with \"backend: \" and name %s", what, msg, op)
	}
}

// catch runs f and returns the panic value's text, if it panicked.
func catch(f func()) (msg string, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			msg, panicked = fmt.Sprint(v), true
		}
	}()
	f()
	return "", false
}
