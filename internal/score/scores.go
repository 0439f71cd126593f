package score

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// ScoreOptions configures ScoresWithOptions.
type ScoreOptions struct {
	// BlockRows is the number of train rows scored at a time; the buffers
	// hold BlockRows·(k + T) values. Zero picks about 128 MiB.
	BlockRows int

	// Progress, if not nil, is called with the number of steps done and the
	// total after each step: loading each G_m, and each block of rows of
	// each K_m. It is called with done = 0 before the first step.
	Progress func(done, total int)
}

// Scores computes the N × T score matrix of M checkpoints and writes its N
// rows of length T to out:
//
//	score[i, t] = ( (1/M) Σ_m (K_m g_m(t))_i ) · ( (1/M) Σ_m Q_m[i] )
//
// where, for checkpoint m, ks[m] is K_m (N × k_m, from Finalize), row t of
// gs[m] is the target feature g_m(t) (G_m is T × k_m) and qs[m] holds the N
// out-to-loss terms Q_m. It is ScoresWithOptions with default options.
func Scores(ks, gs []Matrix, qs [][]float64, out RowWriter) error {
	return ScoresWithOptions(ks, gs, qs, out, ScoreOptions{})
}

// ScoresWithOptions is Scores with options.
//
// It holds every G_m and one block of rows of the result in float64,
// O(Σ_m T·k_m + BlockRows·(T + max k_m)) memory, and streams the K_m: for each
// block of train rows it accumulates Σ_m K_m[rows] G_mᵀ with BLAS, scales each
// row by its mean Q and writes it. Every value read is checked to be finite
// (one comparison per value, next to the T multiply-adds each K value
// costs): a NaN or infinity, which only a damaged file holds, is a
// *NonFiniteError naming the matrix, checkpoint, row and column, and no
// later row is written.
//
// Checkpoints are numbered by their position in the slices. It returns an
// error, before writing any row, if there is no checkpoint, if ks, gs and qs
// differ in length, or if the shapes disagree: every K_m must have the same N
// rows, every G_m the same T rows and as many columns as K_m, every Q_m length
// N, and N, T and k_m must be positive.
func ScoresWithOptions(ks, gs []Matrix, qs [][]float64, out RowWriter, opt ScoreOptions) error {
	m := len(ks)
	if m == 0 {
		return fmt.Errorf("no checkpoints to score: need at least one K, G and Q")
	}
	if len(gs) != m || len(qs) != m {
		return fmt.Errorf("%d K matrices, %d target feature matrices and %d out-to-loss vectors: need one of each per checkpoint", m, len(gs), len(qs))
	}
	n, _ := ks[0].Dims()
	t, _ := gs[0].Dims()
	if n < 1 {
		return fmt.Errorf("checkpoint 0: K has no rows (no train examples)")
	}
	if t < 1 {
		return fmt.Errorf("checkpoint 0: G has no rows (no targets)")
	}
	kmax := 0
	for c := range m {
		kn, kk := ks[c].Dims()
		gt, gk := gs[c].Dims()
		switch {
		case kn != n:
			return fmt.Errorf("checkpoint %d: K has %d rows, checkpoint 0 has %d: train sets differ", c, kn, n)
		case gt != t:
			return fmt.Errorf("checkpoint %d: G has %d rows, checkpoint 0 has %d: target sets differ", c, gt, t)
		case kk != gk:
			return fmt.Errorf("checkpoint %d: K is %d×%d but G is %d×%d: feature dimensions differ", c, kn, kk, gt, gk)
		case kk < 1:
			return fmt.Errorf("checkpoint %d: features have no columns", c)
		case len(qs[c]) != n:
			return fmt.Errorf("checkpoint %d: Q has %d entries, K has %d rows", c, len(qs[c]), n)
		}
		kmax = max(kmax, kk)
	}

	b := opt.BlockRows
	if b <= 0 {
		b = max(1, defaultBlockElems/(kmax+t))
	}
	b = min(b, n)
	nb := (n + b - 1) / b
	p := newProgress(opt.Progress, m+m*nb)

	g := make([]blas64.General, m)
	for c := range m {
		_, k := gs[c].Dims()
		g[c] = blas64.General{Rows: t, Cols: k, Stride: k, Data: make([]float64, t*k)}
		for i := range t {
			row := g[c].Data[i*k : (i+1)*k]
			gs[c].Row(i, row)
			if j := firstNonFinite(row); j >= 0 {
				return &NonFiniteError{Matrix: "G", Checkpoint: c, Row: i, Col: j, Value: row[j]}
			}
		}
		p.step()
	}
	qbar := make([]float64, n)
	for c := range m {
		for i, q := range qs[c] {
			if q-q != 0 {
				return &NonFiniteError{Matrix: "Q", Checkpoint: c, Row: i, Value: q}
			}
			qbar[i] += q
		}
	}
	for i := range qbar {
		qbar[i] /= float64(m)
	}

	kbuf := make([]float64, b*kmax)
	acc := make([]float64, b*t)
	for r0 := 0; r0 < n; r0 += b {
		r1 := min(r0+b, n)
		a := blas64.General{Rows: r1 - r0, Cols: t, Stride: t, Data: acc[:(r1-r0)*t]}
		clear(a.Data)
		for c := range m {
			k := g[c].Cols
			kb := blas64.General{Rows: r1 - r0, Cols: k, Stride: k, Data: kbuf[:(r1-r0)*k]}
			for i := r0; i < r1; i++ {
				row := kb.Data[(i-r0)*k : (i-r0+1)*k]
				ks[c].Row(i, row)
				if j := firstNonFinite(row); j >= 0 {
					return &NonFiniteError{Matrix: "K", Checkpoint: c, Row: i, Col: j, Value: row[j]}
				}
			}
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, kb, g[c], 1, a)
			p.step()
		}
		for i := r0; i < r1; i++ {
			row := a.Data[(i-r0)*t : (i-r0+1)*t]
			s := qbar[i] / float64(m)
			for j := range row {
				row[j] *= s
			}
			if err := out.SetRow(i, row); err != nil {
				return fmt.Errorf("write row %d of the scores: %w", i, err)
			}
		}
	}
	return nil
}

