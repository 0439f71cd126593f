// Package philox implements the Philox4x32-10 counter-based pseudo-random
// function (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy
// as 1, 2, 3", SC'11) and the SplitMix64 mixing function used to turn a
// 64-bit seed into a Philox key.
//
// A counter-based generator has no state: the output for a (key, counter)
// pair is a pure function of both, so any entry of an arbitrarily large
// random object can be computed directly from its coordinates, in any order,
// on any device. trak uses this to define its random projection matrices
// without ever storing them (see package projection).
//
// # Definition
//
// All arithmetic is on uint32 words, modulo 2³², except the two products,
// which are full 64-bit products split into high and low words.
//
//	M0, M1 = 0xD2511F53, 0xCD9E8D57   (round multipliers)
//	W0, W1 = 0x9E3779B9, 0xBB67AE85   (Weyl key increments)
//
// One round maps the counter (x0, x1, x2, x3) under the round key (k0, k1) to
//
//	hi0, lo0 = high and low words of M0·x0 (64-bit product)
//	hi1, lo1 = high and low words of M1·x2
//	(x0, x1, x2, x3) ← (hi1 ⊕ x1 ⊕ k0, lo1, hi0 ⊕ x3 ⊕ k1, lo0)
//
// Block applies ten rounds. Round 1 uses the key as given; before each later
// round the key is bumped: k0 ← k0 + W0, k1 ← k1 + W1. The output is the
// counter after round 10.
package philox

import "math/bits"

// The Philox4x32 constants, from the definition.
const (
	M0 uint32 = 0xD2511F53 // multiplier applied to counter word 0
	M1 uint32 = 0xCD9E8D57 // multiplier applied to counter word 2
	W0 uint32 = 0x9E3779B9 // increment of key word 0 between rounds
	W1 uint32 = 0xBB67AE85 // increment of key word 1 between rounds

	// Rounds is the number of rounds Block applies.
	Rounds = 10
)

// Key is the 64-bit Philox4x32 key (k0, k1).
type Key [2]uint32

// Counter is the 128-bit Philox4x32 counter (x0, x1, x2, x3), the input
// block of the pseudo-random function.
type Counter [4]uint32

// Block returns Philox4x32-10(k, c): ten rounds of the round function in the
// package documentation applied to c, with the key schedule described there.
// It is a pure function; distinct counters under one key give independent
// looking 128-bit outputs.
func Block(k Key, c Counter) [4]uint32 {
	return rounds(k, c, Rounds)
}

// Block2 returns (Block(k, c0), Block(k, c1)). The two evaluations are
// interleaved: one Philox round is a chain of dependent multiplies, so a
// single block leaves most of a CPU core idle, and two independent chains
// side by side nearly double the throughput. Four chains no longer fit in
// the amd64 registers and are no faster.
func Block2(k Key, c0, c1 Counter) (o0, o1 [4]uint32) {
	x0, x1, x2, x3 := c0[0], c0[1], c0[2], c0[3]
	y0, y1, y2, y3 := c1[0], c1[1], c1[2], c1[3]
	k0, k1 := k[0], k[1]
	for i := 0; i < Rounds; i++ {
		if i > 0 {
			k0 += W0
			k1 += W1
		}
		xhi0, xlo0 := bits.Mul32(M0, x0)
		xhi1, xlo1 := bits.Mul32(M1, x2)
		yhi0, ylo0 := bits.Mul32(M0, y0)
		yhi1, ylo1 := bits.Mul32(M1, y2)
		x0, x1, x2, x3 = xhi1^x1^k0, xlo1, xhi0^x3^k1, xlo0
		y0, y1, y2, y3 = yhi1^y1^k0, ylo1, yhi0^y3^k1, ylo0
	}
	return [4]uint32{x0, x1, x2, x3}, [4]uint32{y0, y1, y2, y3}
}

// rounds applies n Philox4x32 rounds. It exists separately from Block so the
// tests can check the round function against the published 7-round answers
// too, which pins down the key schedule as well as the round count.
func rounds(k Key, c Counter, n int) [4]uint32 {
	x0, x1, x2, x3 := c[0], c[1], c[2], c[3]
	k0, k1 := k[0], k[1]
	for i := 0; i < n; i++ {
		if i > 0 {
			k0 += W0
			k1 += W1
		}
		hi0, lo0 := bits.Mul32(M0, x0)
		hi1, lo1 := bits.Mul32(M1, x2)
		x0, x1, x2, x3 = hi1^x1^k0, lo1, hi0^x3^k1, lo0
	}
	return [4]uint32{x0, x1, x2, x3}
}

// splitMixGamma is SplitMix64's state increment, ⌊2⁶⁴/φ⌋ rounded to odd.
const splitMixGamma = 0x9E3779B97F4A7C15

// SplitMix64 returns the first output of a SplitMix64 generator whose state
// is x:
//
//	z = x + 0x9E3779B97F4A7C15                 (mod 2⁶⁴)
//	z = (z ⊕ (z >> 30)) · 0xBF58476D1CE4E5B9   (mod 2⁶⁴)
//	z = (z ⊕ (z >> 27)) · 0x94D049BB133111EB   (mod 2⁶⁴)
//	return z ⊕ (z >> 31)
//
// It is a bijection of uint64 that scatters nearby inputs (0, 1, 2, …) over
// the whole range, which is what seeds and small identifiers need before they
// become keys. SplitMix64(0) = 0xE220A8397B1DCDAF.
func SplitMix64(x uint64) uint64 {
	z := x + splitMixGamma
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// KeyFromSeed derives a Philox key from a 64-bit seed:
//
//	z = SplitMix64(seed)
//	Key{uint32(z), uint32(z >> 32)}   (low word first)
//
// Mixing first means that seeds differing in a few bits (0, 1, 2, …) give
// unrelated keys, and seed 0 does not give the all-zero key.
func KeyFromSeed(seed uint64) Key {
	z := SplitMix64(seed)
	return Key{uint32(z), uint32(z >> 32)}
}
