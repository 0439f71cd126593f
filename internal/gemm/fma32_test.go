package gemm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
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
		want := exactFMA32(a, b, c)
		if got := fma32(a, b, c); !sameFloat(got, want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%08x), exact rounding gives %g (%08x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
		// The slow path alone must be right everywhere too, not only
		// where the fast path hands over.
		if got := fma32Slow(a, b, c); !sameFloat(got, want) {
			t.Fatalf("fma32Slow(%g, %g, %g) = %g (%08x), exact rounding gives %g (%08x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
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
	if testing.Short() || testutil.RaceEnabled {
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
