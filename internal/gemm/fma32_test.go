package gemm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactFMA32 rounds a·b+c to float32 with math/big: the product and the sum
// are exact at 2000 bits (float32 exponents span 2^-149…2^128, so no sum
// needs more than ~330 bits), and big.Float.Float32 rounds to nearest even,
// subnormals and overflow included.
func exactFMA32(a, b, c float32) float32 {
	fa, fb, fc := float64(a), float64(b), float64(c)
	if math.IsNaN(fa) || math.IsNaN(fb) || math.IsNaN(fc) || math.IsInf(fa, 0) || math.IsInf(fb, 0) || math.IsInf(fc, 0) {
		// IEEE special cases: float64 arithmetic gets them right and a
		// product of float32 values cannot overflow float64.
		return float32(fa*fb + fc)
	}
	p := new(big.Float).SetPrec(2000).SetFloat64(fa)
	p.Mul(p, new(big.Float).SetPrec(2000).SetFloat64(fb))
	if p.Sign() == 0 && fc == 0 {
		// Zero plus zero: the sign rule of IEEE 754 (−0 only if both are −0).
		pneg := math.Signbit(fa) != math.Signbit(fb)
		if pneg && math.Signbit(fc) {
			return float32(math.Copysign(0, -1))
		}
		return 0
	}
	s := new(big.Float).SetPrec(2000).Add(p, new(big.Float).SetPrec(2000).SetFloat64(fc))
	if s.Sign() == 0 {
		return 0 // exact cancellation is +0 when rounding to nearest
	}
	f, _ := s.Float32()
	return f
}

func sameFloat(x, y float32) bool {
	return math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y)
}

// midpointCase builds a·b+c that lies just below or above a float32 rounding
// midpoint, by less than half a float64 ulp of the sum: a = 2^ea(1+x·2^-23),
// b = ±2^eb(1−x·2^-23), so a·b = ±2^(ea+eb)(1−x²·2^-46), and 2^(ea+eb) is half
// a float32 ulp of c. Rounding the sum to float64 first lands exactly on the
// midpoint, which is where a naive float64 computation rounds wrongly.
func midpointCase(rng *rand.Rand) (a, b, c float32) {
	var h int // exponent of half an ulp of c
	if rng.IntN(8) == 0 {
		// c subnormal or zero: the float32 grid there is 2^-149.
		c = math.Float32frombits(rng.Uint32N(1 << 23))
		h = -150
	} else {
		e := rng.IntN(254) + 1 // biased exponent of a normal c
		c = math.Float32frombits(uint32(e)<<23 | rng.Uint32N(1<<23))
		h = e - 127 - 24
	}
	if rng.IntN(2) == 0 {
		c = -c
	}
	lo, hi := max(-126, h-127), min(127, h+126)
	if lo > hi {
		return 1, 1, c
	}
	ea := lo + rng.IntN(hi-lo+1)
	eb := h - ea
	x := float64(1 + rng.IntN(1<<20))
	a = float32(math.Ldexp(1+x*0x1p-23, ea))
	b = float32(math.Ldexp(1-x*0x1p-23, eb))
	if rng.IntN(2) == 0 {
		b = -b
	}
	if rng.IntN(2) == 0 {
		a, b = b, a
	}
	return a, b, c
}

// specials are inputs every FMA must get right: signed zeros, subnormals,
// the extremes of the range, infinities and NaN.
var specials = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 3,
	math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	math.Float32frombits(0x007fffff), math.Float32frombits(0x00800000), -math.Float32frombits(0x00800000),
	math.MaxFloat32, -math.MaxFloat32, 0x1p64, 0x1p-64, 0x1p-75, 0x1p-100,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
}

// TestFMA32Exact compares the software fma32 with exact rounding by math/big.
// Tolerance: none; a correctly rounded result is unique.
func TestFMA32Exact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	check := func(a, b, c float32) {
		t.Helper()
		if got, want := fma32(a, b, c), exactFMA32(a, b, c); !sameFloat(got, want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%08x), exact rounding gives %g (%08x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	for _, a := range specials {
		for _, b := range specials {
			for _, c := range specials {
				check(a, b, c)
			}
		}
	}
	n := 400000
	if testing.Short() || raceEnabled {
		n = 40000
	}
	for range n {
		// Any bit patterns.
		check(math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32()))
		// Products and addends of similar size, where cancellation happens.
		a := float32(rng.NormFloat64())
		b := float32(rng.NormFloat64())
		check(a, b, -float32(float64(a)*float64(b))*float32(1+rng.NormFloat64()*1e-6))
		check(midpointCase(rng))
	}
	// Hand-made: the sum is 1+2^-23+2^-24−2^-70, a hair under the midpoint
	// between 1+2^-23 and 1+2^-22; double rounding would round up.
	check(1-0x1p-23, 0x1p-24*(1+0x1p-23), 1+0x1p-23)
	// Just under the overflow threshold MaxFloat32+½ulp.
	check(-0x1p-25*(1+0x1p-23), 0x1p104*(1-0x1p-23), math.MaxFloat32)
}

// TestFMA32Hardware compares fma32 with the processor's VFMADD231PS, reached
// through the AVX2 kernel with kc = 1 (acc = x·1 + 0 = x for x ≠ −0, then
// c = fma(alpha, acc, c)). Tolerance: none. It covers far more inputs than
// math/big can check in the time.
func TestFMA32Hardware(t *testing.T) {
	if !hasAVX2() {
		t.Skip("no AVX2+FMA on this CPU: nothing to compare with")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	ap := make([]float32, 6)
	bp := make([]float32, 16)
	for i := range bp {
		bp[i] = 1
	}
	c := make([]float32, 96)
	want := make([]float32, 96)
	calls := 60000
	if testing.Short() || raceEnabled {
		calls = 6000
	}
	for call := range calls {
		var alpha float32
		gen := func() float32 {
			switch rng.IntN(4) {
			case 0:
				return math.Float32frombits(rng.Uint32())
			case 1:
				return specials[rng.IntN(len(specials))]
			default:
				return float32(rng.NormFloat64())
			}
		}
		if call%2 == 0 {
			var x, y float32
			alpha, x, y = midpointCase(rng)
			ap[0], c[0] = x, y
			for i := 1; i < 6; i++ {
				ap[i] = gen()
			}
		} else {
			alpha = gen()
			for i := range ap {
				ap[i] = gen()
			}
		}
		for i := range ap {
			if ap[i] == 0 {
				ap[i] = 0 // acc is +0 for a −0 input
			}
		}
		for i := range c {
			if i != 0 || call%2 != 0 {
				c[i] = gen()
			}
			want[i] = fma32(alpha, ap[i/16], c[i])
		}
		microAVX2(1, ap, bp, c, 16, alpha)
		for i := range c {
			if !sameFloat(c[i], want[i]) {
				t.Fatalf("fma(%g, %g, ·): hardware %g (%08x), fma32 %g (%08x)", alpha, ap[i/16], c[i], math.Float32bits(c[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
}
