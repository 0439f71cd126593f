package backendtest

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// smCase is a softmax input (lead..., T, T).
type smCase struct {
	lead    []int
	t       int
	causal  bool
	special bool // rows with −Inf entries, huge values and constants
}

func (c smCase) rows() int { return prod(c.lead...) * c.t }

func (c smCase) shape() []int { return append(append([]int{}, c.lead...), c.t, c.t) }

func (c smCase) String() string {
	return name("lead=%v,T=%d,causal=%t,special=%t", c.lead, c.t, c.causal, c.special)
}

func smCases() []smCase {
	var cs []smCase
	for _, causal := range []bool{false, true} {
		for _, t := range []int{1, 2, 5, 63, 64, 65} {
			cs = append(cs, smCase{lead: []int{2, 3}, t: t, causal: causal})
		}
		cs = append(cs, smCase{lead: []int{4, 9}, t: 45, causal: causal})
	}
	return append(cs, smCase{lead: []int{1}, t: 8, special: true}, smCase{lead: []int{3}, t: 77, special: true})
}

// input returns x (rows × T) from N(0, 3²). A causal case fills the masked
// entries with NaN (they must be ignored). A special case makes row 0
// half −Inf, row 1 values near ±1e30, row 2 constant.
func (c smCase) input(key string) []float32 {
	rows, t := c.rows(), c.t
	x := normal(rng(key), rows*t, 0, 3)
	if c.causal {
		for r := range rows {
			for j := r%t + 1; j < t; j++ {
				x[r*t+j] = float32(math.NaN())
			}
		}
	}
	if c.special && rows >= 3 {
		for j := range t {
			if j%2 == 1 {
				x[j] = float32(math.Inf(-1))
			}
			x[t+j] = float32(1e30 * float64(1-2*(j%3)))
			x[2*t+j] = 7
		}
	}
	return x
}

// testSoftmax checks Softmax against refSoftmax with tolerance u times the
// error magnitude refSoftmax documents; masked entries, and entries
// whose exponential underflows, must be exactly 0.
func testSoftmax(r reporter, b backend.Backend) {
	for _, c := range smCases() {
		r.Run(c.String(), func(r reporter) {
			x := c.input("Softmax/" + c.String())
			tx, ty := b.Upload(x, c.shape()...), b.New(c.shape()...)
			defer freeAll(b, tx, ty)
			b.Softmax(ty, tx, c.causal)
			want, scale := refSoftmax(f64(x), c.rows(), c.t, c.causal)
			compare(r, "y", download(b, ty), want, scale, u)
		})
	}
}

// testSoftmaxBack checks SoftmaxBack, given y (the reference softmax,
// rounded), against refSoftmaxBack with tolerance (T+4)·u times its
// scale (a T-term sum), and against finite differences of
// Σ dy⊙softmax(x) row by row (masked entries have derivative 0).
func testSoftmaxBack(r reporter, b backend.Backend) {
	for _, c := range smCases() {
		if c.special {
			continue
		}
		r.Run(c.String(), func(r reporter) {
			rows, t := c.rows(), c.t
			x := c.input("SoftmaxBack/" + c.String())
			for i, v := range x {
				if math.IsNaN(float64(v)) {
					x[i] = 0 // keep finite differences finite
				}
			}
			dy := normal(rng("SoftmaxBack/dy/"+c.String()), rows*t, 0, 1)
			xf, dyf := f64(x), f64(dy)
			y, _ := refSoftmax(xf, rows, t, c.causal)
			y32 := f32(y)
			ty, tdy, tdx := b.Upload(y32, c.shape()...), b.Upload(dy, c.shape()...), b.New(c.shape()...)
			defer freeAll(b, ty, tdy, tdx)
			b.SoftmaxBack(tdx, tdy, ty)
			dx := download(b, tdx)
			rdx, scale := refSoftmaxBack(dyf, f64(y32), rows, t)
			tol := float64(t+4) * u
			compare(r, "dx", dx, rdx, scale, tol)
			// y's rounding perturbs dx by a few u relative to y⊙(|dy| + Σ|dy|y),
			// already in scale; finite differences see the exact softmax.
			edx, _ := refSoftmaxBack(dyf, y, rows, t) // from the exact y
			dir := f64(normal(rng("SoftmaxBack/dir/"+c.String()), rows*t, 0, 1))
			h := make([]float64, rows*t)
			for i := range h {
				h[i] = 3 * gradEps
			}
			// Every query position (the first T rows) in full, the others
			// along a random direction.
			loss := func(i int) func([]float64) float64 {
				valid := t
				if c.causal {
					valid = i%t + 1
				}
				return func(x []float64) float64 { return weighted(dyf[i*t:(i+1)*t], softmaxRow(x, valid)) }
			}
			checkRows(r, "dx by finite differences", rows, t, t, loss, xf, h, dx, edx, scale, tol, dir)
		})
	}
}
