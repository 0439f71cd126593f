package backendtest

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// lengths are the element counts of elementwise cases: 1, around a 64
// block, and one above 64Ki (where a backend may start splitting work).
var lengths = []int{1, 63, 64, 65, 70001}

// specials puts special values at the front of v: zeros, infinities,
// NaN, the largest float32 (no subnormals, which a GPU may flush).
func specials(v []float32) {
	s := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, 1}
	copy(v, s)
}

// testMemory checks New, Upload, Download, Reshape and Free, which move
// data and so must be exact.
func testMemory(r reporter, b backend.Backend) {
	if b.Name() == "" {
		r.Errorf("Name is empty")
	}
	if m := b.MemInfo(); m.Free > m.Total {
		r.Errorf("MemInfo: free %d > total %d", m.Free, m.Total)
	}
	for _, shape := range [][]int{{1}, {3, 5}, {2, 3, 4, 5}, {70001}} {
		r.Run(name("%v", shape), func(r reporter) {
			z := b.New(shape...)
			if !equalInts(z.Shape, shape) {
				r.Errorf("New(%v).Shape = %v", shape, z.Shape)
			}
			exact(r, "New", download(b, z), make([]float64, prod(shape...)))
			v := normal(rng("Memory"+name("%v", shape)), prod(shape...), 0, 1)
			specials(v)
			t := b.Upload(v, shape...)
			exact(r, "Upload/Download", download(b, t), f64(v))
			// A view shares storage: writing through it shows in t.
			flat := b.Reshape(t, t.Len())
			if flat.Len() != t.Len() || len(flat.Shape) != 1 {
				r.Errorf("Reshape(%v, %d).Shape = %v", t, t.Len(), flat.Shape)
			}
			b.Copy(flat, z)
			exact(r, "write through a view", download(b, t), make([]float64, len(v)))
			b.Free(z)
			b.Free(t)
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testElementwise checks Copy, Add, Scale, AddBias and AddBroadcast. Each
// output element is one IEEE operation on float32 values, which a
// conforming backend rounds correctly, so the results must equal the
// float64 reference rounded to float32 exactly (tolerance 0).
func testElementwise(r reporter, b backend.Backend) {
	for _, n := range lengths {
		r.Run(name("n=%d", n), func(r reporter) {
			g := rng(name("Elementwise/%d", n))
			x, y := normal(g, n, 0, 1), normal(g, n, 0, 1)
			specials(x)
			tx, ty := b.Upload(x, n), b.Upload(y, n)
			defer b.Free(tx)
			defer b.Free(ty)

			b.Copy(ty, tx)
			exact(r, "Copy", download(b, ty), f64(x))

			z := normal(g, n, 0, 1)
			specials(z[min(3, n-1):])
			tz := b.Upload(z, n)
			defer b.Free(tz)
			b.Add(tz, tx)
			want := make([]float64, n)
			for i := range want {
				want[i] = float64(z[i] + x[i])
			}
			exact(r, "Add", download(b, tz), want)

			for _, alpha := range []float32{-1.5, 0, 3} {
				b.Copy(ty, tx)
				b.Scale(ty, alpha)
				for i := range want {
					want[i] = float64(x[i] * alpha)
				}
				exact(r, name("Scale(%g)", alpha), download(b, ty), want)
			}
		})
	}
	for _, s := range [][2]int{{1, 1}, {3, 65}, {2, 64}, {70, 1025}} {
		rows, n := s[0], s[1]
		r.Run(name("AddBias/%d×%d", rows, n), func(r reporter) {
			g := rng(name("AddBias/%v", s))
			x, bias := normal(g, rows*n, 0, 1), normal(g, n, 0, 1)
			tx, tb := b.Upload(x, rows, n), b.Upload(bias, n)
			defer b.Free(tx)
			defer b.Free(tb)
			b.AddBias(tx, tb)
			want := make([]float64, rows*n)
			for i := range want {
				want[i] = float64(x[i] + bias[i%n])
			}
			exact(r, "AddBias", download(b, tx), want)
		})
	}
	for _, shape := range [][]int{{1, 1, 1}, {3, 5, 7}, {2, 9}, {4, 77, 257}} {
		r.Run(name("AddBroadcast/%v", shape), func(r reporter) {
			g := rng(name("AddBroadcast/%v", shape))
			n, per := prod(shape...), prod(shape[1:]...)
			x, src := normal(g, n, 0, 1), normal(g, per, 0, 1)
			tx, ts := b.Upload(x, shape...), b.Upload(src, shape[1:]...)
			defer b.Free(tx)
			defer b.Free(ts)
			b.AddBroadcast(tx, ts)
			want := make([]float64, n)
			for i := range want {
				want[i] = float64(x[i] + src[i%per])
			}
			exact(r, "AddBroadcast", download(b, tx), want)
		})
	}
}

// testSumPerExample checks SumPerExample for B examples of R rows: an
// R-term float32 sum in any order errs by at most (R−1)·u·Σ|src| (γ_R),
// so the tolerance is (R+1)·u·Σ_r |src[r, j]|.
func testSumPerExample(r reporter, b backend.Backend) {
	for _, s := range [][3]int{{1, 1, 1}, {2, 3, 5}, {3, 50, 65}, {1, 77, 64}, {4, 64, 300}} {
		nb, per, n := s[0], s[1], s[2]
		r.Run(name("B=%d,R=%d,n=%d", nb, per, n), func(r reporter) {
			src := normal(rng(name("SumPerExample/%v", s)), nb*per*n, 0.5, 1)
			ts := b.Upload(src, nb*per, n)
			td := b.Upload(filled(nb*n, float32(math.NaN())), nb, n)
			defer b.Free(ts)
			defer b.Free(td)
			b.SumPerExample(td, ts)
			want, scale := make([]float64, nb*n), make([]float64, nb*n)
			for row := range nb * per {
				for j := range n {
					want[row/per*n+j] += float64(src[row*n+j])
					scale[row/per*n+j] += math.Abs(float64(src[row*n+j]))
				}
			}
			compare(r, "dst", download(b, td), want, scale, float64(per+1)*u)
		})
	}
}