// NonFiniteError reports a NaN or infinite value in an input of Finalize
// (X) or Scores (K, G, Q), or in a score matrix (S, see CheckFinite32).
// Such a value would spread through the products to other scores, or rank
// arbitrarily; no correct computation produces one, so it means a damaged
// file. Callers add the file's name and the fix.
type NonFiniteError struct {
	Matrix     string // "X", "K", "G", "Q" or "S"
	Checkpoint int    // position of the checkpoint in the slices given (not for X and S)
	Row, Col   int    // Col is 0 for Q
	Value      float64
}

func (e *NonFiniteError) Error() string {
	switch e.Matrix {
	case "X":
		return fmt.Sprintf("train feature X[%d, %d] is %g: finalize needs finite features", e.Row, e.Col, e.Value)
	case "Q":
		return fmt.Sprintf("checkpoint %d: out-to-loss term Q[%d] is %g: scores need finite inputs", e.Checkpoint, e.Row, e.Value)
	case "S":
		return fmt.Sprintf("score[%d, %d] is %g", e.Row, e.Col, e.Value)
	}
	return fmt.Sprintf("checkpoint %d: %s[%d, %d] is %g: scores need finite inputs", e.Checkpoint, e.Matrix, e.Row, e.Col, e.Value)
}

// CheckFinite32 returns a *NonFiniteError (Matrix "S") for the first NaN or
// infinity of a row-major matrix with cols columns, or nil.
func CheckFinite32(data []float32, cols int) error {
	for i, v := range data {
		if v-v != 0 {
			return &NonFiniteError{Matrix: "S", Row: i / cols, Col: i % cols, Value: float64(v)}
		}
	}
	return nil
}
