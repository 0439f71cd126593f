package featurize

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/projection"
)

// deviceExamples is fakeExamples computing on a backend: its gradients are
// delivered as backend tensors, in two blocks, to the backend's projection.
type deviceExamples struct {
	fakeExamples
	b     backend.Backend
	calls int // GradientsOnDevice calls
}

func (d *deviceExamples) NewProjection(p *projection.Projector, batch int) backend.Projection {
	return d.b.NewProjection(p, batch)
}

func (d *deviceExamples) GradientsOnDevice(ctx context.Context, idx []int, sink backend.GradSink, q []float32) error {
	d.calls++
	p := int(d.p)
	split := p / 3
	lo, hi := make([]float32, len(idx)*split), make([]float32, len(idx)*(p-split))
	for b, i := range idx {
		for j := range p {
			v := float32(math.Sin(float64(i*31 + j)))
			if j < split {
				lo[b*split+j] = v
			} else {
				hi[b*(p-split)+j-split] = v
			}
		}
		q[b] = float32(i) / 100
	}
	// The later block first: a backward pass delivers from the output.
	for _, blk := range []struct {
		off  int64
		data []float32
		n    int
	}{{int64(split), hi, p - split}, {0, lo, split}} {
		t := d.b.Upload(blk.data, len(idx), blk.n)
		sink.Add(blk.off, t)
		d.b.Free(t)
	}
	return ctx.Err()
}

// TestDeviceExamplesProjectOnTheirBackend: Examples that compute on a
// backend are projected by that backend's Projection (Gradients, the host
// path, is never called), and the stored features and Q are bit-identical
// to the host path's.
func TestDeviceExamplesProjectOnTheirBackend(t *testing.T) {
	const n, k, p = 23, 16, 40
	proj, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, NumParams: p}, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, host := newRows(t, n, k)
	if _, err := Run(context.Background(), &fakeExamples{n: n, p: p}, host, Options{Projector: proj, BatchSize: 5}); err != nil {
		t.Fatal(err)
	}
	_, dev := newRows(t, n, k)
	ex := &deviceExamples{fakeExamples: fakeExamples{n: n, p: p}, b: cpu.New(1)}
	if _, err := Run(context.Background(), ex, dev, Options{Projector: proj, BatchSize: 5}); err != nil {
		t.Fatal(err)
	}
	if ex.calls != 5 {
		t.Errorf("GradientsOnDevice called %d times, want 5 batches", ex.calls)
	}
	a, b := make([]float64, k), make([]float64, k)
	for i := range n {
		host.Row(i, a)
		dev.Row(i, b)
		if !slices.Equal(a, b) {
			t.Fatalf("row %d: device %v, host %v", i, b, a)
		}
	}
	if !slices.Equal(host.Q(), dev.Q()) {
		t.Error("Q differs between the paths")
	}
}
