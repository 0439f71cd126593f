package projection

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// bigSum is the reference for exactAcc: the exact sum of the finite values in
// math/big (each float32 is an integer multiple of 2⁻¹⁴⁹), rounded to
// float32 by big.Float (nearest, ties to even, with subnormals and overflow to
// ±Inf), and the IEEE rules for NaN and infinities.
func bigSum(v []float32) float32 {
	var nan, pos, neg bool
	sum := new(big.Int)
	for _, f := range v {
		switch {
		case f != f:
			nan = true
		case math.IsInf(float64(f), 1):
			pos = true
		case math.IsInf(float64(f), -1):
			neg = true
		default:
			x := new(big.Float).SetFloat64(float64(f))
			x.SetMantExp(x, 149)
			i, acc := x.Int(nil)
			if acc != big.Exact {
				panic("bigSum: not an integer multiple of 2⁻¹⁴⁹")
			}
			sum.Add(sum, i)
		}
	}
	switch {
	case nan || pos && neg:
		return float32(math.NaN())
	case pos:
		return float32(math.Inf(1))
	case neg:
		return float32(math.Inf(-1))
	}
	x := new(big.Float).SetInt(sum) // precision max(64, bit length): exact
	x.SetMantExp(x, -149)
	f, _ := x.Float32()
	return f
}

// sameFloat compares bitwise, except that all NaNs are alike.
func sameFloat(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// exactSum sums v in one exactAcc element, normalising after every norm
// additions (0: every normaliseEvery, as often as needed).
func exactSum(v []float32, norm int) float32 {
	if norm == 0 {
		norm = normaliseEvery
	}
	x := newExactAcc(1)
	for i, f := range v {
		if norm > 0 && i%norm == norm-1 {
			x.normalise(0, 1)
		}
		x.add(0, f)
	}
	return x.round(0)
}

func f32(x float64) float32 { return float32(x) }

// Adversarial sums with their correctly rounded results, worked out by hand,
// and checked against math/big too. Tolerance: none (bitwise; NaN is any
// NaN).
func TestExactSumCases(t *testing.T) {
	const (
		tiny   = 0x1p-149 // smallest subnormal
		minNrm = 0x1p-126
		maxF   = math.MaxFloat32 // (2²⁴−1)·2¹⁰⁴
	)
	inf := math.Inf(1)
	nan := math.NaN()
	many := func(n int, x float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = x
		}
		return v
	}
	for _, tc := range []struct {
		name string
		in   []float64 // each exactly a float32
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{1.5}, 1.5},
		{"exact zero", []float64{1, -1}, 0},
		{"negative zeros", []float64{math.Copysign(0, -1), math.Copysign(0, -1)}, 0},
		{"1e38 − 1e38 + 1e-45", []float64{float64(f32(1e38)), -float64(f32(1e38)), float64(f32(1e-45))}, tiny},
		{"2^127 + tiny − 2^127", []float64{0x1p127, tiny, -0x1p127}, tiny},
		{"many tiny", many(100000, tiny), 100000 * tiny},
		{"subnormals to normal", []float64{0x1p-127, 0x1p-127}, minNrm},
		{"largest subnormal + tiny", []float64{minNrm - tiny, tiny}, minNrm},
		{"negative subnormal", []float64{tiny, -2 * tiny}, -tiny},
		{"tie to even, down", []float64{1, 0x1p-24}, 1},
		{"tie to even, up", []float64{1 + 0x1p-23, 0x1p-24}, 1 + 0x1p-22},
		{"above tie", []float64{1, 0x1p-24, tiny}, 1 + 0x1p-23},
		{"below tie", []float64{1, 0x1p-24, -tiny}, 1},
		{"negative tie", []float64{-1, -0x1p-24}, -1},
		{"negative above tie", []float64{-1, -0x1p-24, -tiny}, -1 - 0x1p-23},
		{"tie with far sticky bit", []float64{0x1p100, 0x1p76, tiny}, 0x1p100 + 0x1p77},
		{"tie without sticky bit", []float64{0x1p100, 0x1p76}, 0x1p100},
		{"overflow", []float64{maxF, maxF}, inf},
		{"negative overflow", []float64{-maxF, -maxF}, -inf},
		{"overflow at the tie", []float64{maxF, 0x1p103}, inf},
		{"just below the overflow tie", []float64{maxF, 0x1p103, -tiny}, maxF},
		{"below half an ulp", []float64{maxF, 0x1p102, 0x1p101}, maxF},
		{"out of range and back", []float64{maxF, maxF, maxF, 1, -maxF, -maxF, -maxF}, 1},
		{"2^24 + 1", []float64{0x1p24, 1}, 0x1p24},
		{"2^24 + 3", []float64{0x1p24, 3}, 0x1p24 + 4},
		{"NaN", []float64{1, nan, 2}, nan},
		{"+Inf", []float64{1, inf, -maxF}, inf},
		{"−Inf twice", []float64{-inf, maxF, -inf}, -inf},
		{"+Inf − Inf", []float64{inf, -inf}, nan},
		{"Inf and NaN", []float64{inf, nan}, nan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := make([]float32, len(tc.in))
			for i, x := range tc.in {
				in[i] = float32(x)
				if float64(in[i]) != x && x == x {
					t.Fatalf("test bug: input %d (%g) is not a float32", i, x)
				}
			}
			want := float32(tc.want)
			if ref := bigSum(in); !sameFloat(ref, want) {
				t.Fatalf("test bug: math/big gives %g (%#08x), the table %g", ref, math.Float32bits(ref), want)
			}
			for _, norm := range []int{0, 1, 7} {
				if got := exactSum(in, norm); !sameFloat(got, want) {
					t.Errorf("normalising every %d: got %g (%#08x), want %g (%#08x)", norm, got, math.Float32bits(got), want, math.Float32bits(want))
				}
			}
		})
	}
}

