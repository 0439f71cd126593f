package backendtest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/cpu"
)

// recorder is a reporter that collects failures instead of failing, so
// that the suite can be run against broken backends.
type recorder struct {
	path  string
	fails *[]string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	*r.fails = append(*r.fails, r.path+": "+fmt.Sprintf(format, args...))
}

func (r *recorder) Run(name string, f func(reporter)) bool {
	n := len(*r.fails)
	func() {
		defer func() {
			if v := recover(); v != nil {
				r.Errorf("%s: panic: %v", name, v)
			}
		}()
		f(&recorder{path: r.path + "/" + name, fails: r.fails})
	}()
	return len(*r.fails) == n
}

// The mutants are the CPU backend with one method subtly broken, each a
// mistake that is easy to make in a new backend.

type ignoresBeta struct{ *cpu.Backend }

func (m ignoresBeta) Gemm(tA, tB bool, alpha float32, a, b *backend.Tensor, beta float32, c *backend.Tensor) {
	m.Backend.Gemm(tA, tB, alpha, a, b, 0, c)
}

type transposesSharedA struct{ *cpu.Backend }

func (m transposesSharedA) Gemm(tA, tB bool, alpha float32, a, b *backend.Tensor, beta float32, c *backend.Tensor) {
	if len(a.Shape) == 2 && len(c.Shape) > 2 && a.Shape[0] == a.Shape[1] {
		tA = !tA // only visible when A is square
	}
	m.Backend.Gemm(tA, tB, alpha, a, b, beta, c)
}

type pooledDgamma struct{ *cpu.Backend }

// LayerNormBack sums dgamma over the whole batch and gives every example
// the total.
func (m pooledDgamma) LayerNormBack(dx, dgamma, dbeta, dy, x, gamma, mean, rstd *backend.Tensor) {
	w := dgamma.Shape[1]
	g, bb := m.New(1, w), m.New(1, w)
	defer m.Free(g)
	defer m.Free(bb)
	m.Backend.LayerNormBack(dx, g, bb, dy, x, gamma, mean, rstd)
	nb := dgamma.Shape[0]
	m.CopyTokens(m.Reshape(dgamma, 1, nb, w), 0, m.Reshape(m.repeat(g, nb), 1, nb, w), 0, nb)
	m.CopyTokens(m.Reshape(dbeta, 1, nb, w), 0, m.Reshape(m.repeat(bb, nb), 1, nb, w), 0, nb)
}

func (m pooledDgamma) repeat(row *backend.Tensor, n int) *backend.Tensor {
	v := make([]float32, row.Len())
	m.Download(v, row)
	out := make([]float32, 0, n*len(v))
	for range n {
		out = append(out, v...)
	}
	return m.Upload(out, n, len(v))
}

type exactGELUBack struct{ *cpu.Backend }

func (m exactGELUBack) GELUBack(dx, dy, x *backend.Tensor, quick bool) {
	m.Backend.GELUBack(dx, dy, x, false)
}

type swapsKV struct{ *cpu.Backend }

func (m swapsKV) JoinQKV(dqkv, dq, dk, dv *backend.Tensor, heads int) {
	m.Backend.JoinQKV(dqkv, dq, dv, dk, heads)
}

// hostRows applies f to the rows of x (t values each, row index given)
// on the host and stores the result in y.
func hostRows(b backend.Backend, y, x *backend.Tensor, t int, f func(r int, row []float32)) {
	v := make([]float32, x.Len())
	b.Download(v, x)
	for r := range len(v) / t {
		f(r, v[r*t:(r+1)*t])
	}
	tmp := b.Upload(v, y.Shape...)
	b.Copy(y, tmp)
	b.Free(tmp)
}

type causalOffByOne struct{ *cpu.Backend }

