package score

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Form is the linear system Finalize factorises.
type Form int

const (
	// Primal solves with the k × k matrix XᵀX + λI:
	// K = X (XᵀX + λI)⁻¹.
	Primal Form = iota + 1
	// Dual solves with the N × N matrix XXᵀ + λI:
	// K = (XXᵀ + λI)⁻¹ X.
	Dual
)

// String returns "primal" or "dual".
func (f Form) String() string {
	switch f {
	case Primal:
		return "primal"
	case Dual:
		return "dual"
	}
	return fmt.Sprintf("Form(%d)", int(f))
}

// ChooseForm returns the form with the smaller system for an N × k matrix X:
// Primal when k ≤ n, Dual otherwise. Both cost O(N·k·min(N, k)) to form and
// O(min(N, k)³) to factorise, so the smaller order is always the cheaper one.
func ChooseForm(n, k int) Form {
	if k <= n {
		return Primal
	}
	return Dual
}

// defaultBlockElems is the size, in float64 values, of the streaming buffer
// when FinalizeOptions or ScoreOptions leave the block size to Finalize or
// Scores: 128 MiB, large enough that BLAS runs at full speed and small
// beside the k² or N² system itself.
const defaultBlockElems = 1 << 24

// condMargin is the safety factor c of the conditioning rule
// κ̂ ≤ 1/(c·n·ε); see maxCond.
const condMargin = 10

// FinalizeOptions configures Finalize.
type FinalizeOptions struct {
	// Lambda is the ridge term λ ≥ 0 added to the diagonal of XᵀX (or
	// XXᵀ); the config key `lambda`.
	Lambda float64
	// LambdaRel adds LambdaRel times the mean non-zero eigenvalue of the
	// Gram matrix, trace(XᵀX)/min(N, k), to λ: a ridge term that scales
	// with the features (the config key `lambda_rel`). The two forms'
	// Gram matrices share their non-zero eigenvalues, so it means the same
	// whichever form is chosen.
	LambdaRel float64

	// BlockRows is the number of rows of X the primal form reads at a
	// time; its buffer holds BlockRows·k values. Zero picks a block of
	// about 128 MiB.
	BlockRows int

	// BlockCols is the number of columns of X the dual form reads at a
	// time; its buffer holds N·BlockCols values. Zero picks a block of
	// about 128 MiB. It only matters when the output is a BlockWriter:
	// otherwise all of X is read at once, since all of K has to be held
	// anyway.
	BlockCols int

	// Progress, if not nil, is called with the number of steps done and the
	// total after each step: each block of X read to form the system, the
	// factorisation, and each block of K solved and written. It is called
	// with done = 0 before the first step.
	Progress func(done, total int)

	// form forces a form; zero lets ChooseForm decide. Tests set it to
	// compare the two forms on the same data.
	form Form
}

// SingularError reports that λ is too small for the system Finalize had to
// solve: XᵀX + λI (primal) or XXᵀ + λI (dual) is singular, or so badly
// conditioned that its solution in float64 would carry no correct digit.
// Finalize writes nothing before it can rule this out.
type SingularError struct {
	// Form is the form of the system, and Size its order: k for Primal,
	// N for Dual.
	Form Form
	Size int

	// Lambda is the λ that was used.
	Lambda float64

	// Cond is the estimated 1-norm condition number of the system after
	// scaling its diagonal to about one; +Inf when the Cholesky
	// factorisation broke down. MaxCond is the largest accepted:
	// 1/(10·Size·ε), with ε = 2⁻⁵² the float64 machine epsilon.
	Cond, MaxCond float64

	// Suggest is a λ that should make the system solvable: 10⁻³ times
	// trace(XᵀX)/min(N, k), the mean non-zero eigenvalue of XᵀX, rounded
	// up to two significant digits, or ten times Lambda if that is larger.
	Suggest float64
}

// Error names the config key `lambda` and suggests a value for it.
func (e *SingularError) Error() string {
	sys := "X^T X + lambda I"
	if e.Form == Dual {
		sys = "X X^T + lambda I"
	}
	what, why := "singular", "its Cholesky factorisation broke down"
	if !math.IsInf(e.Cond, 1) {
		what = "numerically singular"
		why = fmt.Sprintf("estimated condition number %.2g exceeds %.2g, the most a float64 solve of this size can take", e.Cond, e.MaxCond)
	}
	return fmt.Sprintf("%s system %s (%d×%d) is %s with lambda = %g (%s): set the config key `lambda` to a larger value, e.g. lambda: %.2g",
		e.Form, sys, e.Size, e.Size, what, e.Lambda, why, e.Suggest)
}