// Random sums against math/big, for inputs of several kinds; every sum is
// also taken in three shuffled orders, with and without normalisations in
// between, and through addRow for a whole vector. Tolerance: none.
func TestExactSumRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 41))
	anyFinite := func() float32 { // uniform over the finite bit patterns
		for {
			if f := math.Float32frombits(rng.Uint32()); !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
				return f
			}
		}
	}
	window := func(lo, hi int) float32 { // random sign, exponent in [lo, hi]
		f := float32(math.Ldexp(1+rng.Float64(), lo+rng.IntN(hi-lo+1)))
		if rng.IntN(2) == 0 {
			f = -f
		}
		return f
	}
	gens := []struct {
		name string
		gen  func(n int) []float32
	}{
		{"any finite", func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = anyFinite()
			}
			return v
		}},
		{"similar magnitudes", func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = window(-3, 3)
			}
			return v
		}},
		{"cancelling pairs plus small", func(n int) []float32 {
			var v []float32
			for len(v) < n {
				x := anyFinite()
				v = append(v, x, -x, window(-149, -100))
			}
			return v[:n]
		}},
		{"near cancellation", func(n int) []float32 {
			var v []float32
			for len(v) < n {
				x := window(0, 120)
				v = append(v, x, -math.Nextafter32(x, 0), window(-149, 0))
			}
			return v[:n]
		}},
		{"subnormals", func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = math.Float32frombits(rng.Uint32() & 0x807fffff)
			}
			return v
		}},
		{"near overflow", func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = window(120, 127)
			}
			return v
		}},
		{"with specials", func(n int) []float32 {
			v := make([]float32, n)
			specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
			for i := range v {
				v[i] = window(-20, 20)
				if rng.IntN(n) == 0 {
					v[i] = specials[rng.IntN(len(specials))]
				}
			}
			return v
		}},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			const cases = 60
			vecs := make([][]float32, cases)
			for c := range vecs {
				vecs[c] = g.gen(1 + rng.IntN(300))
			}
			// Row-wise: sum c gets vecs[c][i] in round i.
			row := newExactAcc(cases)
			for i := 0; ; i++ {
				if i > 0 && i%normaliseEvery == 0 {
					row.normalise(0, cases)
				}
				vals := make([]float32, cases)
				any := false
				for c, v := range vecs {
					if i < len(v) {
						vals[c], any = v[i], true
					}
				}
				if !any {
					break
				}
				row.addRow(0, vals)
			}
			for c, v := range vecs {
				want := bigSum(v)
				if got := row.round(c); !sameFloat(got, want) {
					t.Fatalf("case %d (%d values): addRow sum %g (%#08x), math/big %g (%#08x)", c, len(v), got, math.Float32bits(got), want, math.Float32bits(want))
				}
				for perm := range 3 {
					w := append([]float32(nil), v...)
					rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
					if got := exactSum(w, []int{0, 1, 13}[perm]); !sameFloat(got, want) {
						t.Fatalf("case %d, permutation %d: sum %g (%#08x), math/big %g (%#08x)", c, perm, got, math.Float32bits(got), want, math.Float32bits(want))
					}
				}
			}
		})
	}
}

