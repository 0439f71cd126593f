package cpu

import (
	"github.com/trak-dev/trak/internal/backend"
)

// Gather sets row r of dst (N, W) to row ids[r] of table (V, W), for
// len(ids) = N and every id in [0, V).
func (be *Backend) Gather(dst, table *backend.Tensor, ids []int32) {
	const op = "Gather"
	dd, td := data(op, "dst", dst), data(op, "table", table)
	rows, w := matrix(dst)
	v, tw := matrix(table)
	if tw != w || rows != len(ids) {
		panicf(op, "dst %v is not (%d ids, %d) for table %v", dst, len(ids), tw, table)
	}
	for r, id := range ids {
		if id < 0 || int(id) >= v {
			panicf(op, "ids[%d] = %d out of range for table %v", r, id, table)
		}
	}
	be.split(rows, len(dd), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			id := int(ids[r])
			copy(dd[r*w:(r+1)*w], td[id*w:(id+1)*w])
		}
	})
}

// tokenDims checks the (B, T, W) tensor tok against the (B, W) tensor row
// and pos (B positions in [0, T)), and returns B, T, W.
func tokenDims(op, tn string, tok *backend.Tensor, rn string, row *backend.Tensor, pos []int) (nb, t, w int) {
	rank(op, tn, tok, 3, "(B, T, W)")
	nb, t, w = tok.Shape[0], tok.Shape[1], tok.Shape[2]
	shapeIs(op, rn, row, []int{nb, w}, "(B, W) for "+tn+" "+tok.String())
	if len(pos) != nb {
		panicf(op, "%d positions for %s %v", len(pos), tn, tok)
	}
	for b, p := range pos {
		if p < 0 || p >= t {
			panicf(op, "pos[%d] = %d out of range for %s %v", b, p, tn, tok)
		}
	}
	return nb, t, w
}

// GatherTokens sets dst[b] = src[b, pos[b]] for src (B, T, W), dst (B, W)
// and B positions in [0, T).
func (be *Backend) GatherTokens(dst, src *backend.Tensor, pos []int) {
	const op = "GatherTokens"
	dd, sd := data(op, "dst", dst), data(op, "src", src)
	_, t, w := tokenDims(op, "src", src, "dst", dst, pos)
	for b, p := range pos {
		copy(dd[b*w:(b+1)*w], sd[(b*t+p)*w:(b*t+p+1)*w])
	}
}

// ScatterTokens is GatherTokens' adjoint: it zeroes dst (B, T, W), then
// sets dst[b, pos[b]] = src[b] for src (B, W).
func (be *Backend) ScatterTokens(dst, src *backend.Tensor, pos []int) {
	const op = "ScatterTokens"
	dd, sd := data(op, "dst", dst), data(op, "src", src)
	_, t, w := tokenDims(op, "dst", dst, "src", src, pos)
	be.split(len(dd), len(dd), func(lo, hi int) { clear(dd[lo:hi]) })
	for b, p := range pos {
		copy(dd[(b*t+p)*w:(b*t+p+1)*w], sd[b*w:(b+1)*w])
	}
}

// GatherBack sets dst (B, R, W) to the per-example gradient of the table
// rows rows (R distinct ids) of a Gather of src's tokens: dst[b, i] is the
// sum over the tokens t of example b with ids[b·T + t] = rows[i] of
// src[b, t], for src (B, T, W) and B·T ids; it is zero where no token of
// example b has the id. Each sum is accumulated in float32 in ascending t,
// one example per goroutine.
func (be *Backend) GatherBack(dst, src *backend.Tensor, ids, rows []int32) {
	const op = "GatherBack"
	dd, sd := data(op, "dst", dst), data(op, "src", src)
	rank(op, "dst", dst, 3, "(B, R, W)")
	rank(op, "src", src, 3, "(B, T, W)")
	nb, t, w := src.Shape[0], src.Shape[1], src.Shape[2]
	shapeIs(op, "dst", dst, []int{nb, len(rows), w}, "(B, len(rows), W) for src "+src.String())
	if len(ids) != nb*t {
		panicf(op, "%d ids for src %v", len(ids), src)
	}
	index := make(map[int32]int, len(rows))
	for i, id := range rows {
		if _, dup := index[id]; dup {
			panicf(op, "row %d given twice", id)
		}
		index[id] = i
	}
	nr := len(rows)
	be.split(nb, len(sd), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			out := dd[b*nr*w : (b+1)*nr*w]
			clear(out)
			for tok := range t {
				i, ok := index[ids[b*t+tok]]
				if !ok {
					continue
				}
				d := out[i*w : (i+1)*w]
				for j, v := range sd[(b*t+tok)*w : (b*t+tok+1)*w] {
					d[j] += v
				}
			}
		}
	})
}