// maxCond is the largest estimated condition number of an n × n system that
// Finalize accepts: 1/(c·n·ε) with c = condMargin.
//
// A Cholesky solve is backward stable, so its normwise relative forward
// error is bounded by about n·ε·κ (up to a small constant). Beyond
// κ = 1/(n·ε) that bound promises nothing, and the output could be noise as
// useless as NaN; the factor c keeps about one digit of margin for the
// estimator, which may underestimate κ by a small factor, and for the
// rounding errors made when XᵀX was accumulated. κ is measured after the
// diagonal is scaled to about one because the Cholesky error depends on that
// scaled condition, not on the column scales of X: exact gradients mix
// parameters whose features differ by orders of magnitude, and such a system
// is not ill-posed for that.
func maxCond(n int) float64 {
	const eps = 0x1p-52
	return 1 / (condMargin * float64(n) * eps)
}

// Finalize computes K = X (XᵀX + λI)⁻¹ for the N × k matrix x and writes K's
// N rows of length k to out. It returns the form it used.
//
// The form is ChooseForm(N, k). Primal accumulates XᵀX over blocks of
// BlockRows rows of X, factorises XᵀX + λI, then reads X again block by block
// and writes K = X (XᵀX + λI)⁻¹ block by block: O(k² + BlockRows·k) memory.
// Dual uses the identity X (XᵀX + λI)⁻¹ = (XXᵀ + λI)⁻¹ X: it accumulates XXᵀ
// over blocks of BlockCols columns, factorises XXᵀ + λI, then solves for K one
// block of columns at a time: O(N² + N·BlockCols + k) memory when out is a
// BlockWriter, O(N² + N·k) otherwise. Both factorise in float64 with Cholesky
// and never form an inverse.
//
// It returns the form and the λ it used (opt.Lambda plus the LambdaRel
// term). Finalize returns a *SingularError, before writing any row, when
// the system is singular or too badly conditioned for float64 (see
// SingularError). It returns an error if X is empty, has a non-finite
// entry, or λ or LambdaRel is negative or not finite, and passes on errors
// from out.
func Finalize(x Matrix, out RowWriter, opt FinalizeOptions) (Form, float64, error) {
	n, k := x.Dims()
	if n < 1 || k < 1 {
		return 0, 0, fmt.Errorf("train features X are %d×%d: need at least one row and one column", n, k)
	}
	if !(opt.Lambda >= 0) || math.IsInf(opt.Lambda, 1) {
		return 0, 0, fmt.Errorf("lambda must be a finite number ≥ 0, got %g", opt.Lambda)
	}
	if !(opt.LambdaRel >= 0) || math.IsInf(opt.LambdaRel, 1) {
		return 0, 0, fmt.Errorf("lambda_rel must be a finite number ≥ 0, got %g", opt.LambdaRel)
	}
	form := opt.form
	if form == 0 {
		form = ChooseForm(n, k)
	}
	var (
		lambda float64
		err    error
	)
	switch form {
	case Primal:
		lambda, err = finalizePrimal(x, out, n, k, opt)
	case Dual:
		lambda, err = finalizeDual(x, out, n, k, opt)
	default:
		panic(fmt.Sprintf("score: unknown form %d", int(form)))
	}
	return form, lambda, err
}

func finalizePrimal(x Matrix, out RowWriter, n, k int, opt FinalizeOptions) (float64, error) {
	b := opt.BlockRows
	if b <= 0 {
		b = max(1, defaultBlockElems/k)
	}
	b = min(b, n)
	nb := (n + b - 1) / b
	p := newProgress(opt.Progress, 2*nb+1)

	gram := blas64.Symmetric{Uplo: blas.Upper, N: k, Stride: k, Data: make([]float64, k*k)}
	buf := make([]float64, b*k)
	for r0 := 0; r0 < n; r0 += b {
		blk, err := readRows(x, r0, min(r0+b, n), k, buf)
		if err != nil {
			return 0, err
		}
		blas64.Syrk(blas.Trans, 1, blk, 1, gram)
		p.step()
	}
	c, lambda, err := factorise(gram, opt.Lambda, opt.LambdaRel, Primal, min(n, k))
	if err != nil {
		return 0, err
	}
	p.step()

	for r0 := 0; r0 < n; r0 += b {
		r1 := min(r0+b, n)
		// With a single block, buf still holds X from the first pass.
		blk := blas64.General{Rows: r1 - r0, Cols: k, Stride: k, Data: buf[:(r1-r0)*k]}
		if nb > 1 {
			if blk, err = readRows(x, r0, r1, k, buf); err != nil {
				return 0, err
			}
		}
		c.solveRight(blk)
		for i := r0; i < r1; i++ {
			if err := out.SetRow(i, blk.Data[(i-r0)*k:(i-r0+1)*k]); err != nil {
				return 0, fmt.Errorf("write row %d of K: %w", i, err)
			}
		}
		p.step()
	}
	return lambda, nil
}

