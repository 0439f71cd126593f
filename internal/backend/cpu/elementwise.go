package cpu

import (
	"slices"

	"github.com/trak-dev/trak/internal/backend"
)

// Copy sets dst = src elementwise; the two must have the same length.
func (be *Backend) Copy(dst, src *backend.Tensor) {
	d, s := data("Copy", "dst", dst), data("Copy", "src", src)
	sameLen("Copy", "dst", dst, "src", src)
	be.split(len(d), len(d), func(lo, hi int) { copy(d[lo:hi], s[lo:hi]) })
}

// Add sets dst[i] += src[i]; the two must have the same length.
func (be *Backend) Add(dst, src *backend.Tensor) {
	d, s := data("Add", "dst", dst), data("Add", "src", src)
	sameLen("Add", "dst", dst, "src", src)
	be.split(len(d), len(d), func(lo, hi int) {
		s := s[lo:hi]
		for i := range s {
			d[lo+i] += s[i]
		}
	})
}

// Scale sets dst[i] *= alpha.
func (be *Backend) Scale(dst *backend.Tensor, alpha float32) {
	d := data("Scale", "dst", dst)
	be.split(len(d), len(d), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] *= alpha
		}
	})
}

// AddBias sets dst[r, j] += bias[j] for every row r of dst (…, n); bias
// has n elements.
func (be *Backend) AddBias(dst, bias *backend.Tensor) {
	const op = "AddBias"
	d, bv := data(op, "dst", dst), data(op, "bias", bias)
	rows, n := matrix(dst)
	vector(op, "bias", bias, n, "dst's last dimension")
	be.split(rows, len(d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := d[r*n : (r+1)*n]
			for j, v := range bv {
				row[j] += v
			}
		}
	})
}

// AddBroadcast sets dst[b, …] += src[…] for every example b of dst
// (B, S...), src having shape S exactly.
func (be *Backend) AddBroadcast(dst, src *backend.Tensor) {
	const op = "AddBroadcast"
	d, s := data(op, "dst", dst), data(op, "src", src)
	if len(dst.Shape) != len(src.Shape)+1 || !slices.Equal(dst.Shape[1:], src.Shape) {
		panicf(op, "dst %v is not (B, %v...) for src %v", dst, src.Shape, src)
	}
	n := len(s)
	if n == 0 {
		return
	}
	// Split the flat index range: each element is one addition whatever
	// the chunking.
	be.split(len(d), len(d), func(lo, hi int) {
		j := lo % n
		for i := lo; i < hi; i++ {
			d[i] += s[j]
			if j++; j == n {
				j = 0
			}
		}
	})
}

// SumPerExample sets dst[b, j] = Σ src[r, j] over the N/B rows r of
// example b, for dst (B, n) and src (N, n) with N a multiple of B. The sums
// run in row order in float64.
func (be *Backend) SumPerExample(dst, src *backend.Tensor) {
	const op = "SumPerExample"
	d, s := data(op, "dst", dst), data(op, "src", src)
	nb, n := matrix(dst)
	rows, sn := matrix(src)
	if sn != n || nb == 0 || rows%nb != 0 {
		panicf(op, "dst %v is not (B, n) for src %v (N, n) with N a multiple of B", dst, src)
	}
	per := rows / nb
	be.split(nb, len(s), func(lo, hi int) {
		acc := make([]float64, n)
		for b := lo; b < hi; b++ {
			clear(acc)
			for r := b * per; r < (b+1)*per; r++ {
				for j, v := range s[r*n : (r+1)*n] {
					acc[j] += float64(v)
				}
			}
			out := d[b*n : (b+1)*n]
			for j, v := range acc {
				out[j] = float32(v)
			}
		}
	})
}