// The normalisation interval leaves room in an int64 for the worst case (a
// digit at 2³² − 1 after normalising, then normaliseEvery additions of
// magnitude below 2⁵⁵, then a carry below 2³¹); and a million additions of
// the values that load a digit most (all mantissa bits set, shifted by 31
// within the digit), normalised only every normaliseEvery additions, stay
// exact. Tolerance: none.
func TestExactSumHeadroom(t *testing.T) {
	worst := new(big.Int).Lsh(big.NewInt(normaliseEvery), 55)
	worst.Add(worst, big.NewInt(1<<32+1<<31))
	if worst.Cmp(big.NewInt(math.MaxInt64)) > 0 {
		t.Fatalf("normaliseEvery = %d allows digits up to %v, beyond int64", normaliseEvery, worst)
	}
	rounds := 4000
	if testing.Short() {
		rounds = 400
	}
	n := int64(rounds * normaliseEvery)
	for _, biased := range []uint32{32, 128, 224} { // biased − 1 ≡ 31 (mod 32)
		for _, sign := range []uint32{0, 1 << 31} {
			v := math.Float32frombits(sign | biased<<23 | 0x7fffff)
			x := newExactAcc(1)
			for range rounds {
				for range normaliseEvery {
					x.add(0, v)
				}
				x.normalise(0, 1)
			}
			prod := new(big.Float).SetPrec(200).SetFloat64(float64(v))
			prod.Mul(prod, new(big.Float).SetInt64(n))
			want, _ := prod.Float32()
			if got := x.round(0); got != want {
				t.Errorf("%d × %g = %g, want %g", n, v, got, want)
			}
		}
	}
}

// Sums of a vector that are kept in separate elements don't interfere, and
// clear zeroes exactly the requested range.
func TestExactAccElements(t *testing.T) {
	x := newExactAcc(5)
	x.addRow(0, []float32{1, 2, 3, 4, 5})
	x.addRow(1, []float32{float32(math.Inf(1)), 0x1p-149, -3})
	x.clear(3, 4)
	want := []float32{1, float32(math.Inf(1)), 3, 0, 5} // 3 + 2⁻¹⁴⁹ rounds to 3
	for e, w := range want {
		if got := x.round(e); !sameFloat(got, w) {
			t.Errorf("element %d = %g, want %g", e, got, w)
		}
	}
}

func BenchmarkExactAddRow(b *testing.B) {
	const n = 16 * 2048
	v := exampleGrad(3, n)
	x := newExactAcc(n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x.addRow(0, v)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
}

func BenchmarkExactRound(b *testing.B) {
	const n = 4096
	x := newExactAcc(n)
	for i := range 100 {
		x.addRow(0, exampleGrad(i, n))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundSink += x.round(i % n)
	}
}

var roundSink float32