func finalizeDual(x Matrix, out RowWriter, n, k int, opt FinalizeOptions) (float64, error) {
	bw, partial := out.(BlockWriter)
	c := k
	if partial && opt.BlockCols > 0 {
		c = min(opt.BlockCols, k)
	} else if partial {
		c = min(max(1, defaultBlockElems/n), k)
	}
	nb := (k + c - 1) / c
	p := newProgress(opt.Progress, 2*nb+1)

	gram := blas64.Symmetric{Uplo: blas.Upper, N: n, Stride: n, Data: make([]float64, n*n)}
	buf := make([]float64, n*c)
	var row []float64
	if nb > 1 {
		row = make([]float64, k)
	}
	for c0 := 0; c0 < k; c0 += c {
		blk, err := readCols(x, c0, min(c0+c, k), buf, row)
		if err != nil {
			return 0, err
		}
		blas64.Syrk(blas.NoTrans, 1, blk, 1, gram)
		p.step()
	}
	chol, lambda, err := factorise(gram, opt.Lambda, opt.LambdaRel, Dual, min(n, k))
	if err != nil {
		return 0, err
	}
	p.step()

	if nb == 1 {
		// buf still holds all of X from the first pass.
		blk := blas64.General{Rows: n, Cols: k, Stride: k, Data: buf}
		chol.solveLeft(blk)
		for i := range n {
			if err := out.SetRow(i, buf[i*k:(i+1)*k]); err != nil {
				return 0, fmt.Errorf("write row %d of K: %w", i, err)
			}
		}
		p.step()
		return lambda, nil
	}
	for c0 := 0; c0 < k; c0 += c {
		c1 := min(c0+c, k)
		blk, err := readCols(x, c0, c1, buf, row)
		if err != nil {
			return 0, err
		}
		chol.solveLeft(blk)
		w := c1 - c0
		for i := range n {
			if err := bw.SetBlock(i, c0, blk.Data[i*w:(i+1)*w]); err != nil {
				return 0, fmt.Errorf("write row %d, columns %d to %d of K: %w", i, c0, c1-1, err)
			}
		}
		p.step()
	}
	return lambda, nil
}

// readRows reads rows r0, …, r1−1 of x (k columns) into buf and returns them
// as a matrix.
func readRows(x Matrix, r0, r1, k int, buf []float64) (blas64.General, error) {
	m := blas64.General{Rows: r1 - r0, Cols: k, Stride: k, Data: buf[:(r1-r0)*k]}
	for i := r0; i < r1; i++ {
		row := m.Data[(i-r0)*k : (i-r0+1)*k]
		x.Row(i, row)
		if j := firstNonFinite(row); j >= 0 {
			return m, nonFiniteError(i, j, row[j])
		}
	}
	return m, nil
}

// readCols reads columns c0, …, c1−1 of all rows of x into buf and returns
// them as a matrix. Matrix only offers whole rows, so unless the block is all
// of x, each row is read into row, of length k, and the block copied out.
func readCols(x Matrix, c0, c1 int, buf, row []float64) (blas64.General, error) {
	n, k := x.Dims()
	w := c1 - c0
	m := blas64.General{Rows: n, Cols: w, Stride: w, Data: buf[:n*w]}
	rc, ranged := x.(RowColser)
	for i := range n {
		dst := m.Data[i*w : (i+1)*w]
		switch {
		case w == k:
			x.Row(i, dst)
		case ranged:
			rc.RowCols(i, c0, c1, dst)
		default:
			x.Row(i, row)
			copy(dst, row[c0:c1])
		}
		if j := firstNonFinite(dst); j >= 0 {
			return m, nonFiniteError(i, c0+j, dst[j])
		}
	}
	return m, nil
}

// firstNonFinite returns the index of the first NaN or ±Inf in s, or −1.
func firstNonFinite(s []float64) int {
	for j, v := range s {
		if v-v != 0 {
			return j
		}
	}
	return -1
}

// nonFiniteError rejects a NaN or infinite feature: it would spread through
// XᵀX to every entry of K.
func nonFiniteError(i, j int, v float64) error {
	return &NonFiniteError{Matrix: "X", Row: i, Col: j, Value: v}
}

// cholesky is the factorisation of a symmetric positive definite A, scaled
// by a diagonal D of powers of two: DAD = H = UᵀU, so A⁻¹ = D U⁻¹ U⁻ᵀ D.
// Scaling by powers of two is exact, so it changes no rounding error; it
// serves the condition estimate (see maxCond).
type cholesky struct {
	u blas64.Triangular
	d []float64
}

