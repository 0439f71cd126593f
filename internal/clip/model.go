package clip

import (
	"fmt"
	"math"

	"github.com/trak-dev/trak/internal/backend"
)

// GradSink receives per-example gradients one parameter tensor (or part of
// one) at a time: for parameters [offset, offset+n), row b of g (at
// g[b*stride:]) belongs to example b of the batch. Tensors arrive in
// backward order; parameters never delivered have zero gradient (for
// example logit_scale, and the rows of token_embedding no example uses).
// *projection.Accumulator implements it. It is the host-side form of
// backend.GradSink, for PerExampleGradients; PerExampleGradientsOnDevice
// hands the blocks to a backend.GradSink without downloading them.
type GradSink interface {
	Add(offset int64, n int, g []float32, stride int)
}

// Model is a CLIP model with its weights on a backend.
type Model struct {
	Config Config
	b      backend.Backend
	params []Param
	w      []*backend.Tensor // by parameter index
	index  map[string]int

	vision, text tower

	// gradChunk is the most elements of a weight's per-example gradient
	// computed at once (see gradOut.weight): defaultGradChunk, smaller in
	// tests.
	gradChunk int
}

// defaultGradChunk bounds the blocks of per-example weight gradients to
// 16 MiB.
const defaultGradChunk = 1 << 22

// tower is one transformer stack.
type tower struct {
	blocks []blockParams
	width  int
	heads  int
	mlp    int
	causal bool
}

// blockParams holds the parameter indices of one residual block, in
// open_clip's order.
type blockParams struct {
	ln1w, ln1b, inW, inB, outW, outB, ln2w, ln2b, fcW, fcB, projW, projB int
}

// New builds a model of configuration cfg on b, filling each parameter with
// load (called once per parameter, in parameter order, with a zeroed buffer
// of the parameter's length, which load must not keep: one host buffer, as
// long as the largest parameter, serves them all, so that loading leaves
// no weights' worth of garbage behind).
func New(b backend.Backend, cfg Config, load func(p Param, dst []float32) error) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, b: b, params: cfg.Params(), index: map[string]int{}, gradChunk: defaultGradChunk}
	m.w = make([]*backend.Tensor, len(m.params))
	largest := 0
	for _, p := range m.params {
		largest = max(largest, p.Len())
	}
	host := make([]float32, largest)
	for i, p := range m.params {
		m.index[p.Name] = i
		buf := host[:p.Len()]
		clear(buf)
		if err := load(p, buf); err != nil {
			m.Free()
			return nil, fmt.Errorf("load %s: %w", p.Name, err)
		}
		if err := checkWeight(p.Name, buf); err != nil {
			m.Free()
			return nil, err
		}
		shape := p.Shape
		if len(shape) == 0 {
			shape = []int{1}
		}
		m.w[i] = b.Upload(buf, shape...)
	}
	m.vision = m.newTower("visual.transformer.resblocks.", cfg.Vision.Layers, cfg.Vision.Width, cfg.VisionHeads(), cfg.VisionMLP(), false)
	m.text = m.newTower("transformer.resblocks.", cfg.Text.Layers, cfg.Text.Width, cfg.Text.Heads, cfg.TextMLP(), true)
	return m, nil
}

func (m *Model) newTower(prefix string, layers, width, heads, mlp int, causal bool) tower {
	t := tower{width: width, heads: heads, mlp: mlp, causal: causal}
	for i := range layers {
		p := fmt.Sprintf("%s%d.", prefix, i)
		t.blocks = append(t.blocks, blockParams{
			ln1w: m.index[p+"ln_1.weight"], ln1b: m.index[p+"ln_1.bias"],
			inW: m.index[p+"attn.in_proj_weight"], inB: m.index[p+"attn.in_proj_bias"],
			outW: m.index[p+"attn.out_proj.weight"], outB: m.index[p+"attn.out_proj.bias"],
			ln2w: m.index[p+"ln_2.weight"], ln2b: m.index[p+"ln_2.bias"],
			fcW: m.index[p+"mlp.c_fc.weight"], fcB: m.index[p+"mlp.c_fc.bias"],
			projW: m.index[p+"mlp.c_proj.weight"], projB: m.index[p+"mlp.c_proj.bias"],
		})
	}
	return t
}

// Backend returns the backend the model computes on: the one to make a
// backend.Projection with for PerExampleGradientsOnDevice.
func (m *Model) Backend() backend.Backend { return m.b }

// lnEps is the epsilon of the model's LayerNorms, as the backend takes it.
func (m *Model) lnEps() float32 { return float32(m.Config.LayerNormEpsilon()) }

// Params returns the parameters in projection order.
func (m *Model) Params() []Param { return m.params }

// NumParams returns the number of parameters.
func (m *Model) NumParams() int64 { return m.Config.NumParams() }

// Weight returns a copy of the named parameter's values.
func (m *Model) Weight(name string) ([]float32, bool) {
	i, ok := m.index[name]
	if !ok {
		return nil, false
	}
	out := make([]float32, m.w[i].Len())
	m.b.Download(out, m.w[i])
	return out, true
}

// SetWeight replaces parameter i's values (len = the parameter's length),
// for training.
func (m *Model) SetWeight(i int, data []float32) {
	p := m.params[i]
	if len(data) != p.Len() {
		panic(fmt.Sprintf("clip: SetWeight %s with %d values, want %d", p.Name, len(data), p.Len()))
	}
	shape := p.Shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	m.b.Free(m.w[i])
	m.w[i] = m.b.Upload(data, shape...)
}

// param returns the tensor of a parameter by name; names are fixed by the
// model definition, so a missing one is a programmer error.
func (m *Model) param(name string) *backend.Tensor {
	i, ok := m.index[name]
	if !ok {
		panic("clip: no parameter " + name)
	}
	return m.w[i]
}

// Free releases the weights.
func (m *Model) Free() {
	for _, t := range m.w {
		if t != nil {
			m.b.Free(t)
		}
	}
}

// checkWeight refuses a parameter with a NaN or an infinity, and a
// logit_scale whose exponential (the temperature) overflows float32: either
// makes every model output, and so every score, NaN.
func checkWeight(name string, v []float32) error {
	bad, first := 0, -1
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			if bad == 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%s has %d non-finite values (the first, %v, at element %d): the checkpoint is damaged or its training diverged", name, bad, v[first], first)
	}
	if name == "logit_scale" && len(v) == 1 {
		if t := math.Exp(float64(v[0])); math.IsInf(float64(float32(t)), 0) {
			return fmt.Errorf("logit_scale is %v: its exponential, the temperature, overflows float32; the checkpoint is damaged or its training diverged", v[0])
		}
	}
	return nil
}
