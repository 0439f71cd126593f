package projection

import (
	"math"
	"math/bits"
)

// Exact summation of float32 values.
//
// Every finite float32 is m·2^(s−149) with m an integer, |m| < 2²⁴, and
// s ∈ [0, 253]: for a biased exponent E ∈ [1, 254] (a normal number)
// m = 2²³ + fraction and s = E − 1; for E = 0 (zero or subnormal)
// m = fraction and s = 0. So every float32, and every sum of float32 values,
// is an integer multiple of 2⁻¹⁴⁹, which an exactAcc keeps as a fixed-point
// number in exactDigits signed 64-bit "digits" of weight 2^(32·i − 149):
//
//	value = Σ_i digit[i] · 2^(32·i − 149),  i = 0 … exactDigits−1
//
// Adding m·2^(s−149) adds the signed integer m·2^(s mod 32), of magnitude
// below 2⁵⁵, to digit i = s/32 ≤ 7: one addition to one digit. Normalising
// propagates carries upwards, leaving the value unchanged, until digits
// 0 … exactDigits−2 lie in [0, 2³²) and the top digit carries the sign. So
// after at most normaliseEvery = 255 additions since the last normalisation a
// digit is below 2³² + 255·2⁵⁵ = 2⁶³ − 2⁵⁵ + 2³² in magnitude, and adding a
// carry (below 2³¹) does not overflow an int64 either. Digit 8 and the top
// digit 9 (weight 2¹³⁹) receive only carries: a sum of N float32 values is
// below N·2¹²⁸ in magnitude, so the top digit stays below N·2⁻¹¹ + 1.
//
// NaN and infinite values cannot be represented; they set flags instead and
// determine the result as IEEE 754 addition would: NaN if any value was NaN
// or if both +Inf and −Inf occurred, otherwise the infinity that occurred.
//
// The accumulator holds n sums. Digits are stored plane by plane,
// digit i of sum e at digits[i·n + e], so adding a row of values touches one
// or two contiguous runs of memory (consecutive values usually have exponents
// in the same 32-binade window).
const exactDigits = 10

// normaliseEvery is the number of additions to one sum after which its digits
// must be normalised before the next addition; see the bound above. The
// Accumulator normalises every normaliseEvery blocks, which costs about
// exactDigits/normaliseEvery of the additions.
const normaliseEvery = 255

// Special-value flags of one sum.
const (
	flagNaN    uint8 = 1 << iota // a NaN was added
	flagPosInf                   // +Inf was added
	flagNegInf                   // −Inf was added
)

// exactAcc is a vector of n exact float32 sums, all zero initially.
type exactAcc struct {
	n      int
	digits []int64 // exactDigits planes of n digits
	flags  []uint8 // per sum: flagNaN | flagPosInf | flagNegInf
}

func newExactAcc(n int) *exactAcc {
	return &exactAcc{n: n, digits: make([]int64, exactDigits*n), flags: make([]uint8, n)}
}

// addRow adds v[j] to sum e0+j for every j. No sum may receive more than
// normaliseEvery additions between normalisations.
func (x *exactAcc) addRow(e0 int, v []float32) {
	n := x.n
	d := x.digits
	for j, f := range v {
		b := math.Float32bits(f)
		if b<<1 == 0 { // ±0 adds nothing
			continue
		}
		ex := b >> 23 & 0xff
		m := int64(b & 0x7fffff)
		if ex == 0xff {
			x.special(e0+j, f)
			continue
		}
		if ex != 0 {
			m |= 1 << 23
			ex--
		}
		m <<= ex & 31
		neg := int64(int32(b) >> 31) // 0 or −1
		d[int(ex>>5)*n+e0+j] += (m ^ neg) - neg
	}
}

// add adds v to sum e.
func (x *exactAcc) add(e int, v float32) {
	x.addRow(e, []float32{v})
}

// special records a NaN or infinite value added to sum e.
func (x *exactAcc) special(e int, f float32) {
	switch {
	case f != f:
		x.flags[e] |= flagNaN
	case f > 0:
		x.flags[e] |= flagPosInf
	default:
		x.flags[e] |= flagNegInf
	}
}

