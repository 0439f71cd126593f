package philox

import (
	"math/rand/v2"
	"testing"
)

// blocksOneByOne is the definition of Block8: Block on each lane.
func blocksOneByOne(k Key, in *Lanes8) (out Lanes8) {
	for i := range 8 {
		x := Block(k, Counter{in[0][i], in[1][i], in[2][i], in[3][i]})
		for w := range 4 {
			out[w][i] = x[w]
		}
	}
	return out
}

// block8Impls lists the Block8 implementations this machine can run.
func block8Impls(t *testing.T) map[string]func(Key, *Lanes8, *Lanes8) {
	impls := map[string]func(Key, *Lanes8, *Lanes8){
		"Block8":  Block8,
		"generic": block8Generic,
	}
	if useAVX2 {
		impls["avx2"] = func(k Key, in, out *Lanes8) { block8AVX2(k[0], k[1], in, out) }
	} else {
		t.Log("no AVX2 on this machine: the vector Block8 is not tested")
	}
	return impls
}

// nearEdge returns a word that is often close to 0 or 2³²−1, where carries
// and the high product words are extreme, and otherwise uniform.
func nearEdge(rng *rand.Rand) uint32 {
	switch rng.IntN(4) {
	case 0:
		return ^uint32(rng.IntN(16)) // 2³²−1 − small
	case 1:
		return uint32(rng.IntN(16))
	default:
		return rng.Uint32()
	}
}

func TestBlock8MatchesBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 8))
	n := 1 << 18 // 2M blocks
	if testing.Short() {
		n = 1 << 13
	}
	for name, f := range block8Impls(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range katVectors {
				if tc.rounds != Rounds {
					continue
				}
				var in, out Lanes8
				for i := range 8 {
					for w := range 4 {
						in[w][i] = tc.ctr[w] + uint32(i%2) // lanes 0, 2, 4, 6 are the vector
					}
				}
				f(tc.key, &in, &out)
				for i := 0; i < 8; i += 2 {
					if got := [4]uint32{out[0][i], out[1][i], out[2][i], out[3][i]}; got != tc.want {
						t.Errorf("%s lane %d = %#x, want %#x", tc.name, i, got, tc.want)
					}
				}
			}
			for iter := range n {
				var k Key
				var in Lanes8
				if iter%2 == 0 {
					k = Key{nearEdge(rng), nearEdge(rng)}
					for w := range 4 {
						for i := range 8 {
							in[w][i] = nearEdge(rng)
						}
					}
				} else {
					k = Key{rng.Uint32(), rng.Uint32()}
					for w := range 4 {
						for i := range 8 {
							in[w][i] = rng.Uint32()
						}
					}
				}
				want := blocksOneByOne(k, &in)
				var out Lanes8
				saved := in
				f(k, &in, &out)
				if out != want {
					t.Fatalf("key %#x, in %#x:\ngot  %#x\nwant %#x", k, in, out, want)
				}
				if in != saved {
					t.Fatalf("input changed: %#x, was %#x", in, saved)
				}
				f(k, &in, &in) // in place
				if in != want {
					t.Fatalf("in place: key %#x, in %#x:\ngot  %#x\nwant %#x", k, saved, in, want)
				}
			}
		})
	}
}

// TestBlock8AllOnes checks the all-ones counters and keys, where every
// product and sum is at its largest.
func TestBlock8AllOnes(t *testing.T) {
	for name, f := range block8Impls(t) {
		k := Key{^uint32(0), ^uint32(0)}
		var in, out Lanes8
		for w := range 4 {
			for i := range 8 {
				in[w][i] = ^uint32(0)
			}
		}
		f(k, &in, &out)
		if want := blocksOneByOne(k, &in); out != want {
			t.Errorf("%s: got %#x, want %#x", name, out, want)
		}
	}
}

func TestBlock8Path(t *testing.T) {
	t.Logf("Block8 uses AVX2: %v", useAVX2)
}

func BenchmarkBlock8(b *testing.B) {
	k := KeyFromSeed(1)
	var in, out Lanes8
	for i := range 8 {
		in[0][i] = uint32(i)
	}
	var sink uint32
	for i := 0; i < b.N; i++ {
		Block8(k, &in, &out)
		sink ^= out[0][0]
		for l := range 8 {
			in[1][l]++
		}
	}
	b.ReportMetric(8*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	if sink == 0x12345678 {
		b.Log(sink)
	}
}
