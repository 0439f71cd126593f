package backendtest

import (
	"math"
	"testing"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/cpu"
)

// float32Kernels is the CPU backend with its row and activation kernels
// replaced by naive float32 ones, every operation rounded to float32 and
// sums taken left to right, as a simple GPU kernel would compute them. It
// must pass: the suite's tolerances are meant for any correct float32
// implementation, not only for ones that accumulate in float64.
type float32Kernels struct{ *cpu.Backend }

func (m float32Kernels) host(t *backend.Tensor) []float32 {
	v := make([]float32, t.Len())
	m.Download(v, t)
	return v
}

func (m float32Kernels) store(t *backend.Tensor, v []float32) {
	tmp := m.Upload(v, t.Shape...)
	m.Copy(t, tmp)
	m.Free(tmp)
}

func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

func erf32(x float32) float32 { return float32(math.Erf(float64(x))) }

func (m float32Kernels) LayerNorm(y, mean, rstd, x, gamma, beta *backend.Tensor, eps float32) {
	w := x.Cols()
	xv, g, b := m.host(x), m.host(gamma), m.host(beta)
	yv, mv, rv := make([]float32, len(xv)), make([]float32, x.Rows()), make([]float32, x.Rows())
	for r := range mv {
		row := xv[r*w : (r+1)*w]
		var s float32
		for _, v := range row {
			s += v
		}
		mu := s / float32(w)
		var ss float32
		for _, v := range row {
			ss += (v - mu) * (v - mu)
		}
		rs := 1 / float32(math.Sqrt(float64(ss/float32(w)+eps)))
		mv[r], rv[r] = mu, rs
		for j, v := range row {
			yv[r*w+j] = (v-mu)*rs*g[j] + b[j]
		}
	}
	m.store(y, yv)
	m.store(mean, mv)
	m.store(rstd, rv)
}

func (m float32Kernels) LayerNormBack(dx, dgamma, dbeta, dy, x, gamma, mean, rstd *backend.Tensor) {
	w, nb := x.Cols(), dgamma.Rows()
	xv, dyv, g, mv, rv := m.host(x), m.host(dy), m.host(gamma), m.host(mean), m.host(rstd)
	dxv, dgv, dbv := make([]float32, len(xv)), make([]float32, nb*w), make([]float32, nb*w)
	per := len(mv) / nb
	for r := range mv {
		var sg, sgx float32
		for j := range w {
			xh := (xv[r*w+j] - mv[r]) * rv[r]
			gg := dyv[r*w+j] * g[j]
			sg += gg
			sgx += gg * xh
			dgv[r/per*w+j] += dyv[r*w+j] * xh
			dbv[r/per*w+j] += dyv[r*w+j]
		}
		mg, mgx := sg/float32(w), sgx/float32(w)
		for j := range w {
			xh := (xv[r*w+j] - mv[r]) * rv[r]
			dxv[r*w+j] = rv[r] * (dyv[r*w+j]*g[j] - mg - xh*mgx)
		}
	}
	m.store(dx, dxv)
	m.store(dgamma, dgv)
	m.store(dbeta, dbv)
}

func (m float32Kernels) GELU(y, x *backend.Tensor, quick bool) {
	xv := m.host(x)
	for i, v := range xv {
		if quick {
			xv[i] = v / (1 + exp32(-1.702*v))
		} else {
			xv[i] = 0.5 * v * (1 + erf32(v*float32(1/math.Sqrt2)))
		}
	}
	m.store(y, xv)
}

func (m float32Kernels) GELUBack(dx, dy, x *backend.Tensor, quick bool) {
	xv, dyv := m.host(x), m.host(dy)
	for i, v := range xv {
		var d float32
		if quick {
			s := 1 / (1 + exp32(-1.702*v))
			d = s + 1.702*v*s*(1-s)
		} else {
			d = 0.5*(1+erf32(v*float32(1/math.Sqrt2))) + v*exp32(-0.5*v*v)*float32(1/math.Sqrt(2*math.Pi))
		}
		xv[i] = dyv[i] * d
	}
	m.store(dx, xv)
}

func (m float32Kernels) Softmax(y, x *backend.Tensor, causal bool) {
	t := x.Cols()
	xv := m.host(x)
	for r := range len(xv) / t {
		row := xv[r*t : (r+1)*t]
		valid := t
		if causal {
			valid = r%t + 1
		}
		mx := float32(math.Inf(-1))
		for _, v := range row[:valid] {
			mx = max(mx, v)
		}
		var s float32
		for j := range valid {
			row[j] = exp32(row[j] - mx)
			s += row[j]
		}
		for j := range row {
			if j < valid {
				row[j] /= s
			} else {
				row[j] = 0
			}
		}
	}
	m.store(y, xv)
}

func (m float32Kernels) SoftmaxBack(dx, dy, y *backend.Tensor) {
	t := y.Cols()
	yv, dyv := m.host(y), m.host(dy)
	for r := range len(yv) / t {
		var s float32
		for j := range t {
			s += dyv[r*t+j] * yv[r*t+j]
		}
		for j := range t {
			dyv[r*t+j] = yv[r*t+j] * (dyv[r*t+j] - s)
		}
	}
	m.store(dx, dyv)
}

func (m float32Kernels) L2Normalize(y, norm, x *backend.Tensor, eps float32) {
	w := x.Cols()
	xv, nv := m.host(x), make([]float32, x.Rows())
	for r := range nv {
		var ss float32
		for _, v := range xv[r*w : (r+1)*w] {
			ss += v * v
		}
		nv[r] = float32(math.Sqrt(float64(ss)))
		d := max(nv[r], eps)
		for j := range w {
			xv[r*w+j] /= d
		}
	}
	m.store(y, xv)
	m.store(norm, nv)
}

func (m float32Kernels) L2NormalizeBack(dx, dy, y, norm *backend.Tensor, eps float32) {
	w := y.Cols()
	yv, dyv, nv := m.host(y), m.host(dy), m.host(norm)
	for r := range nv {
		if nv[r] < eps {
			for j := range w {
				dyv[r*w+j] /= eps
			}
			continue
		}
		var s float32
		for j := range w {
			s += yv[r*w+j] * dyv[r*w+j]
		}
		for j := range w {
			dyv[r*w+j] = (dyv[r*w+j] - yv[r*w+j]*s) / nv[r]
		}
	}
	m.store(dx, dyv)
}

func (m float32Kernels) SumPerExample(dst, src *backend.Tensor) {
	nb, n := dst.Rows(), dst.Cols()
	sv, dv := m.host(src), make([]float32, nb*n)
	per := src.Rows() / nb
	for r := range src.Rows() {
		for j := range n {
			dv[r/per*n+j] += sv[r*n+j]
		}
	}
	m.store(dst, dv)
}

// TestFloat32KernelsPass checks that the tolerances admit naive float32
// kernels.
func TestFloat32KernelsPass(t *testing.T) {
	run(testingT{t}, float32Kernels{cpu.New(2)}, "SumPerExample", "LayerNorm", "LayerNormBack", "GELU", "GELUBack", "Softmax", "SoftmaxBack", "L2Normalize", "L2NormalizeBack")
}
