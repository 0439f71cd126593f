package clip

import (
	"fmt"
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// Embeddings are the model's outputs for a batch: the L2-normalised image
// and text embeddings φ and ψ (N × E each, row-major).
type Embeddings struct {
	Image, Text []float32
	N, Dim      int
}

// LogitScale returns the temperature exp(logit_scale).
func (m *Model) LogitScale() float64 {
	v, _ := m.Weight("logit_scale")
	return math.Exp(float64(v[0]))
}

// Encode runs both towers forward on a batch.
func (m *Model) Encode(batch Batch) (Embeddings, error) {
	if err := m.check(batch); err != nil {
		return Embeddings{}, err
	}
	b, c := m.b, m.Config
	s := c.Vision.ImageSize
	images := b.Upload(batch.Images, batch.N, 3, s, s)
	defer b.Free(images)
	var vc, tc towerCache
	phi := m.visionForward(images, false, &vc)
	defer b.Free(phi)
	psi := m.textForward(batch.Tokens, batch.N, false, &tc)
	defer b.Free(psi)
	e := Embeddings{Image: make([]float32, batch.N*c.EmbedDim), Text: make([]float32, batch.N*c.EmbedDim), N: batch.N, Dim: c.EmbedDim}
	b.Download(e.Image, phi)
	b.Download(e.Text, psi)
	return e, nil
}

// OutputGrad is a per-example scalar function s_b(φ_b, ψ_b) of the
// normalised embeddings: given φ and ψ (N × E), it writes ∂s_b/∂φ_b and
// ∂s_b/∂ψ_b into dphi and dpsi (N × E).
type OutputGrad func(emb Embeddings, dphi, dpsi []float32) error

// PerExampleGradients is PerExampleGradientsOnDevice for a sink that reads
// host memory: each block is downloaded before the sink sees it.
func (m *Model) PerExampleGradients(batch Batch, grad OutputGrad, sink GradSink) (Embeddings, error) {
	return m.PerExampleGradientsOnDevice(batch, grad, &hostSink{b: m.b, sink: sink})
}

// PerExampleGradientsOnDevice computes, for every example b of the batch
// separately, the gradient of s_b with respect to every model parameter,
// and delivers it to sink, as a tensor of the model's backend, one
// parameter tensor at a time during the backward pass (so that only one
// layer's per-example gradients exist at once): with a backend.Projection
// made by the same backend, the gradients never leave the device. It
// returns the embeddings it computed.
func (m *Model) PerExampleGradientsOnDevice(batch Batch, grad OutputGrad, sink backend.GradSink) (Embeddings, error) {
	if err := m.check(batch); err != nil {
		return Embeddings{}, err
	}
	b, c := m.b, m.Config
	n, e, s := batch.N, c.EmbedDim, c.Vision.ImageSize
	images := b.Upload(batch.Images, n, 3, s, s)
	var vc, tc towerCache
	phi := m.visionForward(images, true, &vc)
	b.Free(images)
	psi := m.textForward(batch.Tokens, n, true, &tc)
	emb := Embeddings{Image: make([]float32, n*e), Text: make([]float32, n*e), N: n, Dim: e}
	b.Download(emb.Image, phi)
	b.Download(emb.Text, psi)
	dphiHost, dpsiHost := make([]float32, n*e), make([]float32, n*e)
	if err := grad(emb, dphiHost, dpsiHost); err != nil {
		m.freeCaches(&vc, &tc)
		b.Free(phi)
		b.Free(psi)
		return Embeddings{}, fmt.Errorf("model output gradient: %w", err)
	}
	g := &gradOut{m: m, sink: sink}
	dphi := b.Upload(dphiHost, n, e)
	m.visionBackward(&vc, phi, dphi, g)
	b.Free(dphi)
	b.Free(phi)
	dpsi := b.Upload(dpsiHost, n, e)
	m.textBackward(&tc, batch.Tokens, psi, dpsi, g)
	b.Free(dpsi)
	b.Free(psi)
	return emb, nil
}

// freeCaches releases the forward state of both towers after a failure.
func (m *Model) freeCaches(tcs ...*towerCache) {
	for _, tc := range tcs {
		for _, c := range tc.blocks {
			c.free(m.b)
			m.b.Free(c.x)
		}
		if tc.input != nil {
			m.b.Free(tc.input)
		}
		if tc.last != nil {
			m.b.Free(tc.last)
		}
		if tc.head.pooled != nil {
			m.freeHead(&tc.head)
		}
	}
}
