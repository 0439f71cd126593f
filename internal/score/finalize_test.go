package score

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/store"
	"gonum.org/v1/gonum/mat"
)

// randDense returns an n × k matrix of standard normal entries.
func randDense(rng *rand.Rand, n, k int) *Dense {
	x := NewDense(n, k)
	for i := range x.Data {
		x.Data[i] = rng.NormFloat64()
	}
	return x
}

func toMat(x *Dense) *mat.Dense { return mat.NewDense(x.Rows, x.Cols, x.Data) }

// gramSystem returns XᵀX + λI (primal) or XXᵀ + λI (dual) as a mat.Dense.
func gramSystem(x *Dense, lambda float64, form Form) *mat.Dense {
	xm := toMat(x)
	var a mat.Dense
	if form == Primal {
		a.Mul(xm.T(), xm)
	} else {
		a.Mul(xm, xm.T())
	}
	n, _ := a.Dims()
	for i := range n {
		a.Set(i, i, a.At(i, i)+lambda)
	}
	return &a
}

// bruteK computes K by the textbook formula of the given form with an
// explicit inverse: X (XᵀX + λI)⁻¹ or (XXᵀ + λI)⁻¹ X.
func bruteK(t *testing.T, x *Dense, lambda float64, form Form) (*mat.Dense, float64) {
	t.Helper()
	a := gramSystem(x, lambda, form)
	cond := mat.Cond(a, 2)
	var inv, k mat.Dense
	if err := inv.Inverse(a); err != nil {
		t.Fatalf("reference inverse (%s, κ = %.3g): %v", form, cond, err)
	}
	if form == Primal {
		k.Mul(toMat(x), &inv)
	} else {
		k.Mul(&inv, toMat(x))
	}
	return &k, cond
}

