package clip

import (
	"math"
	"testing"

	"github.com/trak-dev/trak/internal/projection"
)

// teeSink hands every block to two sinks.
type teeSink struct{ a, b GradSink }

func (t teeSink) Add(offset int64, n int, g []float32, stride int) {
	t.a.Add(offset, n, g, stride)
	t.b.Add(offset, n, g, stride)
}

// TestProjectedGradients feeds the model's per-example gradients, in
// backward order and with sparse token-embedding rows, straight into the
// projection, and compares with Pᵀg computed from the dense gradient and
// the projection's entry definition in float64. The projection's float32
// block products carry ~1e-6 relative error; the bound is 1e-4 of the
// feature vector's largest entry.
func TestProjectedGradients(t *testing.T) {
	const k, tol = 96, 1e-4
	c := testConfigs()["gelu"]
	m := buildModel(t, c, randomWeights(c, 3), 2)
	batch := randomBatch(c, 3, 3)
	out := newTestOutput(batch.N, c.EmbedDim, 3)
	proj, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, Seed: 5, ModelID: 1, NumParams: m.NumParams()}, 2)
	if err != nil {
		t.Fatal(err)
	}
	acc := proj.NewAccumulator(batch.N)
	defer acc.Close()
	dense := newDenseSink(batch.N, m.NumParams())
	if _, err := m.PerExampleGradients(batch, out.grad, teeSink{dense, acc}); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, batch.N*k)
	acc.Finish(got, k)
	for b := range batch.N {
		want := make([]float64, k)
		for j, g := range dense.g[b] {
			if g == 0 {
				continue
			}
			for col := range k {
				want[col] += g * float64(proj.Entry(int64(j), col))
			}
		}
		scale := 0.0
		for _, v := range want {
			scale = math.Max(scale, math.Abs(v))
		}
		for col := range k {
			if d := math.Abs(float64(got[b*k+col]) - want[col]); d > tol*scale {
				t.Fatalf("example %d, feature %d: %g, brute force %g", b, col, got[b*k+col], want[col])
			}
		}
	}
}

// TestDeviceProjectionMatchesHost checks that the projection fed on the
// device (PerExampleGradientsOnDevice into the backend's Projection) gives
// features bit-identical to the host path (PerExampleGradients into a
// projection.Accumulator), for every kind, both activations and a batch
// whose captions share tokens.
func TestDeviceProjectionMatchesHost(t *testing.T) {
	for name, c := range testConfigs() {
		for _, kind := range []projection.Kind{projection.Rademacher, projection.Normal, projection.None} {
			t.Run(name+"/"+string(kind), func(t *testing.T) {
				m := buildModel(t, c, randomWeights(c, 4), 2)
				batch := randomBatch(c, 3, 5)
				out := newTestOutput(batch.N, c.EmbedDim, 6)
				k := 130
				if kind == projection.None {
					k = int(m.NumParams())
				}
				proj, err := projection.New(projection.Spec{Kind: kind, Dim: k, Seed: 9, ModelID: 2, NumParams: m.NumParams()}, 2)
				if err != nil {
					t.Fatal(err)
				}
				acc := proj.NewAccumulator(batch.N)
				defer acc.Close()
				embHost, err := m.PerExampleGradients(batch, out.grad, acc)
				if err != nil {
					t.Fatal(err)
				}
				want := make([]float32, batch.N*k)
				acc.Finish(want, k)

				dev := m.Backend().NewProjection(proj, batch.N)
				defer dev.Close()
				embDev, err := m.PerExampleGradientsOnDevice(batch, out.grad, dev)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, batch.N*k)
				dev.Finish(got, k)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("feature %d: device %g, host %g", i, got[i], want[i])
					}
				}
				for i := range embHost.Image {
					if embHost.Image[i] != embDev.Image[i] || embHost.Text[i] != embDev.Text[i] {
						t.Fatalf("embedding %d differs between the two paths", i)
					}
				}
			})
		}
	}
}
