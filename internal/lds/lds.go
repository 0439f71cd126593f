package lds

import (
	"errors"
	"fmt"
	"math"
)

// Result is the LDS of every target and their summary.
type Result struct {
	// PerTarget holds LDS(t) for each target t, NaN where it is undefined
	// (the outputs or the predicted outputs are the same for every subset).
	PerTarget []float64
	// Mean is the mean of the defined LDS(t); NaN when none is defined.
	Mean float64
	// StdErr is the standard error of Mean, s/√Count with s the sample
	// standard deviation of the defined LDS(t); NaN when Count < 2.
	StdErr float64
	// Count is the number of targets whose LDS is defined and averaged.
	Count int
	// Constant is the number of targets left out because their outputs or
	// predicted outputs are constant over the subsets.
	Constant int
}

// Predict returns the predicted outputs g_j(t) = Σ_{i ∈ S_j} τ(t, i) as an
// M × T row-major matrix (row j = subsets[j]), where scores is the n × t
// row-major score matrix: the score of train row i for target c is
// scores[i·t + c]. The sums are in float64.
//
// It panics if len(scores) ≠ n·t or a subset holds an index outside [0, n):
// callers pass shapes they have checked, as Compute does.
func Predict(scores []float32, n, t int, subsets [][]int) []float64 {
	if len(scores) != n*t {
		panic(fmt.Sprintf("lds.Predict: %d scores for %d × %d", len(scores), n, t))
	}
	g := make([]float64, len(subsets)*t)
	for j, s := range subsets {
		row := g[j*t : (j+1)*t]
		for _, i := range s {
			for c, v := range scores[i*t : (i+1)*t] {
				row[c] += float64(v)
			}
		}
	}
	return g
}

// Compute returns the LDS of the scores (N × T row-major, train × target)
// against the outputs of the subset models (M × T row-major, subset ×
// target), subsets[j] being the train rows of subset model j.
//
// It returns an error when the shapes disagree, when there are fewer than 3
// subsets, when a subset index is outside [0, n), or when a score or output
// is NaN or infinite. A target whose outputs or predicted outputs are
// constant over the subsets is not an error: its LDS is NaN and it is
// counted in Result.Constant.
func Compute(scores []float32, n, t int, subsets [][]int, outputs []float64) (Result, error) {
	if err := checkShapes(scores, n, t, subsets, outputs); err != nil {
		return Result{}, fmt.Errorf("lds: %w", err)
	}
	pred := Predict(scores, n, t, subsets)
	m := len(subsets)
	res := Result{PerTarget: make([]float64, t)}
	f := make([]float64, m)
	g := make([]float64, m)
	for c := range t {
		for j := range m {
			f[j] = outputs[j*t+c]
			g[j] = pred[j*t+c]
		}
		rho, err := Spearman(f, g)
		switch {
		case errors.Is(err, ErrConstant):
			res.PerTarget[c] = math.NaN()
			res.Constant++
		case err != nil:
			// Inputs were checked finite; a sum of finite float32 values
			// in float64 cannot overflow, so this is not reachable.
			return Result{}, fmt.Errorf("lds: target %d: %w", c, err)
		default:
			res.PerTarget[c] = rho
		}
	}
	res.Mean, res.StdErr, res.Count = meanStdErr(res.PerTarget)
	return res, nil
}

func checkShapes(scores []float32, n, t int, subsets [][]int, outputs []float64) error {
	if n < 1 || t < 1 {
		return fmt.Errorf("score matrix %d × %d: need at least one train row and one target", n, t)
	}
	if len(scores) != n*t {
		return fmt.Errorf("%d scores, want N × T = %d × %d = %d", len(scores), n, t, n*t)
	}
	m := len(subsets)
	if m < 3 {
		return fmt.Errorf("%d subsets, need at least 3 for a rank correlation", m)
	}
	if len(outputs) != m*t {
		return fmt.Errorf("%d outputs, want M × T = %d × %d = %d", len(outputs), m, t, m*t)
	}
	for j, s := range subsets {
		for _, i := range s {
			if i < 0 || i >= n {
				return fmt.Errorf("subset %d holds row %d, outside the %d train rows", j, i, n)
			}
		}
	}
	for k, v := range scores {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("score of train row %d, target %d is %v, not a finite number", k/t, k%t, v)
		}
	}
	for k, v := range outputs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("output of subset model %d, target %d is %v, not a finite number", k/t, k%t, v)
		}
	}
	return nil
}

// meanStdErr returns the mean of the non-NaN values, its standard error
// s/√count (s with count − 1 in the denominator) and the count; the mean is
// NaN when count is 0 and the standard error NaN when count < 2.
func meanStdErr(v []float64) (mean, stdErr float64, count int) {
	var sum float64
	for _, a := range v {
		if !math.IsNaN(a) {
			sum += a
			count++
		}
	}
	if count == 0 {
		return math.NaN(), math.NaN(), 0
	}
	mean = sum / float64(count)
	if count < 2 {
		return mean, math.NaN(), count
	}
	var ss float64
	for _, a := range v {
		if !math.IsNaN(a) {
			ss += (a - mean) * (a - mean)
		}
	}
	sd := math.Sqrt(ss / float64(count-1))
	return mean, sd / math.Sqrt(float64(count)), count
}
