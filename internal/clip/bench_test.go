package clip

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/projection"
)

// discardSink counts what it receives; benchmarks of the model alone use
// it so that the projection's cost is left out.
type discardSink struct{ n int64 }

func (s *discardSink) Add(_ int64, n int, _ []float32, _ int) { s.n += int64(n) }

// benchModel builds a randomly initialised model quickly (weights only need
// plausible scales for timing).
func benchModel(b *testing.B, c Config) *Model {
	rng := rand.New(rand.NewPCG(1, 1))
	m, err := New(cpu.New(0), c, func(p Param, dst []float32) error {
		for i := range dst {
			dst[i] = float32(0.02 * rng.NormFloat64())
		}
		if len(p.Shape) == 1 && (p.Name[len(p.Name)-6:] == "weight") {
			for i := range dst {
				dst[i] = 1
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func benchConfigs() map[string]Config {
	tiny, _ := Preset("tiny")
	b32, _ := Preset("ViT-B-32")
	// tiny-gelu is scripts/reference/clip_reference.py's model of that
	// name, the one scripts/reference/bench_torch.py times.
	tinyGELU := Config{
		EmbedDim: 16,
		Vision:   VisionConfig{ImageSize: 16, Layers: 2, Width: 32, HeadWidth: 16, PatchSize: 8, MLPRatio: 4},
		Text:     TextConfig{ContextLength: 8, VocabSize: 64, Width: 32, Heads: 2, Layers: 2, MLPRatio: 4},
	}
	return map[string]Config{"tiny": tiny, "tiny-gelu": tinyGELU, "ViT-B-32": b32}
}

// BenchmarkEncode measures the forward pass of both towers (examples/s).
func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"tiny", "ViT-B-32"} {
		c := benchConfigs()[name]
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/B=%d", name, n), func(b *testing.B) {
				m := benchModel(b, c)
				batch := randomBatch(c, n, 1)
				b.ResetTimer()
				for range b.N {
					if _, err := m.Encode(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "examples/s")
				reportPeak(b, m)
			})
		}
	}
}

// BenchmarkPerExampleGradients measures forward, backward and the
// per-example parameter gradients of every example (examples/s), without
// the projection.
func BenchmarkPerExampleGradients(b *testing.B) {
	for _, name := range []string{"tiny", "tiny-gelu", "ViT-B-32"} {
		c := benchConfigs()[name]
		for _, n := range []int{1, 8, 16} {
			b.Run(fmt.Sprintf("%s/B=%d", name, n), func(b *testing.B) {
				m := benchModel(b, c)
				batch := randomBatch(c, n, 1)
				out := newTestOutput(n, c.EmbedDim, 1)
				var sink discardSink
				b.ResetTimer()
				for range b.N {
					if _, err := m.PerExampleGradients(batch, out.grad, &sink); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "examples/s")
				reportPeak(b, m)
			})
		}
	}
}

// BenchmarkProjectedGradients measures per-example gradients projected
// with k = 2048 columns, the two ways: "host" downloads every block into a
// projection.Accumulator (PerExampleGradients, the path before gradients
// stayed on the device), "device" hands the backend's tensors to its
// Projection (PerExampleGradientsOnDevice). Compare the two as a ratio.
// Only the tiny model: ViT-B-32's projection takes minutes an iteration on
// a CPU.
func BenchmarkProjectedGradients(b *testing.B) {
	const k = 2048
	for _, name := range []string{"tiny"} {
		c := benchConfigs()[name]
		for _, n := range []int{1, 8} {
			for _, path := range []string{"host", "device"} {
				b.Run(fmt.Sprintf("%s/B=%d/%s", name, n, path), func(b *testing.B) {
					m := benchModel(b, c)
					batch := randomBatch(c, n, 1)
					out := newTestOutput(n, c.EmbedDim, 1)
					proj, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, Seed: 1, NumParams: m.NumParams()}, runtime.NumCPU())
					if err != nil {
						b.Fatal(err)
					}
					feats := make([]float32, n*k)
					acc := proj.NewAccumulator(n)
					defer acc.Close()
					dev := m.Backend().NewProjection(proj, n)
					defer dev.Close()
					b.ResetTimer()
					for range b.N {
						if path == "host" {
							_, err = m.PerExampleGradients(batch, out.grad, acc)
							acc.Finish(feats, k)
						} else {
							_, err = m.PerExampleGradientsOnDevice(batch, out.grad, dev)
							dev.Finish(feats, k)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "examples/s")
				})
			}
		}
	}
}

// reportPeak reports the Go heap's size in MB (the process's peak RSS is
// what scripts/bench_clip.sh reports) and the peak of the tensors.
func reportPeak(b *testing.B, m *Model) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/1e6, "heap-MB")
	if cb, ok := m.Backend().(*cpu.Backend); ok {
		// The high-water mark of the backend's live tensors (weights
		// included), in MB.
		b.ReportMetric(float64(cb.MemStats().Peak)/1e6, "tensor-peak-MB")
	}
}
