package train

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
)

// InitWeights returns a loader for clip.New that initialises a model the
// way open_clip does, from seed: normal weights with open_clip's standard
// deviations (token embedding 0.02, positional embedding 0.01, attention
// and MLP weights scaled by width and depth), LayerNorm scales 1, biases 0,
// logit_scale log(1/0.07). Parameter i's values depend only on (seed, i).
func InitWeights(cfg clip.Config, seed uint64) func(clip.Param, []float32) error {
	index := map[string]int{}
	for i, p := range cfg.Params() {
		index[p.Name] = i
	}
	return func(p clip.Param, dst []float32) error {
		rng := rand.New(rand.NewPCG(seed, uint64(index[p.Name])))
		width := float64(cfg.Text.Width)
		layers := float64(cfg.Text.Layers)
		if strings.HasPrefix(p.Name, "visual.") {
			width, layers = float64(cfg.Vision.Width), float64(cfg.Vision.Layers)
		}
		std := 0.0
		switch {
		case p.Name == "logit_scale":
			dst[0] = float32(math.Log(1 / 0.07))
			return nil
		case p.Name == "token_embedding.weight":
			std = 0.02
		case p.Name == "positional_embedding":
			std = 0.01
		case p.Name == "visual.class_embedding", p.Name == "visual.positional_embedding", p.Name == "visual.proj", p.Name == "visual.conv1.weight":
			std = math.Pow(width, -0.5)
		case p.Name == "text_projection":
			std = math.Pow(width, -0.5)
		case strings.HasSuffix(p.Name, "attn.in_proj_weight"):
			std = math.Pow(width, -0.5)
		case strings.HasSuffix(p.Name, "attn.out_proj.weight"), strings.HasSuffix(p.Name, "mlp.c_proj.weight"):
			std = math.Pow(width, -0.5) * math.Pow(2*layers, -0.5)
		case strings.HasSuffix(p.Name, "mlp.c_fc.weight"):
			std = math.Pow(2*width, -0.5)
		case len(p.Shape) == 1 && strings.HasSuffix(p.Name, "weight"):
			for i := range dst {
				dst[i] = 1
			}
			return nil
		default: // biases
			clear(dst)
			return nil
		}
		for i := range dst {
			dst[i] = float32(std * rng.NormFloat64())
		}
		return nil
	}
}

// Save writes the model's weights as a safetensors file with open_clip's
// tensor names and shapes.
func Save(m *clip.Model, path string) error {
	var ts []checkpoint.NamedTensor
	for _, p := range m.Params() {
		w, _ := m.Weight(p.Name)
		ts = append(ts, checkpoint.NamedTensor{Name: p.Name, Shape: p.Shape, Data: w})
	}
	return checkpoint.WriteSafetensors(path, ts, map[string]string{"format": "pt"})
}