// relErr returns max |got − want| / max |want|.
func relErr(got *Dense, want mat.Matrix) float64 {
	var diff, scale float64
	for i := range got.Rows {
		for j := range got.Cols {
			w := want.At(i, j)
			diff = max(diff, math.Abs(got.At(i, j)-w))
			scale = max(scale, math.Abs(w))
		}
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// rowWriter hides Dense's SetBlock, so the dual form must buffer K.
type rowWriter struct{ d *Dense }

func (w rowWriter) SetRow(i int, src []float64) error { return w.d.SetRow(i, src) }

func TestFinalizeMatchesBruteForce(t *testing.T) {
	// The relative error of both Finalize and the explicit-inverse reference
	// is bounded by about n·ε·κ (n ≤ 300 here, so ≈ 7e-14·κ); tol is that
	// bound per unit of the system's 2-norm condition number κ, with margin.
	const tol = 1e-13
	const block = 16
	type tc struct {
		n, k       int
		form       Form // 0: automatic
		blockRows  int
		blockCols  int
		rowsOnly   bool // out is a plain RowWriter
		wantForm   Form
		lambdaZero bool // also run with λ = 0 (system non-singular)
	}
	cases := map[string]tc{
		// Primal: N on both sides of the row block, and several blocks.
		"primal N=block-1":  {n: block - 1, k: 6, blockRows: block, wantForm: Primal, lambdaZero: true},
		"primal N=block":    {n: block, k: 6, blockRows: block, wantForm: Primal, lambdaZero: true},
		"primal N=block+1":  {n: block + 1, k: 6, blockRows: block, wantForm: Primal, lambdaZero: true},
		"primal N=3block+1": {n: 3*block + 1, k: 9, blockRows: block, wantForm: Primal, lambdaZero: true},
		"primal default":    {n: 300, k: 40, wantForm: Primal, lambdaZero: true},
		// Dual: k on both sides of the column block, and several blocks.
		"dual k=block-1":  {n: 6, k: block - 1, blockCols: block, wantForm: Dual, lambdaZero: true},
		"dual k=block":    {n: 6, k: block, blockCols: block, wantForm: Dual, lambdaZero: true},
		"dual k=block+1":  {n: 6, k: block + 1, blockCols: block, wantForm: Dual, lambdaZero: true},
		"dual k=3block+1": {n: 9, k: 3*block + 1, blockCols: block, wantForm: Dual, lambdaZero: true},
		"dual default":    {n: 40, k: 300, wantForm: Dual, lambdaZero: true},
		"dual row writer": {n: 7, k: 3*block + 1, blockCols: block, rowsOnly: true, wantForm: Dual, lambdaZero: true},
		// Around N = k, where the automatic choice switches.
		"k=N-1": {n: 24, k: 23, blockRows: 7, blockCols: 7, wantForm: Primal, lambdaZero: true},
		"k=N":   {n: 24, k: 24, blockRows: 7, blockCols: 7, wantForm: Primal, lambdaZero: true},
		"k=N+1": {n: 24, k: 25, blockRows: 7, blockCols: 7, wantForm: Dual, lambdaZero: true},
		// The forms forced against their grain: only λ > 0 is non-singular.
		"primal forced k>N": {n: 10, k: 25, form: Primal, blockRows: 4, wantForm: Primal},
		"dual forced k<N":   {n: 25, k: 10, form: Dual, blockCols: 4, wantForm: Dual},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for name, c := range cases {
		x := randDense(rng, c.n, c.k)
		for _, lambda := range []float64{0, 0.5, 20} {
			if lambda == 0 && !c.lambdaZero {
				continue
			}
			t.Run(fmt.Sprintf("%s/lambda=%g", name, lambda), func(t *testing.T) {
				got := NewDense(c.n, c.k)
				var out RowWriter = got
				if c.rowsOnly {
					out = rowWriter{got}
				}
				form, _, err := Finalize(x, out, FinalizeOptions{
					Lambda: lambda, BlockRows: c.blockRows, BlockCols: c.blockCols, form: c.form,
				})
				if err != nil {
					t.Fatal(err)
				}
				if form != c.wantForm {
					t.Errorf("form = %s, want %s", form, c.wantForm)
				}
				// Each formula is only computable where its system is
				// non-singular: primal needs k ≤ N or λ > 0, dual k ≥ N or λ > 0.
				for _, ref := range []Form{Primal, Dual} {
					if lambda == 0 && (ref == Primal) != (c.k <= c.n) && c.k != c.n {
						continue
					}
					want, cond := bruteK(t, x, lambda, ref)
					if e := relErr(got, want); e > tol*cond {
						t.Errorf("vs %s formula: relative error %.3g > %.3g (κ = %.3g)", ref, e, tol*cond, cond)
					}
				}
			})
		}
	}
}

func TestFinalizeFormsAgree(t *testing.T) {
	// Both forms are backward-stable solves of the same problem; each has
	// relative error ≲ n·ε·κ ≈ 1e-14·κ for n ≤ 40, κ the larger of the two
	// systems' condition numbers.
	const tol = 1e-13
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		n, k   int
		lambda float64
	}{
		{n: 30, k: 12, lambda: 0.1},
		{n: 12, k: 30, lambda: 0.1},
		{n: 20, k: 20, lambda: 0},
		{n: 20, k: 20, lambda: 3},
		{n: 40, k: 17, lambda: 1e-3},
	} {
		t.Run(fmt.Sprintf("N=%d,k=%d,lambda=%g", c.n, c.k, c.lambda), func(t *testing.T) {
			x := randDense(rng, c.n, c.k)
			p, d := NewDense(c.n, c.k), NewDense(c.n, c.k)
			if _, _, err := Finalize(x, p, FinalizeOptions{Lambda: c.lambda, BlockRows: 7, form: Primal}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Finalize(x, d, FinalizeOptions{Lambda: c.lambda, BlockCols: 5, form: Dual}); err != nil {
				t.Fatal(err)
			}
			cond := max(mat.Cond(gramSystem(x, c.lambda, Primal), 2), mat.Cond(gramSystem(x, c.lambda, Dual), 2))
			if c.lambda == 0 {
				cond = mat.Cond(gramSystem(x, 0, ChooseForm(c.n, c.k)), 2)
			}
			if e := relErr(p, toMat(d)); e > tol*cond {
				t.Errorf("primal vs dual: relative error %.3g > %.3g (κ = %.3g)", e, tol*cond, cond)
			}
		})
	}
}

// TestFinalizeScaleInvariant checks that badly scaled but well-determined
// systems are solved, not rejected: scaling column j of X by s_j (primal) or
// row i by s_i (dual) multiplies κ(XᵀX) by up to 10¹⁶ here, while with λ = 0
// K just scales back: K(XS) = K(X)S⁻¹ and K(SX) = S⁻¹K(X).
func TestFinalizeScaleInvariant(t *testing.T) {
	// Finalize scales the diagonal of the system to about one, so its
	// error is that of the unscaled problem, ≲ n·ε·κ with κ < 100 here.
	const tol = 1e-12
	rng := rand.New(rand.NewPCG(1, 1))
	for _, form := range []Form{Primal, Dual} {
		t.Run(form.String(), func(t *testing.T) {
			n, k := 40, 12
			if form == Dual {
				n, k = 12, 40
			}
			x := randDense(rng, n, k)
			ref := NewDense(n, k)
			if _, _, err := Finalize(x, ref, FinalizeOptions{}); err != nil {
				t.Fatal(err)
			}
			xs := NewDense(n, k)
			copy(xs.Data, x.Data)
			scale := func(i, j int) float64 {
				if form == Primal {
					return math.Pow(10, float64(j%9-4))
				}
				return math.Pow(10, float64(i%9-4))
			}
			for i := range n {
				for j := range k {
					xs.Data[i*k+j] *= scale(i, j)
				}
			}
			got := NewDense(n, k)
			if _, _, err := Finalize(xs, got, FinalizeOptions{}); err != nil {
				t.Fatalf("scaled X: %v", err)
			}
			// Compare each column (primal) or row (dual) relative to its
			// largest entry: the scaling acts on whole columns or rows.
			groups, size := k, n
			at := func(g, e int) (int, int) { return e, g }
			if form == Dual {
				groups, size = n, k
				at = func(g, e int) (int, int) { return g, e }
			}
			for g := range groups {
				var diff, norm float64
				for e := range size {
					i, j := at(g, e)
					want := ref.At(i, j) / scale(i, j)
					diff = max(diff, math.Abs(got.At(i, j)-want))
					norm = max(norm, math.Abs(want))
				}
				if diff > tol*norm {
					t.Errorf("%s %d of K: relative error %.3g > %.3g", map[Form]string{Primal: "column", Dual: "row"}[form], g, diff/norm, tol)
				}
			}
		})
	}
}

// countWriter counts rows and blocks written to it.
type countWriter struct{ n int }

func (w *countWriter) SetRow(int, []float64) error        { w.n++; return nil }
func (w *countWriter) SetBlock(int, int, []float64) error { w.n++; return nil }

func TestFinalizeSingular(t *testing.T) {
	// With the suggested λ > 0, the system has κ ≤ 10³·min(N, k) + 1; the
	// relative error per unit of κ is bounded as in
	// TestFinalizeMatchesBruteForce.
	const tol = 1e-13
	rng := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		name     string
		n, k     int
		form     Form
		edit     func(x *Dense)
		wantForm Form
		wantInf  bool // Cholesky must break down (a zero diagonal)
	}{
		{name: "primal forced N<k", n: 5, k: 8, form: Primal, wantForm: Primal},
		{name: "duplicated column", n: 30, k: 6, wantForm: Primal, edit: func(x *Dense) {
			for i := range x.Rows {
				x.Data[i*x.Cols+4] = x.Data[i*x.Cols+1]
			}
		}},
		{name: "nearly duplicated column", n: 30, k: 6, wantForm: Primal, edit: func(x *Dense) {
			for i := range x.Rows {
				x.Data[i*x.Cols+4] = x.Data[i*x.Cols+1] * (1 + 1e-10*rng.NormFloat64())
			}
		}},
		{name: "zero column", n: 30, k: 6, wantForm: Primal, wantInf: true, edit: func(x *Dense) {
			for i := range x.Rows {
				x.Data[i*x.Cols+2] = 0
			}
		}},
		{name: "dual duplicated row", n: 6, k: 20, wantForm: Dual, edit: func(x *Dense) {
			copy(x.Data[4*x.Cols:5*x.Cols], x.Data[2*x.Cols:3*x.Cols])
		}},
		{name: "dual forced N>k", n: 20, k: 5, form: Dual, wantForm: Dual},
		{name: "zero X", n: 4, k: 3, wantForm: Primal, wantInf: true, edit: func(x *Dense) { clear(x.Data) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := randDense(rng, c.n, c.k)
			if c.edit != nil {
				c.edit(x)
			}
			var w countWriter
			_, _, err := Finalize(x, &w, FinalizeOptions{BlockRows: 4, BlockCols: 4, form: c.form})
			var se *SingularError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SingularError", err)
			}
			if w.n != 0 {
				t.Errorf("%d writes before the error", w.n)
			}
			msg := err.Error()
			for _, s := range []string{"`lambda`", "lambda: ", c.wantForm.String()} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
			wantSize := c.n
			if c.wantForm == Primal {
				wantSize = c.k
			}
			if se.Form != c.wantForm || se.Size != wantSize || se.Lambda != 0 {
				t.Errorf("error fields %+v, want form %s, size %d, lambda 0", *se, c.wantForm, wantSize)
			}
			if (c.wantInf && !math.IsInf(se.Cond, 1)) || !(se.Cond > se.MaxCond) || !(se.Suggest > 0) {
				t.Errorf("error fields %+v: want Cond > MaxCond (infinite: %t) and Suggest > 0", *se, c.wantInf)
			}

			got := NewDense(c.n, c.k)
			if _, _, err := Finalize(x, got, FinalizeOptions{Lambda: se.Suggest, BlockRows: 4, BlockCols: 4, form: c.form}); err != nil {
				t.Fatalf("with the suggested lambda %g: %v", se.Suggest, err)
			}
			want, cond := bruteK(t, x, se.Suggest, c.wantForm)
			if e := relErr(got, want); e > tol*cond {
				t.Errorf("with lambda %g: relative error %.3g > %.3g (κ = %.3g)", se.Suggest, e, tol*cond, cond)
			}
		})
	}
}

// withCond returns an n × k matrix (n ≥ k) with singular values spread
// geometrically from 1 to 1/sqrt(kappa), so that κ₂(XᵀX) = kappa.
func withCond(rng *rand.Rand, n, k int, kappa float64) *Dense {
	orth := func(r, c int) *mat.Dense {
		var qr mat.QR
		qr.Factorize(toMat(randDense(rng, r, c)))
		var q mat.Dense
		qr.QTo(&q)
		return mat.DenseCopyOf(q.Slice(0, r, 0, c))
	}
	u, v := orth(n, k), orth(k, k)
	for j := range k {
		s := math.Pow(kappa, -0.5*float64(j)/float64(k-1))
		for i := range n {
			u.Set(i, j, u.At(i, j)*s)
		}
	}
	var x mat.Dense
	x.Mul(u, v.T())
	return &Dense{Rows: n, Cols: k, Data: x.RawMatrix().Data}
}

// TestFinalizeConditionLimit checks the rule κ̂ ≤ 1/(10·n·ε) on systems of
// known condition, away from the limit by a factor of about ten on each side
// (the estimate is within a small factor of κ₂), where the Cholesky
// factorisation itself succeeds.
func TestFinalizeConditionLimit(t *testing.T) {
	// Accepted systems: relative error ≲ n·ε·κ, as in
	// TestFinalizeMatchesBruteForce.
	const tol = 1e-13
	const n, k = 100, 60 // maxCond(60) ≈ 7.5e12
	rng := rand.New(rand.NewPCG(1, 1))
	for _, kappa := range []float64{1e11, 1e14} {
		t.Run(fmt.Sprintf("kappa=%g", kappa), func(t *testing.T) {
			x := withCond(rng, n, k, kappa)
			got := NewDense(n, k)
			_, _, err := Finalize(x, got, FinalizeOptions{})
			if kappa < maxCond(k) {
				if err != nil {
					t.Fatal(err)
				}
				want, cond := bruteK(t, x, 0, Primal)
				if e := relErr(got, want); e > tol*cond {
					t.Errorf("relative error %.3g > %.3g (κ = %.3g)", e, tol*cond, cond)
				}
				return
			}
			var se *SingularError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SingularError", err)
			}
			if math.IsInf(se.Cond, 1) || se.Cond < kappa/100 {
				t.Errorf("Cond = %.3g, want an estimate near %.3g", se.Cond, kappa)
			}
			if !strings.Contains(err.Error(), "condition number") {
				t.Errorf("message %q does not mention the condition number", err)
			}
		})
	}
}