// Softmax lets query i see column i+1.
func (m causalOffByOne) Softmax(y, x *backend.Tensor, causal bool) {
	if !causal {
		m.Backend.Softmax(y, x, false)
		return
	}
	t := x.Cols()
	hostRows(m, y, x, t, func(r int, row []float32) {
		valid := min(r%t+2, t)
		mx := math.Inf(-1)
		for _, v := range row[:valid] {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row[:valid] {
			s += math.Exp(float64(v) - mx)
		}
		for j := range row {
			if j < valid {
				row[j] = float32(math.Exp(float64(row[j])-mx) / s)
			} else {
				row[j] = 0
			}
		}
	})
}

type noMaxSubtraction struct{ *cpu.Backend }

// Softmax exponentiates in float32 without subtracting the row maximum.
func (m noMaxSubtraction) Softmax(y, x *backend.Tensor, causal bool) {
	t := x.Cols()
	hostRows(m, y, x, t, func(r int, row []float32) {
		valid := t
		if causal {
			valid = r%t + 1
		}
		var s float32
		for j := range valid {
			s += float32(math.Exp(float64(row[j])))
		}
		for j := range row {
			if j < valid {
				row[j] = float32(math.Exp(float64(row[j]))) / s
			} else {
				row[j] = 0
			}
		}
	})
}

type softmaxBackNoSum struct{ *cpu.Backend }

// SoftmaxBack forgets the Σ dy·y term.
func (m softmaxBackNoSum) SoftmaxBack(dx, dy, y *backend.Tensor) {
	yv := make([]float32, y.Len())
	m.Download(yv, y)
	hostRows(m, dx, dy, y.Cols(), func(r int, row []float32) {
		for j := range row {
			row[j] *= yv[r*len(row)+j]
		}
	})
}

type scatterNoZero struct{ *cpu.Backend }

// ScatterTokens writes the rows without zeroing the rest of dst.
func (m scatterNoZero) ScatterTokens(dst, src *backend.Tensor, pos []int) {
	d, s := make([]float32, dst.Len()), make([]float32, src.Len())
	m.Download(d, dst)
	m.Download(s, src)
	t, w := dst.Shape[1], dst.Shape[2]
	for b, p := range pos {
		copy(d[(b*t+p)*w:], s[b*w:(b+1)*w])
	}
	tmp := m.Upload(d, dst.Shape...)
	m.Copy(dst, tmp)
	m.Free(tmp)
}

type unbiasedVariance struct{ *cpu.Backend }

// LayerNorm divides the sum of squares by W−1 (the sample variance).
func (m unbiasedVariance) LayerNorm(y, mean, rstd, x, gamma, beta *backend.Tensor, eps float32) {
	w := x.Cols()
	g, bb := make([]float32, w), make([]float32, w)
	m.Download(g, gamma)
	m.Download(bb, beta)
	mu, rs := make([]float32, x.Rows()), make([]float32, x.Rows())
	hostRows(m, y, x, w, func(r int, row []float32) {
		var s, ss float64
		for _, v := range row {
			s += float64(v)
		}
		mean := s / float64(w)
		for _, v := range row {
			ss += (float64(v) - mean) * (float64(v) - mean)
		}
		rstd := 1 / math.Sqrt(ss/float64(max(w-1, 1))+float64(eps))
		mu[r], rs[r] = float32(mean), float32(rstd)
		for j, v := range row {
			row[j] = float32((float64(v)-mean)*rstd*float64(g[j]) + float64(bb[j]))
		}
	})
	tm, ts := m.Upload(mu, mean.Shape...), m.Upload(rs, rstd.Shape...)
	m.Copy(mean, tm)
	m.Copy(rstd, ts)
	m.Free(tm)
	m.Free(ts)
}

type silentShapes struct{ *cpu.Backend }

// AddBias does nothing when the bias has the wrong length.
func (m silentShapes) AddBias(dst, bias *backend.Tensor) {
	if bias.Len() == dst.Cols() {
		m.Backend.AddBias(dst, bias)
	}
}

type tanhGELU struct{ *cpu.Backend }

// GELU uses the tanh approximation for the exact GELU.
func (m tanhGELU) GELU(y, x *backend.Tensor, quick bool) {
	if quick {
		m.Backend.GELU(y, x, true)
		return
	}
	hostRows(m, y, x, x.Len(), func(_ int, row []float32) {
		for i, v := range row {
			z := float64(v)
			row[i] = float32(0.5 * z * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(z+0.044715*z*z*z))))
		}
	})
}

type tf32Gemm struct{ *cpu.Backend }

// Gemm rounds A and B to 11 significant bits first, as TF32 tensor cores
// do.
func (m tf32Gemm) Gemm(tA, tB bool, alpha float32, a, b *backend.Tensor, beta float32, c *backend.Tensor) {
	round := func(t *backend.Tensor) *backend.Tensor {
		v := make([]float32, t.Len())
		m.Download(v, t)
		for i, x := range v {
			bits := math.Float32bits(x)
			v[i] = math.Float32frombits((bits + 1<<12) &^ (1<<13 - 1))
		}
		return m.Upload(v, t.Shape...)
	}
	ra, rb := round(a), round(b)
	m.Backend.Gemm(tA, tB, alpha, ra, rb, beta, c)
	m.Free(ra)
	m.Free(rb)
}

// TestSuiteCatchesMutants runs the relevant families of the suite against
// each mutant and checks that they fail there.
func TestSuiteCatchesMutants(t *testing.T) {
	base := cpu.New(2)
	for _, c := range []struct {
		name     string
		b        backend.Backend
		families []string
		want     string // a substring of some failure's path
	}{
		{"Gemm ignores beta", ignoresBeta{base}, []string{"Gemm"}, "beta=0.5"},
		{"Gemm transposes a shared square A", transposesSharedA{base}, []string{"Gemm"}, "shareA=true"},
		{"LayerNormBack pools dgamma", pooledDgamma{base}, []string{"LayerNormBack"}, "B=2"},
		{"LayerNorm with unbiased variance", unbiasedVariance{base}, []string{"LayerNorm"}, "W=768"},
		{"GELUBack ignores quick", exactGELUBack{base}, []string{"GELUBack"}, "quick=true"},
		{"JoinQKV swaps k and v", swapsKV{base}, []string{"Heads"}, "B=2"},
		{"Softmax causal off by one", causalOffByOne{base}, []string{"Softmax"}, "causal=true"},
		{"Softmax without max subtraction", noMaxSubtraction{base}, []string{"Softmax"}, "special=true"},
		{"SoftmaxBack without the sum", softmaxBackNoSum{base}, []string{"SoftmaxBack"}, "T=2"},
		{"ScatterTokens without zeroing", scatterNoZero{base}, []string{"Tokens"}, "GatherScatterTokens"},
		{"AddBias without shape check", silentShapes{base}, []string{"Panics"}, "AddBias"},
		{"GELU by the tanh approximation", tanhGELU{base}, []string{"GELU"}, "quick=false"},
		{"Gemm in TF32", tf32Gemm{base}, []string{"Gemm"}, "k=64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var fails []string
			run(&recorder{path: "", fails: &fails}, c.b, c.families...)
			if len(fails) == 0 {
				t.Fatalf("the suite passes the mutant")
			}
			for _, f := range fails {
				if strings.Contains(f, c.want) {
					return
				}
			}
			t.Errorf("no failure mentions %q; first: %s", c.want, fails[0])
		})
	}
}
