package logreg

import (
	"math"
	"slices"
	"testing"
)

func TestGenerate(t *testing.T) {
	const n, d, c = 500, 6, 4
	a := Generate(n, d, c, 0.2, 42)
	if a.N != n || a.D != d || len(a.X) != n*d || len(a.Y) != n || len(a.Clean) != n {
		t.Fatalf("N=%d D=%d len(X)=%d len(Y)=%d len(Clean)=%d", a.N, a.D, len(a.X), len(a.Y), len(a.Clean))
	}
	for i := range n {
		if a.Y[i] < 0 || a.Y[i] >= c || a.Clean[i] < 0 || a.Clean[i] >= c {
			t.Fatalf("example %d: label %d, clean label %d, want both in [0, %d)", i, a.Y[i], a.Clean[i], c)
		}
	}
	for _, v := range a.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("feature %v", v)
		}
	}

	b := Generate(n, d, c, 0.2, 42)
	if !sameBits(a.X, b.X) || !slices.Equal(a.Y, b.Y) || !slices.Equal(a.Clean, b.Clean) {
		t.Error("two calls with the same arguments gave different data")
	}
	other := Generate(n, d, c, 0.2, 43)
	if sameBits(a.X, other.X) || slices.Equal(a.Y, other.Y) {
		t.Error("seeds 42 and 43 gave the same data")
	}
	if a.Fingerprint != "" {
		t.Errorf("Fingerprint = %q for generated data, want empty", a.Fingerprint)
	}
}

func TestGenerateFlip(t *testing.T) {
	const n, c = 4000, 3
	tests := []struct {
		flip   float64
		lo, hi float64 // accepted share of flipped labels
	}{
		{0, 0, 0},
		// Binomial(4000, 0.3) has sd 0.0072: ±4 sd.
		{0.3, 0.27, 0.33},
		{1, 1, 1},
	}
	for _, tc := range tests {
		g := Generate(n, 2, c, tc.flip, 9)
		flipped := 0
		counts := make([]int, c)
		for i := range n {
			if g.Y[i] != g.Clean[i] {
				flipped++
			}
			counts[g.Clean[i]]++
		}
		if share := float64(flipped) / n; share < tc.lo || share > tc.hi {
			t.Errorf("flip %v: %.4f of the labels differ from the clean ones, want [%v, %v]", tc.flip, share, tc.lo, tc.hi)
		}
		// Classes are uniform: each count is 4000/3 ± 4 sd (sd ≈ 30).
		for k, cnt := range counts {
			if cnt < 1213 || cnt > 1453 {
				t.Errorf("flip %v: class %d has %d of %d examples", tc.flip, k, cnt, n)
			}
		}
	}
}

func accuracy(m *Model, d *Data) float64 {
	z := make([]float64, m.C)
	right := 0
	for i := range d.N {
		m.Logits(d.Row(i), z)
		if slices.Index(z, slices.Max(z)) == d.Y[i] {
			right++
		}
	}
	return float64(right) / float64(d.N)
}

func TestTrainLearns(t *testing.T) {
	// minAccuracy: the three Gaussian classes of Generate(1000, 8, 3, 0, 1)
	// have centres ~2·√(2·8) ≈ 8 sd apart, so a working trainer is nearly
	// perfect, while an untrained model is at chance (1/3).
	const minAccuracy = 0.9
	d := Generate(1000, 8, 3, 0, 1)
	opt := TrainOptions{Classes: 3, Epochs: 100, LR: 0.5, L2: 1e-3, Seed: 1}
	if acc := accuracy(Train(d, TrainOptions{Classes: 3, Seed: 1}), d); acc > 0.6 {
		t.Fatalf("untrained model already at %.3f accuracy: the test cannot tell training apart", acc)
	}
	m := Train(d, opt)
	if m.C != 3 || m.D != 8 || len(m.W) != 24 || len(m.B) != 3 {
		t.Fatalf("model C=%d D=%d len(W)=%d len(B)=%d", m.C, m.D, len(m.W), len(m.B))
	}
	if acc := accuracy(m, d); acc <= minAccuracy {
		t.Errorf("train accuracy %.3f, want > %v", acc, minAccuracy)
	}
	// It generalises to fresh points of the same classes (the tail of a
	// longer draw with the same seed shares the class centres).
	fresh := Generate(2000, 8, 3, 0, 1)
	fresh = &Data{N: 1000, D: 8, X: fresh.X[1000*8:], Y: fresh.Y[1000:]}
	if acc := accuracy(m, fresh); acc <= minAccuracy {
		t.Errorf("accuracy on fresh points %.3f, want > %v", acc, minAccuracy)
	}
}

