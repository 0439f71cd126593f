package clip

// This file is TRAK's model-output function for CLIP and its out-to-loss
// term, with the negatives they are computed against.
//
// For a pair z = (x, y) with live, normalised embeddings φ = φ(x; θ) and
// ψ = ψ(y; θ), and a set S(z) of negatives whose embedding-table rows
// (φ_j, ψ_j) are constants:
//
//	f(z) = −log Σ_{j∈S} exp(−(φ·ψ − φ·ψ_j)) − log Σ_{j∈S} exp(−(ψ·φ − ψ·φ_j))
//	     = 2 φ·ψ − LSE_{j∈S}(φ·ψ_j) − LSE_{j∈S}(ψ·φ_j)
//
// (no temperature inside f), so
//
//	∂f/∂φ = 2ψ − Σ_j a_j ψ_j,  a = softmax_j(φ·ψ_j)
//	∂f/∂ψ = 2φ − Σ_j b_j φ_j,  b = softmax_j(ψ·φ_j).
//
// The out-to-loss term is Q(z) = 1 − (p_row + p_col)/2, where p_row is the
// softmax probability of the true caption for the image over the logits
// T·φ·{ψ, ψ_j : j ∈ S} and p_col that of the true image for the caption
// over T·ψ·{φ, φ_j : j ∈ S}, T = exp(logit_scale) of the checkpoint.
//
// Negatives are drawn by Sampler: a deterministic function of (seed,
// model id, example index), independent of batches, workers and order.

import (
	"math"
	"slices"

	"github.com/trak-dev/trak/internal/philox"
)

// Table is the embedding table of a train set at one checkpoint: row j of
// Image and Text (N × Dim, row-major) holds φ_j and ψ_j.
type Table struct {
	Image, Text []float32
	N, Dim      int
}