func TestFinalizeTinyLambdaStillSingular(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randDense(rng, 5, 8)
	_, _, err := Finalize(x, NewDense(5, 8), FinalizeOptions{Lambda: 1e-30, form: Primal})
	var se *SingularError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *SingularError", err)
	}
	if se.Lambda != 1e-30 || !strings.Contains(err.Error(), "lambda = 1e-30") || se.Suggest < 10*se.Lambda {
		t.Errorf("error %q, fields %+v: want lambda 1e-30 and Suggest ≥ 10·Lambda", err, *se)
	}
}

// errWriter fails on row bad.
type errWriter struct {
	bad int
	err error
}

func (w errWriter) SetRow(i int, _ []float64) error {
	if i == w.bad {
		return w.err
	}
	return nil
}

func (w errWriter) SetBlock(i, _ int, src []float64) error { return w.SetRow(i, src) }

func TestFinalizeErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	nan := randDense(rng, 10, 4)
	nan.Data[7*4+2] = math.NaN()
	inf := randDense(rng, 4, 10)
	inf.Data[3*10+9] = math.Inf(-1)
	ok := randDense(rng, 10, 4)
	okDual := randDense(rng, 4, 10)
	ioErr := errors.New("disk full")
	cases := []struct {
		name string
		x    Matrix
		out  RowWriter
		opt  FinalizeOptions
		want []string
		is   error
	}{
		{name: "no rows", x: NewDense(0, 5), want: []string{"0×5"}},
		{name: "no columns", x: NewDense(5, 0), want: []string{"5×0"}},
		{name: "negative lambda", x: ok, opt: FinalizeOptions{Lambda: -1}, want: []string{"lambda", "-1"}},
		{name: "NaN lambda", x: ok, opt: FinalizeOptions{Lambda: math.NaN()}, want: []string{"lambda", "NaN"}},
		{name: "infinite lambda", x: ok, opt: FinalizeOptions{Lambda: math.Inf(1)}, want: []string{"lambda", "Inf"}},
		{name: "NaN feature", x: nan, want: []string{"X[7, 2]", "NaN", "finite"}},
		{name: "infinite feature", x: inf, opt: FinalizeOptions{BlockCols: 3}, want: []string{"X[3, 9]", "-Inf", "finite"}},
		{name: "write error primal", x: ok, out: errWriter{bad: 6, err: ioErr}, opt: FinalizeOptions{Lambda: 1, BlockRows: 4}, want: []string{"row 6"}, is: ioErr},
		{name: "write error dual", x: okDual, out: errWriter{bad: 2, err: ioErr}, opt: FinalizeOptions{Lambda: 1, BlockCols: 4}, want: []string{"row 2"}, is: ioErr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := c.out
			if out == nil {
				r, k := c.x.Dims()
				out = NewDense(r, k)
			}
			_, _, err := Finalize(c.x, out, c.opt)
			if err == nil {
				t.Fatal("no error")
			}
			var se *SingularError
			if errors.As(err, &se) {
				t.Errorf("err = %v: want a plain error, not *SingularError", err)
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %q", err, c.is)
			}
		})
	}
}

