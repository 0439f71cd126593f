package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trak-dev/trak/internal/backend"
)

// TestInPlace checks the aliasing the package documents: each kernel
// gives bitwise the same output when the output is one of its inputs.
func TestInPlace(t *testing.T) {
	be := New(2)
	g := rand.New(rand.NewPCG(1, 2))
	const rows, w = 300, 250 // above the grain, so split
	rnd := func(shape ...int) []float32 {
		v := make([]float32, shape[0]*shape[len(shape)-1])
		for i := range v {
			v[i] = float32(g.NormFloat64())
		}
		return v
	}
	x, dy, y := rnd(rows, w), rnd(rows, w), rnd(rows, w)
	for i := range y {
		y[i] = float32(math.Abs(float64(y[i]))) / w // softmax-like
	}
	gamma, beta, norms := rnd(1, w), rnd(1, w), rnd(1, rows)
	for i := range norms {
		norms[i] = float32(math.Abs(float64(norms[i])))
	}
	up := func(v []float32, shape ...int) *backend.Tensor { return be.Upload(v, shape...) }
	get := func(t *backend.Tensor) []float32 {
		v := make([]float32, t.Len())
		be.Download(v, t)
		return v
	}
	mean, rstd := be.New(rows), be.New(rows)
	be.LayerNorm(be.New(rows, w), mean, rstd, up(x, rows, w), up(gamma, w), up(beta, w), 1e-5)

	// Each case computes into out, whose content is in (one of the inputs
	// of the same shape); in names which.
	cases := []struct {
		name string
		in   []float32
		f    func(out *backend.Tensor, in func(which []float32) *backend.Tensor)
	}{
		{"LayerNorm y=x", x, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.LayerNorm(out, be.New(rows), be.New(rows), in(x), up(gamma, w), up(beta, w), 1e-5)
		}},
		{"LayerNormBack dx=dy", dy, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.LayerNormBack(out, be.New(3, w), be.New(3, w), in(dy), up(x, rows, w), up(gamma, w), mean, rstd)
		}},
		{"LayerNormBack dx=x", x, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.LayerNormBack(out, be.New(3, w), be.New(3, w), up(dy, rows, w), in(x), up(gamma, w), mean, rstd)
		}},
		{"GELU y=x", x, func(out *backend.Tensor, in func([]float32) *backend.Tensor) { be.GELU(out, in(x), false) }},
		{"GELUBack dx=dy", dy, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.GELUBack(out, in(dy), up(x, rows, w), true)
		}},
		{"GELUBack dx=x", x, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.GELUBack(out, up(dy, rows, w), in(x), false)
		}},
		{"Softmax y=x", x, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.Softmax(be.Reshape(out, 6, 50, w), be.Reshape(in(x), 6, 50, w), false)
		}},
		{"SoftmaxBack dx=dy", dy, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.SoftmaxBack(out, in(dy), up(y, rows, w))
		}},
		{"SoftmaxBack dx=y", y, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.SoftmaxBack(out, up(dy, rows, w), in(y))
		}},
		{"L2Normalize y=x", x, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.L2Normalize(out, be.New(rows), in(x), 1e-12)
		}},
		{"L2NormalizeBack dx=dy", dy, func(out *backend.Tensor, in func([]float32) *backend.Tensor) {
			be.L2NormalizeBack(out, in(dy), up(y, rows, w), up(norms, rows), 1e-12)
		}},
	}
	for _, c := range cases {
		// Out of place: in() makes a fresh copy.
		sep := be.New(rows, w)
		c.f(sep, func(v []float32) *backend.Tensor { return up(v, rows, w) })
		// In place: the aliased input is the output tensor itself.
		same := up(c.in, rows, w)
		c.f(same, func(v []float32) *backend.Tensor {
			if &v[0] == &c.in[0] {
				return same
			}
			return up(v, rows, w)
		})
		a, b := get(sep), get(same)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Errorf("%s: [%d] = %g in place, %g out of place", c.name, i, b[i], a[i])
				break
			}
		}
	}
}
