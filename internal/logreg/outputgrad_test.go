package logreg

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

const (
	// fdStep is h in the central difference (f(z+h·e_c) − f(z−h·e_c)) / 2h.
	// Its truncation error is h²/6·|∂³f| ≤ 1e-12 (the third derivatives of
	// a log-sum-exp are bounded by 1) and its rounding error is about
	// ulp(f)/h ≈ 2e-10 for |f| ~ 1; h ≈ 1e-6 balances the two in float64.
	fdStep = 1e-6
	// fdTol bounds |FD − ∂f/∂z_c| for moderate logits (|z| ≤ ~20): the
	// errors above stay below ~5e-9 there, so 1e-7 leaves > 20× headroom,
	// while a wrong derivative (a dropped term, a wrong sign, a softmax over
	// all classes instead of c ≠ y) is off by ≥ 1e-3 on these cases. Every
	// ∂f/∂z_c lies in [−1, 1], so this is a relative bound too.
	fdTol = 1e-7
	// fdRoundUlps covers large logits: with logits as large as M, f is z_y
	// minus a log-sum-exp of size ~M and carries an absolute rounding error
	// of a few ulps of M, which the difference quotient divides by 2h. The
	// tolerance adds fdRoundUlps·eps·M/h for it (≈ 1.3e-6 at M = 700).
	fdRoundUlps = 8
	// fTolUlps: f is the difference of two terms of size ≤ M, each correct
	// to a few ulps, so |f − reference| ≤ fTolUlps·eps·(1+M).
	fTolUlps = 16
	// qTolUlps: Q = 1/(1+e^f) has a relative error about equal to the
	// absolute error of f, so |Q − reference| ≤ qTolUlps·eps·(1+M)·Q, plus
	// float32Invisible for Q that underflow (Q is stored as float32).
	qTolUlps = 16
	// dzSumUlps: the −∂f/∂z_c for c ≠ y are e_c/S, each rounded once, and
	// they are summed in float64, so |Σ_c ∂f/∂z_c| ≤ dzSumUlps·C·eps.
	dzSumUlps = 4
	// softmaxTolUlps: 1 − softmax(z)_y computed naively has an absolute
	// error of a few ulps of 1 (the softmax has C roundings), and Q inherits
	// f's absolute error of a few ulps of M (see qTolUlps; e.g. with all
	// logits at 1000, f = 1000 − (1000 + log 2) is off by ~ulp(1000)), so
	// they agree to softmaxTolUlps·eps·(C + M) in absolute terms — which is
	// all the naive form can offer when p_y ≈ 1.
	softmaxTolUlps = 4
)

// naiveF is f from its definition, z_y − log Σ_{c≠y} e^{z_c}, without the
// max shift the implementation uses. It is accurate for |z| ≲ 30 and is an
// independent check there; for larger logits the sum overflows or
// underflows, which is why OutputGrad must not compute f this way.
func naiveF(z []float64, y int) float64 {
	var s float64
	for c, v := range z {
		if c != y {
			s += math.Exp(v)
		}
	}
	return z[y] - math.Log(s)
}

// refQ is 1 − p_y as Σ_{c≠y} e^{z_c−m} / Σ_c e^{z_c−m}, m = max z: a ratio
// of two sums of positive terms, so it is accurate to a few ulps even where
// 1 − p_y would cancel to zero.
func refQ(z []float64, y int) float64 {
	m := slices.Max(z)
	var other, all float64
	for c, v := range z {
		e := math.Exp(v - m)
		all += e
		if c != y {
			other += e
		}
	}
	return other / all
}

// softmaxY is softmax(z)_y computed the textbook way (with the max shift).
func softmaxY(z []float64, y int) float64 {
	m := slices.Max(z)
	var s float64
	for _, v := range z {
		s += math.Exp(v - m)
	}
	return math.Exp(z[y]-m) / s
}

type outputCase struct {
	name string
	z    []float64
	y    int
	// wantF, wantQ are closed forms; NaN means compare f with naiveF (only
	// allowed for max|z| ≤ 30) and Q with refQ.
	wantF, wantQ float64
	// wantDz is the closed-form ∂f/∂z, or nil to rely on finite differences.
	wantDz []float64
}

