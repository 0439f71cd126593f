package clip

import (
	"errors"
	"math"
	"testing"

	"github.com/trak-dev/trak/internal/backend/backendtest"
	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/projection"
)

// checkLive fails unless exactly want tensors of wantBytes bytes are live
// on cb and nothing was freed that was not live.
func checkLive(t *testing.T, cb *backendtest.Counting, after string, want int, wantBytes int64) {
	t.Helper()
	if n, bytes := cb.Live(); n != want || bytes != wantBytes {
		t.Errorf("after %s: %d tensors (%d bytes) live, want %d (%d bytes); live shapes %v", after, n, bytes, want, wantBytes, cb.LiveShapes())
	}
	if bad := cb.BadFrees(); bad != 0 {
		t.Errorf("after %s: %d frees of tensors that were not live", after, bad)
	}
}

// TestTensorLifetimes runs the model on a counting backend and checks that
// after Encode, PerExampleGradients (host sink), PerExampleGradientsOnDevice
// (the backend's projection), SetWeight and every error path, only the
// weights are alive, and after Free nothing is.
func TestTensorLifetimes(t *testing.T) {
	for name, c := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			cb := backendtest.NewCounting(cpu2())
			w := randomWeights(c, 7)
			m, err := New(cb, c, func(p Param, dst []float32) error {
				copy(dst, w[p.Name])
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			weights, wbytes := len(m.Params()), int64(0)
			for _, p := range m.Params() {
				wbytes += 4 * int64(p.Len())
			}
			checkLive(t, cb, "New", weights, wbytes)

			batch := randomBatch(c, 3, 8)
			out := newTestOutput(batch.N, c.EmbedDim, 9)
			if _, err := m.Encode(batch); err != nil {
				t.Fatal(err)
			}
			checkLive(t, cb, "Encode", weights, wbytes)

			made := cb.Made()
			if _, err := m.PerExampleGradients(batch, out.grad, newDenseSink(batch.N, m.NumParams())); err != nil {
				t.Fatal(err)
			}
			if cb.Made() == made {
				t.Fatal("PerExampleGradients made no tensor on the counting backend")
			}
			checkLive(t, cb, "PerExampleGradients", weights, wbytes)

			proj, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: 64, Seed: 1, NumParams: m.NumParams()}, 1)
			if err != nil {
				t.Fatal(err)
			}
			pr := m.Backend().NewProjection(proj, batch.N)
			defer pr.Close()
			if _, err := m.PerExampleGradientsOnDevice(batch, out.grad, pr); err != nil {
				t.Fatal(err)
			}
			pr.Finish(make([]float32, batch.N*64), 64)
			checkLive(t, cb, "PerExampleGradientsOnDevice", weights, wbytes)

			// The model output's gradient fails.
			boom := errors.New("boom")
			failing := func(Embeddings, []float32, []float32) error { return boom }
			if _, err := m.PerExampleGradients(batch, failing, newDenseSink(batch.N, m.NumParams())); !errors.Is(err, boom) {
				t.Fatalf("PerExampleGradients with a failing output gradient: %v", err)
			}
			checkLive(t, cb, "a failing output gradient", weights, wbytes)
			if _, err := m.PerExampleGradientsOnDevice(batch, failing, pr); !errors.Is(err, boom) {
				t.Fatalf("PerExampleGradientsOnDevice with a failing output gradient: %v", err)
			}
			pr.Reset()
			checkLive(t, cb, "a failing output gradient on the device", weights, wbytes)

			// Batches the model refuses.
			badToken := randomBatch(c, 2, 10)
			badToken.Tokens[3] = int32(c.Text.VocabSize)
			short := randomBatch(c, 2, 11)
			short.Images = short.Images[1:]
			shortTokens := randomBatch(c, 2, 12)
			shortTokens.Tokens = shortTokens.Tokens[1:]
			for what, bad := range map[string]Batch{"an empty batch": {}, "a token outside the vocabulary": badToken, "short images": short, "short captions": shortTokens} {
				if _, err := m.Encode(bad); err == nil {
					t.Fatalf("Encode of %s: no error", what)
				}
				checkLive(t, cb, "Encode of "+what, weights, wbytes)
				if _, err := m.PerExampleGradients(bad, out.grad, newDenseSink(2, m.NumParams())); err == nil {
					t.Fatalf("PerExampleGradients of %s: no error", what)
				}
				checkLive(t, cb, "PerExampleGradients of "+what, weights, wbytes)
			}

			m.SetWeight(0, w[m.Params()[0].Name])
			checkLive(t, cb, "SetWeight", weights, wbytes)
			m.Free()
			checkLive(t, cb, "Free", 0, 0)
		})
	}
}

// TestTensorLifetimesNew checks that New leaves nothing alive when it
// fails: a loader error, a non-finite weight, an invalid config.
func TestTensorLifetimesNew(t *testing.T) {
	c := testConfigs()["gelu"]
	w := randomWeights(c, 7)
	for what, load := range map[string]func(p Param, dst []float32) error{
		"a failing loader": func(p Param, dst []float32) error {
			if p.Name == c.Params()[5].Name {
				return errors.New("unreadable")
			}
			copy(dst, w[p.Name])
			return nil
		},
		"a NaN weight": func(p Param, dst []float32) error {
			copy(dst, w[p.Name])
			if p.Name == c.Params()[7].Name {
				dst[0] = float32(math.NaN())
			}
			return nil
		},
	} {
		cb := backendtest.NewCounting(cpu2())
		if _, err := New(cb, c, load); err == nil {
			t.Fatalf("New with %s: no error", what)
		}
		if cb.Made() == 0 {
			t.Fatalf("New with %s made no tensor before failing: the case tests nothing", what)
		}
		checkLive(t, cb, "New with "+what, 0, 0)
	}
	bad := c
	bad.EmbedDim = 0
	cb := backendtest.NewCounting(cpu2())
	if _, err := New(cb, bad, func(Param, []float32) error { return nil }); err == nil {
		t.Fatal("New with an invalid config: no error")
	}
	checkLive(t, cb, "New with an invalid config", 0, 0)
}

func cpu2() *cpu.Backend { return cpu.NewPoisoning(2) }
