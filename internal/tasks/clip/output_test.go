package clip

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func unit(rng *rand.Rand, d int) []float32 {
	v := make([]float64, d)
	n := 0.0
	for i := range v {
		v[i] = rng.NormFloat64()
		n += v[i] * v[i]
	}
	out := make([]float32, d)
	for i := range v {
		out[i] = float32(v[i] / math.Sqrt(n))
	}
	return out
}

func randomTable(rng *rand.Rand, n, d int) Table {
	t := Table{N: n, Dim: d}
	for range n {
		t.Image = append(t.Image, unit(rng, d)...)
		t.Text = append(t.Text, unit(rng, d)...)
	}
	return t
}

// TestOutputGradient: ∂f/∂φ and ∂f/∂ψ against central differences of f
// (float64, h = 1e-6: truncation ~1e-12, rounding ~1e-10; the gradient is
// returned in float32, so 1e-6 absolute).
func TestOutputGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const d, h, tol = 8, 1e-6, 1e-6
	tab := randomTable(rng, 30, d)
	neg := []int{0, 3, 4, 10, 29}
	phi, psi := unit(rng, d), unit(rng, d)
	dphi, dpsi := make([]float32, d), make([]float32, d)
	Output(phi, psi, tab, neg, 100, dphi, dpsi)
	f := func(p, s []float64) float64 {
		p32, s32 := make([]float32, d), make([]float32, d)
		for i := range d {
			p32[i], s32[i] = float32(p[i]), float32(s[i])
		}
		// f in float64 straight from the definition.
		dot := func(a []float64, b []float32) float64 {
			r := 0.0
			for i := range a {
				r += a[i] * float64(b[i])
			}
			return r
		}
		pp := 0.0
		for i := range d {
			pp += p[i] * s[i]
		}
		var sa, sb float64
		for _, j := range neg {
			sa += math.Exp(-(pp - dot(p, tab.Text[j*d:(j+1)*d])))
			sb += math.Exp(-(pp - dot(s, tab.Image[j*d:(j+1)*d])))
		}
		return -math.Log(sa) - math.Log(sb)
	}
	p, s := make([]float64, d), make([]float64, d)
	for i := range d {
		p[i], s[i] = float64(phi[i]), float64(psi[i])
	}
	for i := range d {
		p[i] += h
		up := f(p, s)
		p[i] -= 2 * h
		down := f(p, s)
		p[i] += h
		if fd := (up - down) / (2 * h); math.Abs(fd-float64(dphi[i])) > tol {
			t.Errorf("∂f/∂φ[%d] = %g, finite difference %g", i, dphi[i], fd)
		}
		s[i] += h
		up = f(p, s)
		s[i] -= 2 * h
		down = f(p, s)
		s[i] += h
		if fd := (up - down) / (2 * h); math.Abs(fd-float64(dpsi[i])) > tol {
			t.Errorf("∂f/∂ψ[%d] = %g, finite difference %g", i, dpsi[i], fd)
		}
	}
}

// TestOutQ: Q against the softmax written out, and f's value against the
// definition; both with a temperature large enough to need the max shift.
func TestOutQ(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const d = 6
	tab := randomTable(rng, 10, d)
	neg := []int{1, 2, 5, 7}
	phi, psi := unit(rng, d), unit(rng, d)
	dphi, dpsi := make([]float32, d), make([]float32, d)
	for _, temp := range []float64{1, 14.3, 100, 1000} {
		f, q := Output(phi, psi, tab, neg, temp, dphi, dpsi)
		dot := func(a, b []float32) float64 {
			r := 0.0
			for i := range a {
				r += float64(a[i]) * float64(b[i])
			}
			return r
		}
		pp := dot(phi, psi)
		// Shift by the largest logit to keep exp finite at T = 1000.
		rowLogits := []float64{temp * pp}
		colLogits := []float64{temp * pp}
		for _, j := range neg {
			rowLogits = append(rowLogits, temp*dot(phi, tab.Text[j*d:(j+1)*d]))
			colLogits = append(colLogits, temp*dot(psi, tab.Image[j*d:(j+1)*d]))
		}
		first := func(l []float64) float64 {
			m := l[0]
			for _, v := range l {
				m = math.Max(m, v)
			}
			s := 0.0
			for _, v := range l {
				s += math.Exp(v - m)
			}
			return math.Exp(l[0]-m) / s
		}
		wantQ := 1 - (first(rowLogits)+first(colLogits))/2
		if math.Abs(q-wantQ) > 1e-12 {
			t.Errorf("T=%g: Q = %.15g, want %.15g", temp, q, wantQ)
		}
		var sa, sb float64
		for _, j := range neg {
			sa += math.Exp(dot(phi, tab.Text[j*d:(j+1)*d]) - pp)
			sb += math.Exp(dot(psi, tab.Image[j*d:(j+1)*d]) - pp)
		}
		if want := -math.Log(sa) - math.Log(sb); math.Abs(f-want) > 1e-12 {
			t.Errorf("f = %.15g, want %.15g", f, want)
		}
	}
}