func outputCases() []outputCase {
	nan := math.NaN()
	e700 := math.Exp(-700)
	cases := []outputCase{
		{name: "C=2 zero logits", z: []float64{0, 0}, y: 0, wantF: 0, wantQ: 0.5, wantDz: []float64{1, -1}},
		{name: "C=2 y=1", z: []float64{0.25, -1.5}, y: 1, wantF: -1.75, wantQ: 1 / (1 + math.Exp(-1.75)), wantDz: []float64{-1, 1}},
		{name: "C=3 equal logits", z: []float64{2, 2, 2}, y: 2, wantF: -math.Ln2, wantQ: 2.0 / 3, wantDz: []float64{-0.5, -0.5, 1}},
		{name: "C=3 moderate", z: []float64{1.5, -0.5, 3}, y: 0, wantF: nan, wantQ: nan},
		{name: "C=5 y not max", z: []float64{-2, 4, 0.5, 1, -3}, y: 3, wantF: nan, wantQ: nan},
		// Extreme logits. A naive log(p/(1−p)) overflows or divides by zero
		// on every one of these.
		{name: "C=3 |z|=700 y max", z: []float64{700, 0, -700}, y: 0,
			wantF: 700 - math.Log1p(e700), wantQ: e700, wantDz: []float64{1, -1 / (1 + e700), -e700 / (1 + e700)}},
		{name: "C=3 |z|=700 y min", z: []float64{700, 0, -700}, y: 2,
			wantF: -1400, wantQ: 1, wantDz: []float64{-1, -e700, 1}},
		{name: "C=3 |z|=700 y middle", z: []float64{700, 0, -700}, y: 1,
			wantF: -700, wantQ: 1, wantDz: []float64{-1, 1, 0}},
		{name: "C=2 |z|=50", z: []float64{-50, 50}, y: 0, wantF: -100, wantQ: 1, wantDz: []float64{1, -1}},
		// p_y ≈ 1 − 3e^−100: naive 1 − p_y is exactly 0, so log(1 − p_y) = −Inf.
		{name: "C=4 p_y rounds to 1", z: []float64{50, -50, -50, -50}, y: 0,
			wantF: 100 - math.Log(3), wantQ: 3 * math.Exp(-100), wantDz: []float64{1, -1.0 / 3, -1.0 / 3, -1.0 / 3}},
		// e^1000 overflows: only the max shift keeps this finite.
		{name: "C=3 all 1000", z: []float64{1000, 1000, 1000}, y: 1, wantF: -math.Ln2, wantQ: 2.0 / 3, wantDz: []float64{-0.5, 1, -0.5}},
		{name: "C=3 all -1000", z: []float64{-1000, -1000, -1000}, y: 0, wantF: -math.Ln2, wantQ: 2.0 / 3, wantDz: []float64{1, -0.5, -0.5}},
		// e^−745 is the last float64 above zero.
		{name: "C=2 |z|=745", z: []float64{-745, 0}, y: 0, wantF: -745, wantQ: 1, wantDz: []float64{1, -1}},
		// f = 720: e^f overflows to +Inf and Q = 1/(1+Inf) = 0, within
		// float32Invisible of the true e^−720 ≈ 2e-313.
		{name: "C=2 f beyond exp range", z: []float64{0, 720}, y: 1, wantF: 720, wantQ: math.Exp(-720), wantDz: []float64{-1, 1}},
		{name: "C=5 others at -700", z: []float64{0, -700, -700, -700, -700}, y: 0,
			wantF: 700 - math.Log(4), wantQ: 4 * e700, wantDz: []float64{1, -0.25, -0.25, -0.25, -0.25}},
	}
	rng := newRand(1)
	for i := range 40 {
		c := []int{2, 3, 5, 10}[i%4]
		z := make([]float64, c)
		for k := range z {
			z[k] = 4 * rng.NormFloat64()
		}
		cases = append(cases, outputCase{name: fmt.Sprintf("random %d C=%d", i, c), z: z, y: rng.IntN(c), wantF: nan, wantQ: nan})
	}
	return cases
}

