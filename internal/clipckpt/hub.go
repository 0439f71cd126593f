package clipckpt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/trak-dev/trak/internal/clip"
)

// hubConfig reads an open_clip_config.json: open_clip's hub form
// {"model_cfg": {...}, "preprocess_cfg": {...}}, or a bare model config
// (what trak train wrote before it wrote the hub form).
func (c *Checkpoint) hubConfig(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	model, hub := raw["model_cfg"]
	if !hub {
		model = data
	}
	cfg, err := clip.ParseConfig(model)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.Config = &cfg
	c.ConfigSource = path
	if pre, ok := raw["preprocess_cfg"]; ok && hub {
		p, err := parsePreprocess(pre)
		if err != nil {
			return fmt.Errorf("%s: preprocess_cfg: %w", path, err)
		}
		p.Source = path
		c.Preprocess = p
	}
	return nil
}

// parsePreprocess reads open_clip's preprocess_cfg.
func parsePreprocess(data []byte) (*Preprocess, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	p := &Preprocess{}
	for _, k := range slices.Sorted(mapKeys(m)) {
		v := m[k]
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		var err error
		switch k {
		case "size":
			p.ImageSize, err = parseSize(v)
		case "mode":
			var mode string
			if err = json.Unmarshal(v, &mode); err == nil && mode != "RGB" {
				err = fmt.Errorf("%q: trak feeds RGB images only", mode)
			}
		case "mean":
			p.Mean, err = parseTriple(v)
		case "std":
			p.Std, err = parseTriple(v)
		case "interpolation":
			err = json.Unmarshal(v, &p.Interpolation)
		case "resize_mode":
			err = json.Unmarshal(v, &p.ResizeMode)
		case "fill_color":
			var fill int
			if err = json.Unmarshal(v, &fill); err == nil {
				p.FillColor = &fill
			}
		default:
			err = fmt.Errorf("unknown key (trak reads size, mode, mean, std, interpolation, resize_mode, fill_color)")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return p, nil
}

// parseSize reads an image size given as one number or as [h, w] with
// h = w.
func parseSize(v json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(v, &n); err == nil {
		return n, nil
	}
	var hw []int
	if err := json.Unmarshal(v, &hw); err != nil || len(hw) != 2 {
		return 0, fmt.Errorf("%s is neither a size nor [height, width]", strings.TrimSpace(string(v)))
	}
	if hw[0] != hw[1] {
		return 0, fmt.Errorf("%d × %d: trak's image tower takes square images", hw[0], hw[1])
	}
	return hw[0], nil
}

// parseTriple reads a per-channel value: three numbers, or one for all.
func parseTriple(v json.RawMessage) ([]float64, error) {
	var x float64
	if err := json.Unmarshal(v, &x); err == nil {
		return []float64{x, x, x}, nil
	}
	var xs []float64
	if err := json.Unmarshal(v, &xs); err != nil || len(xs) != 3 {
		return nil, fmt.Errorf("%s: want three numbers, one per channel", strings.TrimSpace(string(v)))
	}
	return xs, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
