package clipckpt

import (
	"encoding/json"
	"fmt"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/imageprep"
)

// HubConfig returns the open_clip_config.json of a model of configuration
// cfg whose images are preprocessed by t, in open_clip's hub form, which
// open_clip (create_model_from_pretrained with a hub or local folder) and
// trak both read.
func HubConfig(cfg clip.Config, t imageprep.Transform) []byte {
	pre := map[string]any{
		"size":          t.Size,
		"mode":          "RGB",
		"mean":          t.Mean,
		"std":           t.Std,
		"interpolation": t.Interpolation,
		"resize_mode":   t.ResizeMode,
		"fill_color":    t.FillColor,
	}
	out, _ := json.MarshalIndent(map[string]any{
		"model_cfg":      json.RawMessage(cfg.JSON()),
		"preprocess_cfg": pre,
	}, "", "  ")
	return append(out, '\n')
}

// WriteHubConfig atomically writes HubConfig(cfg, t) to path.
func WriteHubConfig(path string, cfg clip.Config, t imageprep.Transform) error {
	if err := atomicfile.WriteFile(path, HubConfig(cfg, t), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