func TestFinalizeProgress(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		name      string
		n, k      int
		opt       FinalizeOptions
		wantTotal int
	}{
		{name: "primal", n: 10, k: 3, opt: FinalizeOptions{BlockRows: 4}, wantTotal: 2*3 + 1},
		{name: "primal one block", n: 10, k: 3, wantTotal: 3},
		{name: "dual", n: 3, k: 10, opt: FinalizeOptions{BlockCols: 5}, wantTotal: 2*2 + 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls [][2]int
			c.opt.Progress = func(done, total int) { calls = append(calls, [2]int{done, total}) }
			if _, _, err := Finalize(randDense(rng, c.n, c.k), NewDense(c.n, c.k), c.opt); err != nil {
				t.Fatal(err)
			}
			if len(calls) != c.wantTotal+1 {
				t.Fatalf("calls %v, want %d", calls, c.wantTotal+1)
			}
			for i, call := range calls {
				if call != [2]int{i, c.wantTotal} {
					t.Fatalf("call %d = %v, want [%d %d]", i, call, i, c.wantTotal)
				}
			}
		})
	}
}

func TestChooseForm(t *testing.T) {
	for _, c := range []struct {
		n, k int
		want Form
	}{{10, 9, Primal}, {10, 10, Primal}, {10, 11, Dual}, {1, 100000, Dual}} {
		if got := ChooseForm(c.n, c.k); got != c.want {
			t.Errorf("ChooseForm(%d, %d) = %s, want %s", c.n, c.k, got, c.want)
		}
	}
	if Primal.String() != "primal" || Dual.String() != "dual" {
		t.Errorf("String() = %q, %q", Primal, Dual)
	}
}