// normalise propagates the carries of sums [e0, e1), so that digits
// 0 … exactDigits−2 lie in [0, 2³²). The values are unchanged.
func (x *exactAcc) normalise(e0, e1 int) {
	n := x.n
	d := x.digits
	for i := 0; i < exactDigits-1; i++ {
		lo := d[i*n+e0 : i*n+e1]
		hi := d[(i+1)*n+e0 : (i+1)*n+e1]
		for j, v := range lo {
			c := v >> 32 // floor(v / 2³²)
			lo[j] = v - c<<32
			hi[j] += c
		}
	}
}

// round returns sum e rounded to the nearest float32, ties to even: +0 for an
// exact zero, ±Inf beyond the float32 range, and the specials as described
// above (NaN is the quiet NaN 0x7fc00000). It does not change the sum.
func (x *exactAcc) round(e int) float32 {
	if f := x.flags[e]; f != 0 {
		switch {
		case f&flagNaN != 0 || f&(flagPosInf|flagNegInf) == flagPosInf|flagNegInf:
			return math.Float32frombits(0x7fc00000)
		case f&flagPosInf != 0:
			return float32(math.Inf(1))
		default:
			return float32(math.Inf(-1))
		}
	}
	var d [exactDigits]int64
	for i := range d {
		d[i] = x.digits[i*x.n+e]
	}
	return roundDigits(&d)
}

// roundDigits rounds the fixed-point number of the exactAcc description to
// float32. It may change d.
func roundDigits(d *[exactDigits]int64) float32 {
	// Carry, so that digits 0 … exactDigits−2 are in [0, 2³²) and the top
	// digit has the sign; then, for a negative number, negate and carry again.
	var c int64
	for i := range exactDigits - 1 {
		v := d[i] + c
		c = v >> 32
		d[i] = v & (1<<32 - 1)
	}
	d[exactDigits-1] += c
	// Negate without a branch (signs are unpredictable): neg is 0 or −1.
	neg := d[exactDigits-1] >> 63
	sign := uint32(neg) << 31
	c = 0
	for i := range exactDigits - 1 {
		v := c + (d[i] ^ neg) - neg
		c = v >> 32
		d[i] = v & (1<<32 - 1)
	}
	d[exactDigits-1] = c + (d[exactDigits-1] ^ neg) - neg
	j := exactDigits - 1
	for j >= 0 && d[j] == 0 {
		j--
	}
	if j < 0 {
		return 0
	}
	if j == exactDigits-1 { // ≥ 2^(32·9 − 149) = 2¹³⁹
		return math.Float32frombits(sign | 0x7f800000)
	}
	// top holds digits j and j−1; base is the exponent of its bit 0; sticky
	// records whether any lower digit is non-zero.
	var top uint64
	var base int
	sticky := false
	if j == 0 {
		top, base = uint64(d[0]), -149
	} else {
		top = uint64(d[j])<<32 | uint64(d[j-1])
		base = 32*(j-1) - 149
		for i := range j - 1 {
			sticky = sticky || d[i] != 0
		}
	}
	length := bits.Len64(top)
	// Keep 24 significant bits, or, below 2⁻¹²⁶ (subnormal), those down to
	// 2⁻¹⁴⁹: all of them, since base is then −149. So shift ≥ 0.
	shift := max(length-24, 0)
	q := top >> shift
	if shift > 0 {
		rem := top & (1<<shift - 1)
		half := uint64(1) << (shift - 1)
		if rem > half || rem == half && (sticky || q&1 == 1) {
			q++
		}
		base += shift
	}
	// Now the result is q·2^base with q ≤ 2²⁴, and q ≥ 2²³ unless it is
	// subnormal (base = −149). In the float32 encoding that is the biased
	// exponent base + 149 − 1 (+ 1 for the implicit bit of q, which lands in
	// the exponent field) plus the fraction: (base+149)·2²³ + q, with a
	// rounding carry to 2²⁴ moving on to the next exponent by itself.
	be := base + 149
	if be >= 255 {
		return math.Float32frombits(sign | 0x7f800000)
	}
	b := uint32(be)<<23 + uint32(q)
	if b >= 0x7f800000 {
		b = 0x7f800000
	}
	return math.Float32frombits(sign | b)
}

// clear sets sums [e0, e1) to zero.
func (x *exactAcc) clear(e0, e1 int) {
	for i := range exactDigits {
		clear(x.digits[i*x.n+e0 : i*x.n+e1])
	}
	clear(x.flags[e0:e1])
}