func TestOutputGrad(t *testing.T) {
	for _, tc := range outputCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := len(tc.z)
			m := maxAbs(tc.z)
			dz := make([]float64, c)
			f, q := OutputGrad(tc.z, tc.y, dz)

			if math.IsNaN(f) || math.IsInf(f, 0) || math.IsNaN(q) || math.IsInf(q, 0) {
				t.Fatalf("f = %v, Q = %v: not finite", f, q)
			}
			for k, v := range dz {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("∂f/∂z_%d = %v: not finite", k, v)
				}
			}
			if q < 0 || q > 1 {
				t.Errorf("Q = %v outside [0, 1]", q)
			}

			wantF := tc.wantF
			if math.IsNaN(wantF) {
				if m > 30 {
					t.Fatalf("test bug: naiveF is not accurate for |z| = %v", m)
				}
				wantF = naiveF(tc.z, tc.y)
			}
			if tol := fTolUlps * eps * (1 + m); math.Abs(f-wantF) > tol {
				t.Errorf("f = %.17g, want %.17g (tolerance %.3g)", f, wantF, tol)
			}

			wantQ := tc.wantQ
			if math.IsNaN(wantQ) {
				wantQ = refQ(tc.z, tc.y)
			}
			if tol := qTolUlps*eps*(1+m)*wantQ + float32Invisible; math.Abs(q-wantQ) > tol {
				t.Errorf("Q = %.17g, want %.17g (tolerance %.3g)", q, wantQ, tol)
			}
			// Q is 1 − softmax(z)_y; the naive form is only good to an
			// absolute few ulps of 1, so that is the bound here.
			if naive, tol := 1-softmaxY(tc.z, tc.y), softmaxTolUlps*eps*(float64(c)+m); math.Abs(q-naive) > tol {
				t.Errorf("Q = %.17g, 1 − softmax(z)_y = %.17g (tolerance %.3g)", q, naive, tol)
			}

			if dz[tc.y] != 1 {
				t.Errorf("∂f/∂z_y = %v, want exactly 1", dz[tc.y])
			}
			var sum float64
			for _, v := range dz {
				sum += v
			}
			if tol := dzSumUlps * float64(c) * eps; math.Abs(sum) > tol {
				t.Errorf("Σ_c ∂f/∂z_c = %.3g, want 0 (tolerance %.3g)", sum, tol)
			}
			for k, v := range dz {
				if k != tc.y && v > 0 {
					t.Errorf("∂f/∂z_%d = %v > 0 for a class other than y", k, v)
				}
			}
			if tc.wantDz != nil {
				for k, want := range tc.wantDz {
					if tol := fTolUlps*eps*(1+m)*math.Abs(want) + float32Invisible; math.Abs(dz[k]-want) > tol {
						t.Errorf("∂f/∂z_%d = %.17g, want %.17g", k, dz[k], want)
					}
				}
			}

			// Central finite differences of f in every logit.
			scratch := make([]float64, c)
			zz := slices.Clone(tc.z)
			tol := fdTol + fdRoundUlps*eps*m/fdStep
			for k := range c {
				zp, zm := tc.z[k]+fdStep, tc.z[k]-fdStep
				zz[k] = zp
				fp, _ := OutputGrad(zz, tc.y, scratch)
				zz[k] = zm
				fm, _ := OutputGrad(zz, tc.y, scratch)
				zz[k] = tc.z[k]
				// zp − zm is exact (Sterbenz), so this divides by the step
				// actually taken, not the nominal 2h.
				fd := (fp - fm) / (zp - zm)
				if math.Abs(fd-dz[k]) > tol {
					t.Errorf("∂f/∂z_%d = %.12g, central difference %.12g (tolerance %.3g)", k, dz[k], fd, tol)
				}
			}
		})
	}
}

// For two classes f is the plain logit difference, so swapping y negates f
// exactly and the two Q add up to 1.
func TestOutputGradTwoClassSymmetry(t *testing.T) {
	// symTol: the two Q are each within a few ulps of their true values,
	// which add to exactly 1.
	const symTol = 4 * eps
	rng := newRand(2)
	dz := make([]float64, 2)
	for range 100 {
		z := []float64{5 * rng.NormFloat64(), 5 * rng.NormFloat64()}
		f0, q0 := OutputGrad(z, 0, dz)
		f1, q1 := OutputGrad(z, 1, dz)
		if f0 != z[0]-z[1] || f1 != -f0 {
			t.Errorf("z = %v: f(y=0) = %v, f(y=1) = %v, want ±(z0 − z1) = ±%v exactly", z, f0, f1, z[0]-z[1])
		}
		if math.Abs(q0+q1-1) > symTol {
			t.Errorf("z = %v: Q(y=0) + Q(y=1) = %.17g, want 1", z, q0+q1)
		}
	}
}

// dz is an output only: whatever it held before must not leak into the
// result.
func TestOutputGradIgnoresDzContents(t *testing.T) {
	z := []float64{0.5, -1, 2, 0}
	clean := make([]float64, len(z))
	f0, q0 := OutputGrad(z, 2, clean)
	dirty := []float64{math.NaN(), math.Inf(1), -7, 1e300}
	f1, q1 := OutputGrad(z, 2, dirty)
	if f0 != f1 || q0 != q1 || !sameBits(clean, dirty) {
		t.Errorf("results depend on the previous contents of dz: %v %v %v vs %v %v %v", f0, q0, clean, f1, q1, dirty)
	}
}
