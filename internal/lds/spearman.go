package lds

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrConstant is returned (wrapped) by Spearman when one side has the same
// value everywhere, where a rank correlation is undefined.
var ErrConstant = errors.New("constant values: rank correlation undefined")

// Spearman returns Spearman's rank correlation ρ of x and y: the Pearson
// correlation of their ranks, with tied values given the average of the
// ranks they span. It is in [−1, 1].
//
// It returns an error, never NaN: when the lengths differ, when there are
// fewer than 3 pairs (two points always correlate ±1), when a value is NaN
// or infinite, and, wrapping ErrConstant, when x or y is constant.
func Spearman(x, y []float64) (float64, error) {
	if len(x) != len(y) {
		return 0, fmt.Errorf("spearman: %d x values and %d y values", len(x), len(y))
	}
	if len(x) < 3 {
		return 0, fmt.Errorf("spearman: %d pairs, need at least 3", len(x))
	}
	if err := checkFinite("x", x); err != nil {
		return 0, fmt.Errorf("spearman: %w", err)
	}
	if err := checkFinite("y", y); err != nil {
		return 0, fmt.Errorf("spearman: %w", err)
	}
	if isConstant(x) {
		return 0, fmt.Errorf("spearman: x: %w", ErrConstant)
	}
	if isConstant(y) {
		return 0, fmt.Errorf("spearman: y: %w", ErrConstant)
	}
	return pearson(ranks(x), ranks(y)), nil
}

func checkFinite(name string, v []float64) error {
	for i, a := range v {
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return fmt.Errorf("%s[%d] is %v, not a finite number", name, i, a)
		}
	}
	return nil
}

func isConstant(v []float64) bool {
	for _, a := range v[1:] {
		if a != v[0] {
			return false
		}
	}
	return true
}

// ranks returns the 1-based rank of each value, ties sharing the mean of the
// ranks they occupy. Average ranks are exact in float64 (halves of integers).
func ranks(v []float64) []float64 {
	order := make([]int, len(v))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case v[a] < v[b]:
			return -1
		case v[a] > v[b]:
			return 1
		}
		return 0
	})
	r := make([]float64, len(v))
	for lo := 0; lo < len(order); {
		hi := lo + 1
		for hi < len(order) && v[order[hi]] == v[order[lo]] {
			hi++
		}
		// Positions lo..hi−1 hold ranks lo+1..hi, whose mean is (lo+1+hi)/2.
		avg := float64(lo+1+hi) / 2
		for _, i := range order[lo:hi] {
			r[i] = avg
		}
		lo = hi
	}
	return r
}

// pearson returns the Pearson correlation of two non-constant vectors,
// centred first (two-pass) so that no large sums cancel, and clamped to
// [−1, 1] against rounding.
func pearson(x, y []float64) float64 {
	mx, my := mean(x), mean(y)
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	return max(-1, min(1, sxy/math.Sqrt(sxx*syy)))
}

func mean(v []float64) float64 {
	var s float64
	for _, a := range v {
		s += a
	}
	return s / float64(len(v))
}
