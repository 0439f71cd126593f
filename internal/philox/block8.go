package philox

// Lanes8 holds eight Philox counters or outputs in lane-major order: l[w][i]
// is word w of block i. Block8 reads and writes this layout directly, so a
// caller whose counters differ in a few words (the row words of a column
// group, say) fills only those rows of the array, and a consumer reads word w
// of all eight outputs as one contiguous 32-byte vector.
type Lanes8 [4][8]uint32

// Block8 computes eight blocks at once:
//
//	out[·][i] = Block(k, Counter{in[0][i], in[1][i], in[2][i], in[3][i]})   for i < 8
//
// On amd64 with AVX2 the eight blocks run side by side in vector registers;
// elsewhere it is Block2 four times. in and out may be the same array.
func Block8(k Key, in, out *Lanes8) {
	if useAVX2 {
		block8AVX2(k[0], k[1], in, out)
		return
	}
	block8Generic(k, in, out)
}

// block8Generic is Block8 in portable Go, the fallback and the reference the
// vector code is tested against.
func block8Generic(k Key, in, out *Lanes8) {
	for i := 0; i < 8; i += 2 {
		a, b := Block2(k,
			Counter{in[0][i], in[1][i], in[2][i], in[3][i]},
			Counter{in[0][i+1], in[1][i+1], in[2][i+1], in[3][i+1]})
		for w := range 4 {
			out[w][i], out[w][i+1] = a[w], b[w]
		}
	}
}