func TestSuggestLambda(t *testing.T) {
	for _, c := range []struct {
		trace  float64
		rank   int
		lambda float64
		want   float64
	}{
		{trace: 1234.5, rank: 10, want: 0.13},     // 0.12345 rounded up
		{trace: 1000, rank: 10, want: 0.1},        // exact
		{trace: 0, rank: 3, want: 1},              // zero X
		{trace: 10, rank: 1, lambda: 5, want: 50}, // ten times lambda wins
	} {
		got := suggestLambda(c.trace, c.rank, c.lambda)
		if math.Abs(got-c.want) > 1e-12*c.want {
			t.Errorf("suggestLambda(%g, %d, %g) = %g, want %g", c.trace, c.rank, c.lambda, got, c.want)
		}
	}
}

// discard accepts and drops K.
type discard struct{}

func (discard) SetRow(int, []float64) error        { return nil }
func (discard) SetBlock(int, int, []float64) error { return nil }

func BenchmarkFinalize(b *testing.B) {
	for _, c := range []struct {
		name string
		n, k int
		out  RowWriter
	}{
		{name: "primal/N=4096,k=512", n: 4096, k: 512, out: discard{}},
		{name: "dual/N=512,k=8192", n: 512, k: 8192, out: discard{}},
		{name: "dual-rowwriter/N=512,k=8192", n: 512, k: 8192, out: rowWriter{NewDense(512, 8192)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			x := randDense(rand.New(rand.NewPCG(1, 1)), c.n, c.k)
			for b.Loop() {
				if _, _, err := Finalize(x, c.out, FinalizeOptions{Lambda: 1e-3}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFinalizeLambdaRel checks that LambdaRel r adds r·trace(XᵀX)/min(N, k)
// to λ, the trace summed by brute force, in both forms: the λ returned is
// that value (to 1e-12 relative: the trace is summed in another order) and
// K equals Finalize's with that absolute λ (to 1e-12 relative, as λ may
// differ in its last bits).
func TestFinalizeLambdaRel(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, c := range []struct {
		n, k        int
		lambda, rel float64
	}{
		{n: 30, k: 12, rel: 0.01},
		{n: 12, k: 30, rel: 0.01},
		{n: 12, k: 30, lambda: 0.5, rel: 0.1},
		{n: 20, k: 20, lambda: 0.25},
	} {
		t.Run(fmt.Sprintf("N=%d,k=%d,lambda=%g,rel=%g", c.n, c.k, c.lambda, c.rel), func(t *testing.T) {
			x := randDense(rng, c.n, c.k)
			var trace float64
			for _, v := range x.Data {
				trace += v * v
			}
			want := c.lambda + c.rel*trace/float64(min(c.n, c.k))
			got := NewDense(c.n, c.k)
			form, lambda, err := Finalize(x, got, FinalizeOptions{Lambda: c.lambda, LambdaRel: c.rel})
			if err != nil {
				t.Fatal(err)
			}
			if form != ChooseForm(c.n, c.k) || math.Abs(lambda-want) > 1e-12*want {
				t.Fatalf("form %v, λ %v; want %v, %v", form, lambda, ChooseForm(c.n, c.k), want)
			}
			ref := NewDense(c.n, c.k)
			if _, _, err := Finalize(x, ref, FinalizeOptions{Lambda: want}); err != nil {
				t.Fatal(err)
			}
			if e := relErr(got, toMat(ref)); e > 1e-12 {
				t.Errorf("K with lambda_rel vs with the same absolute λ: relative error %.3g", e)
			}
		})
	}
	if _, _, err := Finalize(randDense(rng, 3, 2), NewDense(3, 2), FinalizeOptions{LambdaRel: -1}); err == nil || !strings.Contains(err.Error(), "lambda_rel") {
		t.Errorf("negative lambda_rel: %v", err)
	}
}

func TestFinalizedWith(t *testing.T) {
	for _, c := range []struct {
		name  string
		meta  store.ModelMeta
		ridge Ridge
		want  bool
	}{
		{"before lambda_rel, same λ", store.ModelMeta{FinalizeLambda: 0.5}, Ridge{Lambda: 0.5}, true},
		{"before lambda_rel, now relative", store.ModelMeta{FinalizeLambda: 0.5}, Ridge{Rel: 0.01}, false},
		{"before lambda_rel, λ 0", store.ModelMeta{}, Ridge{}, true},
		{"relative, same", store.ModelMeta{FinalizeLambda: 0.43, FinalizeLambdaRel: 0.01}, Ridge{Rel: 0.01}, true},
		{"relative, other", store.ModelMeta{FinalizeLambda: 0.43, FinalizeLambdaRel: 0.01}, Ridge{Rel: 0.1}, false},
		{"relative, now absolute with the λ it gave", store.ModelMeta{FinalizeLambda: 0.43, FinalizeLambdaRel: 0.01}, Ridge{Lambda: 0.43}, false},
		{"absolute", store.ModelMeta{FinalizeLambda: 2, FinalizeLambdaSetting: 2}, Ridge{Lambda: 2}, true},
	} {
		if got := finalizedWith(c.meta, c.ridge); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// rowsOnly hides Dense's RowCols, so Finalize reads whole rows.
type rowsOnly struct{ d *Dense }

func (r rowsOnly) Dims() (int, int)         { return r.d.Dims() }
func (r rowsOnly) Row(i int, dst []float64) { r.d.Row(i, dst) }

// TestFinalizeDualColumnRanges checks that the dual form gives the same
// bits whether X hands it column ranges (RowColser) or whole rows.
func TestFinalizeDualColumnRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := randDense(rng, 9, 31)
	ranged, whole := NewDense(9, 31), NewDense(9, 31)
	for _, c := range []struct {
		x   Matrix
		out *Dense
	}{{x, ranged}, {rowsOnly{x}, whole}} {
		if _, _, err := Finalize(c.x, c.out, FinalizeOptions{Lambda: 0.1, BlockCols: 4, form: Dual}); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range ranged.Data {
		if math.Float64bits(v) != math.Float64bits(whole.Data[i]) {
			t.Fatalf("entry %d: %v with column ranges, %v with whole rows", i, v, whole.Data[i])
		}
	}
}