// factorise adds λ = lambda + rel·trace(a)/rank to the diagonal of the
// Gram matrix a (upper triangle), factorises it in place, checks its
// condition and returns the factorisation with that λ. rank is min(N, k),
// the number of non-zero eigenvalues XᵀX can have, so trace/rank is their
// mean (the same for XᵀX and XXᵀ); it also serves SingularError's
// suggestion.
func factorise(a blas64.Symmetric, lambda, rel float64, form Form, rank int) (*cholesky, float64, error) {
	n, s := a.N, a.Stride
	var trace float64
	for j := range n {
		trace += a.Data[j*s+j]
	}
	if rel != 0 {
		lambda += rel * trace / float64(rank)
	}
	singular := func(cond float64) error {
		return &SingularError{
			Form: form, Size: n, Lambda: lambda,
			Cond: cond, MaxCond: maxCond(n),
			Suggest: suggestLambda(trace, rank, lambda),
		}
	}

	d := make([]float64, n)
	for j := range n {
		a.Data[j*s+j] += lambda
		ajj := a.Data[j*s+j]
		if !(ajj > 0) {
			// A zero column of X with λ = 0.
			return nil, 0, singular(math.Inf(1))
		}
		_, e := math.Frexp(math.Sqrt(ajj))
		d[j] = math.Ldexp(1, -e)
	}
	for i := range n {
		row := a.Data[i*s+i : i*s+n]
		for j := range row {
			// |a_ij| ≤ √(a_ii·a_jj), so neither product overflows.
			row[j] = row[j] * d[i] * d[i+j]
		}
	}

	work := make([]float64, 3*n)
	anorm := lapack64.Lansy(lapack.MaxColumnSum, a, work)
	u, ok := lapack64.Potrf(a)
	if !ok {
		return nil, 0, singular(math.Inf(1))
	}
	rcond := lapack64.Pocon(a, anorm, work, make([]int, n))
	if !(rcond*maxCond(n) >= 1) {
		return nil, 0, singular(1 / rcond)
	}
	return &cholesky{u: u, d: d}, lambda, nil
}

// suggestLambda returns a λ for which a system failing with lambda becomes
// solvable. With λ = 10⁻³·trace/r, r the number of non-zero eigenvalues,
// the condition number is at most (λ_max + λ)/λ ≤ 10³·r + 1, far below
// maxCond for any system small enough to factorise.
func suggestLambda(trace float64, rank int, lambda float64) float64 {
	s := 1e-3 * trace / float64(rank)
	if !(s > 0) || math.IsInf(s, 0) {
		// X is zero: any λ > 0 gives K = 0.
		s = 1
	}
	s = max(s, 10*lambda)
	p := math.Pow(10, math.Floor(math.Log10(s))-1)
	return math.Ceil(s/p) * p
}

// solveRight overwrites y (rows × n) with y A⁻¹ = y D U⁻¹ U⁻ᵀ D.
func (c *cholesky) solveRight(y blas64.General) {
	scaleCols(y, c.d)
	blas64.Trsm(blas.Right, blas.NoTrans, 1, c.u, y)
	blas64.Trsm(blas.Right, blas.Trans, 1, c.u, y)
	scaleCols(y, c.d)
}

// solveLeft overwrites z (n × cols) with A⁻¹ z = D U⁻¹ U⁻ᵀ D z.
func (c *cholesky) solveLeft(z blas64.General) {
	scaleRows(z, c.d)
	blas64.Trsm(blas.Left, blas.Trans, 1, c.u, z)
	blas64.Trsm(blas.Left, blas.NoTrans, 1, c.u, z)
	scaleRows(z, c.d)
}

func scaleCols(m blas64.General, d []float64) {
	for i := range m.Rows {
		row := m.Data[i*m.Stride : i*m.Stride+m.Cols]
		for j := range row {
			row[j] *= d[j]
		}
	}
}

func scaleRows(m blas64.General, d []float64) {
	for i := range m.Rows {
		row := m.Data[i*m.Stride : i*m.Stride+m.Cols]
		for j := range row {
			row[j] *= d[i]
		}
	}
}

// progress counts steps for an optional callback.
type progress struct {
	f           func(done, total int)
	done, total int
}

func newProgress(f func(done, total int), total int) *progress {
	p := &progress{f: f, total: total}
	if f != nil {
		f(0, total)
	}
	return p
}

func (p *progress) step() {
	p.done++
	if p.f != nil {
		p.f(p.done, p.total)
	}
}
