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
// row by its mean Q and writes it. Non-finite inputs are not rejected: they
// make only the scores they enter non-finite, and Top ranks NaN last.
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
			gs[c].Row(i, g[c].Data[i*k:(i+1)*k])
		}
		p.step()
	}
	qbar := make([]float64, n)
	for c := range m {
		for i, q := range qs[c] {
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
				ks[c].Row(i, kb.Data[(i-r0)*k:(i-r0+1)*k])
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
