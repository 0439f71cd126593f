package philox

import (
	"math/bits"
	"testing"
)

// katVectors are Random123's published known answers for Philox4x32 (the
// "philox4x32 7" and "philox4x32 10" lines of its tests/kat_vectors file):
// counter, key, expected output. They were taken from that file as quoted in
// several public repositories, which all agree, not recomputed here.
var katVectors = []struct {
	name   string
	rounds int
	ctr    Counter
	key    Key
	want   [4]uint32
}{
	{"r10/zero", 10, Counter{0, 0, 0, 0}, Key{0, 0},
		[4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
	{"r10/ones", 10, Counter{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, Key{0xffffffff, 0xffffffff},
		[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
	{"r10/pi", 10, Counter{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, Key{0xa4093822, 0x299f31d0},
		[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	{"r7/zero", 7, Counter{0, 0, 0, 0}, Key{0, 0},
		[4]uint32{0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
	{"r7/ones", 7, Counter{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, Key{0xffffffff, 0xffffffff},
		[4]uint32{0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
	{"r7/pi", 7, Counter{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, Key{0xa4093822, 0x299f31d0},
		[4]uint32{0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
}

func TestKnownAnswers(t *testing.T) {
	for _, tc := range katVectors {
		t.Run(tc.name, func(t *testing.T) {
			if got := rounds(tc.key, tc.ctr, tc.rounds); got != tc.want {
				t.Errorf("rounds(%#x, %#x, %d) = %#x, want %#x", tc.key, tc.ctr, tc.rounds, got, tc.want)
			}
			if tc.rounds == Rounds {
				if got := Block(tc.key, tc.ctr); got != tc.want {
					t.Errorf("Block(%#x, %#x) = %#x, want %#x", tc.key, tc.ctr, got, tc.want)
				}
			}
		})
	}
}

// TestBlockAvalanche checks that flipping one input bit flips about half of
// the 128 output bits. Over 64 counters × 192 input bits = 12288 trials the
// mean flip count is ≈ 64 with standard error √32/√12288 ≈ 0.05, so the
// ±0.5 window is ten standard errors wide and catches a broken round (which
// shifts the mean by whole bits).
func TestBlockAvalanche(t *testing.T) {
	var total, trials float64
	for i := uint32(0); i < 64; i++ {
		k := Key{i * 0x9E3779B9, ^i}
		c := Counter{i, i * 3, i * 5, i * 7}
		base := Block(k, c)
		for bit := 0; bit < 192; bit++ {
			k2, c2 := k, c
			if bit < 128 {
				c2[bit/32] ^= 1 << (bit % 32)
			} else {
				k2[(bit-128)/32] ^= 1 << (bit % 32)
			}
			out := Block(k2, c2)
			for w := range out {
				total += float64(bits.OnesCount32(out[w] ^ base[w]))
			}
			trials++
		}
	}
	if mean := total / trials; mean < 63.5 || mean > 64.5 {
		t.Errorf("mean flipped output bits = %.3f, want 64 ± 0.5", mean)
	}
}

// SplitMix64's published reference sequence for state 0 starts
// 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F; output i is
// SplitMix64((i−1)·γ) in this package's terms.
func TestSplitMix64(t *testing.T) {
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f}
	var state uint64
	for i, w := range want {
		if got := SplitMix64(state); got != w {
			t.Errorf("output %d = %#x, want %#x", i, got, w)
		}
		state += splitMixGamma
	}
}

func TestKeyFromSeed(t *testing.T) {
	if got, want := KeyFromSeed(0), (Key{0x7b1dcdaf, 0xe220a839}); got != want {
		t.Errorf("KeyFromSeed(0) = %#x, want %#x (low word first)", got, want)
	}
	seen := map[Key]uint64{}
	for s := uint64(0); s < 4096; s++ {
		k := KeyFromSeed(s)
		if prev, ok := seen[k]; ok {
			t.Fatalf("KeyFromSeed(%d) = KeyFromSeed(%d) = %#x", s, prev, k)
		}
		seen[k] = s
	}
}

// The benchmarks use a plain b.N loop rather than b.Loop, which would keep
// Block from being inlined and so measure call overhead that real callers
// (which inline it) do not pay.
func BenchmarkBlock(b *testing.B) {
	k := KeyFromSeed(1)
	var sink uint32
	c := Counter{}
	for i := 0; i < b.N; i++ {
		out := Block(k, c)
		sink ^= out[0]
		c[0]++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	if sink == 0x12345678 {
		b.Log(sink)
	}
}

func TestBlock2MatchesBlock(t *testing.T) {
	for _, tc := range katVectors {
		if tc.rounds != Rounds {
			continue
		}
		other := Counter{tc.ctr[0] + 1, tc.ctr[1], tc.ctr[2], tc.ctr[3] ^ 0x80000000}
		a, b := Block2(tc.key, tc.ctr, other)
		if a != tc.want {
			t.Errorf("%s: Block2 first output = %#x, want %#x", tc.name, a, tc.want)
		}
		if want := Block(tc.key, other); b != want {
			t.Errorf("%s: Block2 second output = %#x, want %#x", tc.name, b, want)
		}
	}
	for i := uint32(0); i < 1000; i++ {
		k := KeyFromSeed(uint64(i))
		c0 := Counter{i, i >> 3, ^i, i * 0x01000193}
		c1 := Counter{^i, i, i * 7, 3}
		a, b := Block2(k, c0, c1)
		if a != Block(k, c0) || b != Block(k, c1) {
			t.Fatalf("Block2 disagrees with Block at i=%d", i)
		}
	}
}

func BenchmarkBlock2(b *testing.B) {
	k := KeyFromSeed(1)
	var sink uint32
	c0, c1 := Counter{}, Counter{1}
	for i := 0; i < b.N; i++ {
		o0, o1 := Block2(k, c0, c1)
		sink ^= o0[0] ^ o1[0]
		c0[0] += 2
		c1[0] += 2
	}
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	if sink == 0x12345678 {
		b.Log(sink)
	}
}