func TestTrainDeterministic(t *testing.T) {
	d := Generate(300, 5, 4, 0.1, 3)
	for _, boot := range []bool{false, true} {
		opt := TrainOptions{Classes: 4, Epochs: 30, LR: 0.3, L2: 1e-2, Seed: 5, Bootstrap: boot}
		a, b := Train(d, opt), Train(d, opt)
		if !sameBits(a.W, b.W) || !sameBits(a.B, b.B) {
			t.Errorf("bootstrap %v: two runs with the same options differ", boot)
		}
		opt.Seed = 6
		if c := Train(d, opt); sameBits(a.W, c.W) {
			t.Errorf("bootstrap %v: seeds 5 and 6 gave the same weights", boot)
		}
	}
	// With the same seed the initial weights agree, so after one step
	// only the bootstrap resample can make the models differ.
	opt := TrainOptions{Classes: 4, Epochs: 1, LR: 0.3, Seed: 5}
	plain := Train(d, opt)
	opt.Bootstrap = true
	if boot := Train(d, opt); sameBits(plain.W, boot.W) {
		t.Error("Bootstrap did not change the training sample")
	}
}

// objective is Train's documented objective in float64: the mean
// cross-entropy over d plus L2/2·‖W‖² (the biases are not decayed).
func objective(m *Model, d *Data, l2 float64) float64 {
	z := make([]float64, m.C)
	var ce float64
	for i := range d.N {
		m.Logits(d.Row(i), z)
		mx := slices.Max(z)
		var s float64
		for _, v := range z {
			s += math.Exp(v - mx)
		}
		ce += mx + math.Log(s) - z[d.Y[i]]
	}
	var w2 float64
	for _, v := range m.W {
		w2 += v * v
	}
	return ce/float64(d.N) + l2/2*w2
}

// Each epoch is one gradient step on the documented objective: Train with
// k and k+1 epochs from the same seed gives the step, and the step divided by
// the learning rate must equal the objective's gradient by central finite
// differences.
func TestTrainStepIsObjectiveGradient(t *testing.T) {
	const (
		// stepTol: the objective is ~1 and smooth, so its central
		// difference with paramStep is good to ~1e-9; the step recovered
		// from two float64 weight vectors loses ~eps·|W|/LR ≲ 1e-15.
		stepTol = 1e-7
		lr      = 0.25
		l2      = 0.5 // large, so a missing or mis-scaled decay term shows
	)
	d := Generate(60, 3, 3, 0.2, 8)
	for _, k := range []int{0, 4} {
		opt := TrainOptions{Classes: 3, Epochs: k, LR: lr, L2: l2, Seed: 2}
		before := Train(d, opt)
		opt.Epochs = k + 1
		after := Train(d, opt)
		for p := range int(before.NumParams()) {
			step := (*param(before, p) - *param(after, p)) / lr
			ptr := param(before, p)
			orig := *ptr
			*ptr = orig + paramStep
			jp := objective(before, d, l2)
			*ptr = orig - paramStep
			jm := objective(before, d, l2)
			*ptr = orig
			fd := (jp - jm) / ((orig + paramStep) - (orig - paramStep))
			if math.Abs(step-fd) > stepTol {
				t.Errorf("after %d epochs, parameter %d: step/LR = %.10g, objective gradient %.10g", k, p, step, fd)
			}
		}
	}
}