// Output returns f(z), ∂f/∂φ and ∂f/∂ψ (written into dphi, dpsi) and
// Q(z) for one pair, given its embeddings, the table, its negatives and
// the temperature. Everything is computed in float64.
func Output(phi, psi []float32, t Table, neg []int, temperature float64, dphi, dpsi []float32) (f, q float64) {
	d := t.Dim
	dot := func(a []float32, b []float32) float64 {
		s := 0.0
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	pp := dot(phi, psi)
	a := make([]float64, len(neg)) // φ·ψ_j
	b := make([]float64, len(neg)) // ψ·φ_j
	for k, j := range neg {
		a[k] = dot(phi, t.Text[j*d:(j+1)*d])
		b[k] = dot(psi, t.Image[j*d:(j+1)*d])
	}
	lseA, lseB := logSumExp(a, 1), logSumExp(b, 1)
	f = 2*pp - lseA - lseB
	gphi, gpsi := make([]float64, d), make([]float64, d)
	for i := range d {
		gphi[i] = 2 * float64(psi[i])
		gpsi[i] = 2 * float64(phi[i])
	}
	for k, j := range neg {
		wa, wb := math.Exp(a[k]-lseA), math.Exp(b[k]-lseB)
		rowT, rowI := t.Text[j*d:(j+1)*d], t.Image[j*d:(j+1)*d]
		for i := range d {
			gphi[i] -= wa * float64(rowT[i])
			gpsi[i] -= wb * float64(rowI[i])
		}
	}
	for i := range d {
		dphi[i], dpsi[i] = float32(gphi[i]), float32(gpsi[i])
	}
	// p_row = e^{T·φ·ψ} / (e^{T·φ·ψ} + Σ_j e^{T·φ·ψ_j}), p_col likewise.
	pRow := math.Exp(temperature*pp - logSumExpWith(a, temperature, temperature*pp))
	pCol := math.Exp(temperature*pp - logSumExpWith(b, temperature, temperature*pp))
	return f, 1 - (pRow+pCol)/2
}

// logSumExp returns log Σ exp(scale·x_k); −Inf for no terms.
func logSumExp(x []float64, scale float64) float64 {
	return logSumExpWith(x, scale, math.Inf(-1))
}

// logSumExpWith returns log(e^{extra} + Σ exp(scale·x_k)).
func logSumExpWith(x []float64, scale, extra float64) float64 {
	m := extra
	for _, v := range x {
		m = math.Max(m, scale*v)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := math.Exp(extra - m)
	for _, v := range x {
		s += math.Exp(scale*v - m)
	}
	return m + math.Log(s)
}

// domainNegatives separates the negatives' Philox stream from the
// projection's (domains 1 and 2).
const domainNegatives = 3

// Sampler draws the negatives of each example.
type Sampler struct {
	key  philox.Key
	rows []int // candidate rows, ascending; nil means 0..n−1
	n, m int
}

// NewSampler returns the sampler for a table of n rows and sim_batch_size
// m, for checkpoint modelID: key = KeyFromSeed(seed ⊕ SplitMix64(modelID)),
// the projection's key derivation, with its own counter domain.
func NewSampler(seed int64, modelID, n, m int) Sampler {
	k := philox.KeyFromSeed(uint64(seed) ^ philox.SplitMix64(uint64(int64(modelID))))
	return Sampler{key: k, n: n, m: m}
}

// Restrict returns a sampler that draws only from rows (ascending), for
// tables with skipped bad examples: the draw is made over positions in
// rows, so with no row removed it equals the unrestricted draw.
func (s Sampler) Restrict(rows []int) Sampler {
	s.rows, s.n = rows, len(rows)
	return s
}

// Negatives returns the negatives of example i (see negatives), as rows.
func (s Sampler) Negatives(i, exclude, stream int) []int {
	if s.rows == nil {
		return s.negatives(i, exclude, stream)
	}
	pos := -1
	if exclude >= 0 {
		if p, ok := slices.BinarySearch(s.rows, exclude); ok {
			pos = p
		}
	}
	out := s.negatives(i, pos, stream)
	for k, p := range out {
		out[k] = s.rows[p]
	}
	return out
}

// negatives returns the negatives of example i in ascending order: m rows
// of the table drawn uniformly without replacement, never row exclude (the
// example's own row for a train pair; −1 for a target); every candidate
// when m ≥ n − 1 (n = table size; docs/math.md, Negatives), so a target then
// gets the whole table. stream separates the draws of train
// examples (0) from those of an experiment's targets (1).
//
// The draw is Floyd's algorithm over the candidates 0..c−1 (c = n, or n−1
// with a row excluded, candidate r ≥ exclude standing for row r+1), with
// uniform integers from Philox blocks of counter (call, i, stream,
// domainNegatives) by rejection sampling, so it depends on nothing but
// (seed, model id, stream, i).
func (s Sampler) negatives(i, exclude, stream int) []int {
	c := s.n
	if exclude >= 0 && exclude < s.n {
		c--
	}
	var out []int
	if s.m >= s.n-1 || s.m >= c { // docs/math.md: every other row once sim_batch_size ≥ table size − 1
		out = make([]int, c)
		for r := range c {
			out[r] = r
		}
	} else {
		r := newStream(s.key, uint32(i), uint32(stream))
		chosen := make(map[int]bool, s.m)
		out = make([]int, 0, s.m)
		for j := c - s.m; j < c; j++ {
			v := r.intn(j + 1)
			if chosen[v] {
				v = j
			}
			chosen[v] = true
			out = append(out, v)
		}
		slices.Sort(out)
	}
	if exclude >= 0 && exclude < s.n {
		for k, v := range out {
			if v >= exclude {
				out[k] = v + 1
			}
		}
	}
	return out
}

// stream is a sequence of uniform uint32 from consecutive Philox blocks.
type stream struct {
	key       philox.Key
	i, stream uint32
	call      uint32
	buf       [4]uint32
	used      int
}

func newStream(k philox.Key, i, s uint32) *stream {
	return &stream{key: k, i: i, stream: s, used: 4}
}

func (r *stream) next() uint32 {
	if r.used == 4 {
		r.buf = philox.Block(r.key, philox.Counter{r.call, r.i, r.stream, domainNegatives})
		r.call++
		r.used = 0
	}
	v := r.buf[r.used]
	r.used++
	return v
}

// intn returns a uniform integer in [0, n) by rejection (no modulo bias).
func (r *stream) intn(n int) int {
	limit := uint32((uint64(1) << 32) / uint64(n) * uint64(n))
	for {
		v := r.next()
		if limit == 0 || v < limit {
			return int(uint64(v) % uint64(n))
		}
	}
}
