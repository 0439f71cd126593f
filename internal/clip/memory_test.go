package clip

import (
	"math"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
)

// countingSink is a denseSink that also counts the blocks it receives.
type countingSink struct {
	*denseSink
	calls int
}

func (s *countingSink) Add(offset int64, n int, g []float32, stride int) {
	s.calls++
	s.denseSink.Add(offset, n, g, stride)
}

// TestChunkedWeightGradients: delivering the per-example weight gradients
// in blocks of rows gives bit for bit the gradients of one block per
// weight, in more, smaller blocks.
func TestChunkedWeightGradients(t *testing.T) {
	tiny, _ := Preset("tiny")
	cfgs := testConfigs()
	cfgs["tiny"] = tiny
	for name, c := range cfgs {
		t.Run(name, func(t *testing.T) {
			w := randomWeights(c, 5)
			m, err := New(cpuBackend(), c, func(p Param, dst []float32) error {
				copy(dst, w[p.Name])
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			batch := randomBatch(c, 3, 6)
			out := newTestOutput(batch.N, c.EmbedDim, 7)
			run := func(chunk int) *countingSink {
				m.gradChunk = chunk
				s := &countingSink{denseSink: newDenseSink(batch.N, m.NumParams())}
				if _, err := m.PerExampleGradients(batch, out.grad, s); err != nil {
					t.Fatal(err)
				}
				if s.err != nil {
					t.Fatal(s.err)
				}
				return s
			}
			whole := run(defaultGradChunk)
			// Blocks of 16 rows of the narrowest inputs.
			chunked := run(batch.N * 16 * min(c.Vision.Width, c.Text.Width))
			if chunked.calls <= whole.calls {
				t.Errorf("%d blocks chunked, %d whole: no weight was chunked", chunked.calls, whole.calls)
			}
			for b := range batch.N {
				for j, v := range whole.g[b] {
					if math.Float64bits(chunked.g[b][j]) != math.Float64bits(v) {
						t.Fatalf("example %d parameter %d: %v chunked, %v whole", b, j, chunked.g[b][j], v)
					}
				}
			}
		})
	}
}

// TestPeakMemory bounds the peak of the tensors alive during
// PerExampleGradients on the tiny model by what the model needs: its
// weights, the saved activations of every block of both towers, one
// weight's per-example gradient and the scratch of one block, computed
// from the layer sizes. Keeping every parameter's per-example gradient (B
// times the weights) or every block's full forward state would exceed it.
// The bound is on the backend's counter of live tensor bytes, not on time.
func TestPeakMemory(t *testing.T) {
	c, _ := Preset("tiny")
	const B = 8
	w := randomWeights(c, 3)
	be := cpu.NewPoisoning(0)
	m, err := New(be, c, func(p Param, dst []float32) error {
		copy(dst, w[p.Name])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := randomBatch(c, B, 4)
	out := newTestOutput(B, c.EmbedDim, 5)
	// A first batch fills the pool; the second must reuse it.
	for i := range 2 {
		be.ResetPeak()
		if _, err := m.PerExampleGradients(batch, out.grad, newDenseSink(B, m.NumParams())); err != nil {
			t.Fatal(err)
		}
		if err := be.CheckFreed(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue
		}
		st := be.MemStats()
		weights := 4 * m.NumParams()
		// Per example and block: x, x2 (T·W), q, k, v (3·T·W), f (T·mlp)
		// and the LayerNorm statistics (2·T each).
		saved := func(T, W, mlp, layers int) int64 {
			return int64(B * layers * (5*T*W + T*mlp + 4*T))
		}
		vt, tt := c.VisionTokens(), c.Text.ContextLength
		acts := 4 * (saved(vt, c.Vision.Width, c.VisionMLP(), c.Vision.Layers) + saved(tt, c.Text.Width, c.TextMLP(), c.Text.Layers))
		// The largest parameter's per-example gradient (capped by the
		// chunking), and a block's scratch: a few (T, mlp) and (T, 3W)
		// tensors per example, and the attention maps.
		var largest int64
		for _, p := range m.Params() {
			largest = max(largest, int64(p.Len()))
		}
		grads := 4 * min(B*largest, int64(defaultGradChunk))
		scratch := 4 * int64(B) * int64(max(vt, tt)) * int64(6*max(c.VisionMLP(), c.TextMLP())+4*max(vt, tt)*max(c.VisionHeads(), c.Text.Heads))
		bound := weights + acts + grads + scratch
		t.Logf("peak %d bytes: weights %d, activations %d, gradient %d, scratch bound %d; pooled %d, reused %d, allocated %d",
			st.Peak, weights, acts, grads, scratch, st.Pooled, st.Reused, st.Allocated)
		if st.Peak > bound {
			t.Errorf("peak of live tensors %d bytes > %d (weights %d + activations %d + one gradient %d + scratch %d)", st.Peak, bound, weights, acts, grads, scratch)
		}
		if all := weights + 4*B*m.NumParams(); st.Peak >= all {
			t.Errorf("peak %d bytes is as much as every per-example gradient at once (%d)", st.Peak, all)
		}
		if st.Live+st.Pooled > 2*st.Peak {
			t.Errorf("live %d + pooled %d > twice the peak %d", st.Live, st.Pooled, st.Peak)
		}
		if st.Live != weights {
			t.Errorf("%d bytes live after the batch, want the weights' %d", st.Live, weights)
		}
	}
}

// TestPoolReusedAcrossBatches: on a non-poisoning backend, a second batch
// of the same shapes is served from the pool entirely, and so is the third
// batch after a change of batch size (the second may still allocate a few
// buffers while the first size's are dropped).
func TestPoolReusedAcrossBatches(t *testing.T) {
	for _, name := range []string{"tiny", "tiny-gelu"} {
		c := benchConfigs()[name]
		be := cpu.New(0)
		w := randomWeights(c, 3)
		m, err := New(be, c, func(p Param, dst []float32) error {
			copy(dst, w[p.Name])
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range []int{4, 16} {
			batch := randomBatch(c, n, 4)
			out := newTestOutput(n, c.EmbedDim, 5)
			var s discardSink
			for range i + 1 {
				if _, err := m.PerExampleGradients(batch, out.grad, &s); err != nil {
					t.Fatal(err)
				}
			}
			before := be.MemStats()
			if _, err := m.PerExampleGradients(batch, out.grad, &s); err != nil {
				t.Fatal(err)
			}
			after := be.MemStats()
			if after.Allocated != before.Allocated {
				t.Errorf("%s, batch %d: the batch after the first of this size allocated %d tensors' storage, want 0 (reused %d)", name, n, after.Allocated-before.Allocated, after.Reused-before.Reused)
			}
		}
	}
}
