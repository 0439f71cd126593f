package lds

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// SubsetSize returns k = round(α·n), the number of rows of each subset, after
// checking that 0 < α < 1, n ≥ 2 and 1 ≤ k ≤ n−1: a subset of no row or of
// every row gives all subset models the same predicted output.
func SubsetSize(n int, alpha float64) (int, error) {
	if n < 2 {
		return 0, fmt.Errorf("subsets of %d train rows: need at least 2", n)
	}
	if !(alpha > 0 && alpha < 1) { // also rejects NaN
		return 0, fmt.Errorf("subset fraction α = %v: need 0 < α < 1", alpha)
	}
	k := int(math.Round(alpha * float64(n)))
	if k < 1 || k > n-1 {
		return 0, fmt.Errorf("subset fraction α = %v of %d train rows gives %d rows per subset: need between 1 and %d (choose α further from 0 and 1)", alpha, n, k, n-1)
	}
	return k, nil
}

// Subsets returns m subsets of {0, …, n−1}, each of exactly round(α·n) rows
// in increasing order. Subset j depends only on (seed, j, n, α), so the first
// m subsets are the same whatever number of subsets is drawn.
func Subsets(n, m int, alpha float64, seed uint64) ([][]int, error) {
	if m < 1 {
		return nil, fmt.Errorf("%d subsets: need at least 1", m)
	}
	k, err := SubsetSize(n, alpha)
	if err != nil {
		return nil, err
	}
	out := make([][]int, m)
	perm := make([]int, n)
	for j := range out {
		out[j] = drawSubset(perm, k, subsetRNG(seed, j))
	}
	return out, nil
}

// subsetRNG is the generator of subset j. The stream word is j passed
// through a 64-bit mixer (the SplitMix64 finaliser) rather than j itself, so
// that the states of neighbouring subsets differ in many bits from the start.
func subsetRNG(seed uint64, j int) *rand.Rand {
	z := uint64(j) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return rand.New(rand.NewPCG(seed, z))
}

// drawSubset draws k of the len(perm) indices uniformly without replacement
// by the first k steps of a Fisher–Yates shuffle (perm is scratch space) and
// returns them sorted.
func drawSubset(perm []int, k int, rng *rand.Rand) []int {
	for i := range perm {
		perm[i] = i
	}
	n := len(perm)
	for i := range k {
		r := i + rng.IntN(n-i)
		perm[i], perm[r] = perm[r], perm[i]
	}
	s := slices.Clone(perm[:k])
	slices.Sort(s)
	return s
}