func TestNegatives(t *testing.T) {
	s := NewSampler(7, 2, 1000, 300)
	for _, i := range []int{0, 1, 999} {
		neg := s.Negatives(i, i, 0)
		if len(neg) != 300 {
			t.Fatalf("example %d: %d negatives", i, len(neg))
		}
		for k, v := range neg {
			if v == i || v < 0 || v >= 1000 || (k > 0 && v <= neg[k-1]) {
				t.Fatalf("example %d: negatives %v not ascending distinct rows without %d", i, neg, i)
			}
		}
		again := NewSampler(7, 2, 1000, 300).Negatives(i, i, 0)
		for k := range neg {
			if neg[k] != again[k] {
				t.Fatal("the draw is not deterministic")
			}
		}
	}
	if a, b := s.Negatives(5, 5, 0), NewSampler(7, 3, 1000, 300).Negatives(5, 5, 0); slices.Equal(a, b) {
		t.Error("another model id gives the same negatives")
	}
	if a, b := s.Negatives(5, 5, 0), s.Negatives(5, -1, 1); slices.Equal(a, b) {
		t.Error("the target stream repeats the train stream")
	}
	small := NewSampler(1, 0, 10, 300)
	if got := small.Negatives(3, 3, 0); !slices.Equal(got, []int{0, 1, 2, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("sim_batch_size ≥ n−1: %v, want every other row", got)
	}
	if got := small.Negatives(3, -1, 1); len(got) != 10 {
		t.Errorf("a target with sim_batch_size ≥ n: %v, want all rows", got)
	}
	if got := NewSampler(1, 0, 10, 9).Negatives(3, -1, 1); len(got) != 10 {
		t.Errorf("a target with sim_batch_size = n − 1: %v, want all rows", got)
	}
}

// TestNegativesUniform: each other row is drawn with probability m/(n−1);
// over 4000 draws of 10 of 40 rows the counts' chi-square (38 degrees of
// freedom) stays below 70 (p ≈ 0.001).
func TestNegativesUniform(t *testing.T) {
	const n, m, draws = 41, 10, 4000
	s := NewSampler(3, 0, n, m)
	counts := make([]float64, n)
	for i := range draws {
		for _, v := range s.Negatives(i, 40, 0) {
			counts[v]++
		}
	}
	if counts[40] != 0 {
		t.Fatal("the excluded row was drawn")
	}
	want := float64(draws*m) / (n - 1)
	chi := 0.0
	for _, c := range counts[:40] {
		chi += (c - want) * (c - want) / want
	}
	if chi > 70 {
		t.Errorf("chi-square %.1f over 39 rows: not uniform", chi)
	}
}

func TestRestrict(t *testing.T) {
	s := NewSampler(9, 1, 50, 7)
	all := make([]int, 50)
	for i := range all {
		all[i] = i
	}
	if a, b := s.Negatives(4, 4, 0), s.Restrict(all).Negatives(4, 4, 0); !slices.Equal(a, b) {
		t.Errorf("restricting to every row changed the draw: %v vs %v", a, b)
	}
	good := []int{1, 2, 5, 8, 13, 21, 34, 40, 41, 42, 49}
	for i := range 20 {
		for _, v := range s.Restrict(good).Negatives(i, 8, 0) {
			if v == 8 || !slices.Contains(good, v) {
				t.Fatalf("drew row %d outside %v or the excluded 8", v, good)
			}
		}
	}
}
