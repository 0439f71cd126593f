package gemm

import "math"

// fma32 returns a·b+c rounded once to float32 (round to nearest, ties to
// even), the operation that VFMADD231PS performs on each lane. It is the
// building block of the Generic kernel, so it has to agree with the hardware
// bit for bit on every finite input, signed zeros and subnormals included.
//
// The product of two float32 values is exact in float64 (48 significant bits,
// exponent range far inside float64's), so the only rounding problem is the
// sum. Rounding p+c to float64 and then to float32 can go wrong when the first
// rounding lands exactly on a float32 rounding midpoint. Rounding the sum to
// odd instead (keep the float64 result when it is exact; otherwise, if its last
// significand bit is even, step one float64 ulp towards the exact value) is
// known to make the second rounding correct whenever the intermediate format
// has at least two more bits than the target: 53 ≥ 24+2. The error of the
// float64 sum comes from TwoSum, which is exact for finite operands.
//
// Every intermediate is written through an explicit conversion so the compiler
// may not fuse a multiply and an add behind our back (the Go spec allows fusion
// except across explicit conversions).
func fma32(a, b, c float32) float32 {
	s := float64(float64(a)*float64(b)) + float64(c)
	bits := math.Float64bits(s)
	// Fast path, inlined: s is not a float32 rounding midpoint (those have
	// exactly bit 28 set among the 29 bits float32 drops) and lies in the
	// float32 normal range (|s| ≥ 2^-126, where that bit pattern is what
	// makes a midpoint). Then the second rounding cannot go wrong, whatever
	// the first one did: a double-rounding error needs the first rounding to
	// land exactly on a midpoint.
	if bits&0x1fffffff != 0x10000000 && bits&0x7ff0000000000000 >= 0x3810000000000000 {
		return float32(s)
	}
	return fma32Slow(a, b, c)
}

// fma32Slow is fma32 without the fast path: round the float64 sum to odd.
func fma32Slow(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b))
	q := float64(c)
	s := float64(p + q)
	if s == 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		// A zero sum of two floats is exact; non-finite sums need no fixing
		// and make TwoSum meaningless.
		return float32(s)
	}
	bv := float64(s - p)
	av := float64(s - bv)
	e := float64(float64(p-av) + float64(q-bv))
	if e != 0 {
		bits := math.Float64bits(s)
		if bits&1 == 0 {
			// Moving away from zero is bits+1, towards zero bits-1,
			// whatever the sign, because the sign is the top bit.
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}
