package clip

import (
	"fmt"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/checkpoint"
)

// Expected returns the tensors a checkpoint of configuration c must hold.
func (c Config) Expected() []checkpoint.Expect {
	var out []checkpoint.Expect
	for _, p := range c.Params() {
		out = append(out, checkpoint.Expect{Name: p.Name, Shape: p.Shape})
	}
	return out
}

// ShapesOf returns the tensor shapes of a checkpoint, for InferConfig.
func ShapesOf(f *checkpoint.File) map[string][]int {
	shapes := map[string][]int{}
	for _, name := range f.Names() {
		t, _ := f.Tensor(name)
		shapes[name] = t.Shape
	}
	return shapes
}

// ResolveConfig returns the architecture of checkpoint f: cfg when given
// (after checking that f matches it), otherwise inferred from f's shapes.
func ResolveConfig(f *checkpoint.File, cfg *Config) (Config, error) {
	if cfg == nil {
		c, err := InferConfig(ShapesOf(f))
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", f.Path, err)
		}
		cfg = &c
	}
	if err := checkpoint.Check(f, cfg.Expected()); err != nil {
		return Config{}, err
	}
	return *cfg, nil
}

// Load builds the model in checkpoint f on b. With cfg nil, the
// architecture is inferred from the tensor shapes.
func Load(b backend.Backend, f *checkpoint.File, cfg *Config) (*Model, error) {
	c, err := ResolveConfig(f, cfg)
	if err != nil {
		return nil, err
	}
	return New(b, c, func(p Param, dst []float32) error {
		t, _ := f.Tensor(p.Name)
		if err := t.Float32s(dst); err != nil {
			return err
		}
		// The weights are in dst now: the file's copy need not stay resident.
		f.ReleasePages(t)
		return nil
	})
}
