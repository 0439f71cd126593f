// Package clip is the CLIP image–caption model as open_clip defines it: its
// configuration, parameters (names, shapes and order), forward pass and exact
// per-example gradients of any per-example scalar function of the two
// embeddings, written once against backend.Backend.
//
// Per-example gradients are produced layer by layer during the backward
// pass and handed to a GradSink (the projection), so memory is bounded by
// one layer's per-example gradients rather than by batch × parameters.
package clip

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
)

// VisionConfig is open_clip's vision_cfg for a ViT.
type VisionConfig struct {
	ImageSize int     `json:"image_size"`
	Layers    int     `json:"layers"`
	Width     int     `json:"width"`
	HeadWidth int     `json:"head_width"`
	PatchSize int     `json:"patch_size"`
	MLPRatio  float64 `json:"mlp_ratio"`
}

// TextConfig is open_clip's text_cfg.
type TextConfig struct {
	ContextLength int     `json:"context_length"`
	VocabSize     int     `json:"vocab_size"`
	Width         int     `json:"width"`
	Heads         int     `json:"heads"`
	Layers        int     `json:"layers"`
	MLPRatio      float64 `json:"mlp_ratio"`
}

// Config is an open_clip model configuration (the JSON files open_clip
// ships, e.g. ViT-B-32.json).
type Config struct {
	EmbedDim  int          `json:"embed_dim"`
	Vision    VisionConfig `json:"vision_cfg"`
	Text      TextConfig   `json:"text_cfg"`
	QuickGELU bool         `json:"quick_gelu"`
	// LayerNormEps is the epsilon of every LayerNorm of both towers; 0
	// means LayerNormEps, the constant, so that the JSON and Hash of every
	// config that does not set it are those of open_clip's file. Hugging
	// Face configs state it (layer_norm_eps).
	LayerNormEps float64 `json:"layer_norm_eps,omitempty"`
}

// LayerNormEps is the epsilon of every LayerNorm in open_clip's CLIP, used
// when Config.LayerNormEps is 0.
const LayerNormEps = 1e-5

// LayerNormEpsilon returns the epsilon the model's LayerNorms use.
func (c Config) LayerNormEpsilon() float64 {
	if c.LayerNormEps == 0 {
		return LayerNormEps
	}
	return c.LayerNormEps
}

// VisionHeads returns the number of vision attention heads.
func (c Config) VisionHeads() int { return c.Vision.Width / c.Vision.HeadWidth }

// Grid returns the number of patches per image side.
func (c Config) Grid() int { return c.Vision.ImageSize / c.Vision.PatchSize }

// VisionTokens returns 1 + Grid², the class token plus the patches.
func (c Config) VisionTokens() int { return 1 + c.Grid()*c.Grid() }

// VisionMLP and TextMLP return the hidden widths of the MLPs.
func (c Config) VisionMLP() int { return int(float64(c.Vision.Width) * c.Vision.MLPRatio) }

// TextMLP returns the hidden width of the text MLPs.
func (c Config) TextMLP() int { return int(float64(c.Text.Width) * c.Text.MLPRatio) }

// ParseConfig reads an open_clip JSON config, bare or in the hub form of
// open_clip_config.json ({"model_cfg": ..., "preprocess_cfg": ...}). Keys
// open_clip uses for architectures trak does not implement (timm or Hugging
// Face towers, ResNet vision towers, attention pooling, …) are errors, not
// ignored.
func ParseConfig(data []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, err
	}
	if model, ok := raw["model_cfg"]; ok {
		// open_clip's hub form, {"model_cfg": ..., "preprocess_cfg": ...}:
		// the architecture is its model_cfg.
		return ParseConfig(model)
	}
	if arch := unsupportedConfig(raw); arch != "" {
		return Config{}, fmt.Errorf("the config describes %s: %s", arch, Supported)
	}
	var c Config
	dec := func(key string, dst any, allowed ...string) error {
		v, ok := raw[key]
		if !ok {
			return fmt.Errorf("missing %q", key)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v, &m); err == nil && allowed != nil {
			for k := range m {
				if !contains(allowed, k) && !ignorable(k, m[k]) {
					return fmt.Errorf("%s.%s is not supported (trak implements open_clip's ViT vision tower and transformer text tower)", key, k)
				}
			}
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	if err := dec("embed_dim", &c.EmbedDim); err != nil {
		return Config{}, err
	}
	if err := dec("vision_cfg", &c.Vision, "image_size", "layers", "width", "head_width", "patch_size", "mlp_ratio"); err != nil {
		return Config{}, err
	}
	if err := dec("text_cfg", &c.Text, "context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio"); err != nil {
		return Config{}, err
	}
	if v, ok := raw["quick_gelu"]; ok {
		if err := json.Unmarshal(v, &c.QuickGELU); err != nil {
			return Config{}, fmt.Errorf("quick_gelu: %w", err)
		}
	}
	if v, ok := raw["layer_norm_eps"]; ok {
		if err := json.Unmarshal(v, &c.LayerNormEps); err != nil {
			return Config{}, fmt.Errorf("layer_norm_eps: %w", err)
		}
		if !(c.LayerNormEps > 0) {
			return Config{}, fmt.Errorf("layer_norm_eps is %g, must be positive", c.LayerNormEps)
		}
		if c.LayerNormEps == LayerNormEps {
			c.LayerNormEps = 0 // the default: the same architecture, the same hash
		}
	}
	for k := range raw {
		if !contains([]string{"embed_dim", "vision_cfg", "text_cfg", "quick_gelu", "layer_norm_eps", "custom_text", "init_logit_scale", "init_logit_bias"}, k) {
			return Config{}, fmt.Errorf("%s is not supported by trak's CLIP", k)
		}
	}
	c.setDefaults()
	return c, c.Validate()
}

// ignorable reports whether an open_clip vision/text key has its default
// value, which trak's architecture implements anyway.
func ignorable(key string, v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	switch key {
	case "ls_init_value", "timm_model_name", "hf_model_name", "attentional_pool", "pool_type", "output_tokens":
		return s == "null" || s == "false" || s == `""`
	case "patch_dropout", "dropout", "embed_cls", "pad_id":
		return s == "0" || s == "0.0" || s == "false"
	case "proj_bias":
		return s == "false"
	case "no_ln_pre", "final_ln_after_pool":
		return s == "false"
	case "timm_pool", "timm_proj", "timm_model_pretrained", "hf_tokenizer_name", "hf_pooler_type", "hf_proj_type", "tokenizer_kwargs", "proj", "pooler_type":
		return false
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Config) setDefaults() {
	if c.Vision.HeadWidth == 0 {
		c.Vision.HeadWidth = 64
	}
	if c.Vision.MLPRatio == 0 {
		c.Vision.MLPRatio = 4
	}
	if c.Text.MLPRatio == 0 {
		c.Text.MLPRatio = 4
	}
	if c.Text.Heads == 0 {
		c.Text.Heads = 8
	}
}

// Validate checks that the configuration describes a buildable model.
func (c Config) Validate() error {
	var errs []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	check(c.EmbedDim > 0, "embed_dim must be positive")
	v, t := c.Vision, c.Text
	check(v.Width > 0 && v.Layers > 0 && v.PatchSize > 0 && v.ImageSize > 0, "vision_cfg needs positive image_size, layers, width and patch_size")
	check(v.PatchSize > 0 && v.ImageSize%max(v.PatchSize, 1) == 0, "vision_cfg.image_size %d is not a multiple of patch_size %d", v.ImageSize, v.PatchSize)
	check(v.HeadWidth > 0 && v.Width%max(v.HeadWidth, 1) == 0, "vision_cfg.width %d is not a multiple of head_width %d", v.Width, v.HeadWidth)
	check(t.Width > 0 && t.Layers > 0 && t.ContextLength > 0 && t.VocabSize > 2, "text_cfg needs positive context_length, width, layers and vocab_size > 2")
	check(t.Heads > 0 && t.Width%max(t.Heads, 1) == 0, "text_cfg.width %d is not a multiple of heads %d", t.Width, t.Heads)
	check(v.MLPRatio > 0 && t.MLPRatio > 0 && !math.IsInf(v.MLPRatio+t.MLPRatio, 0), "mlp_ratio must be positive")
	check(c.LayerNormEps >= 0 && !math.IsInf(c.LayerNormEps, 0), "layer_norm_eps must be positive and finite (0 for the default %g)", LayerNormEps)
	if len(errs) > 0 {
		return fmt.Errorf("invalid CLIP config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// LoadConfig reads an open_clip JSON config file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

// LoadConfigOrPreset returns the configuration named by s: a preset name
// (PresetNames) or the path of an open_clip JSON config; nil for "" (the
// architecture is then taken from the checkpoint).
func LoadConfigOrPreset(s string) (*Config, error) {
	if s == "" {
		return nil, nil
	}
	if c, ok := Preset(s); ok {
		return &c, nil
	}
	if _, err := os.Stat(s); err != nil {
		return nil, fmt.Errorf("model config %q is neither a file nor a preset (%s)", s, strings.Join(PresetNames(), ", "))
	}
	c, err := LoadConfig(s)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// JSON writes the config in open_clip's format.
func (c Config) JSON() []byte {
	out, _ := json.MarshalIndent(c, "", "  ")
	return append(out, '\n')
}

// Hash identifies the architecture: two configs with the same hash build
// the same parameter shapes and computation.
func (c Config) Hash() string {
	h := sha256.Sum256(c.JSON())
	return hex.EncodeToString(h[:])
}

// presetNames lists the configurations trak ships, by open_clip name,
// plus tiny models for tests and demos.
var presetNames = []string{"ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-16", "ViT-B-16-quickgelu", "ViT-L-14", "ViT-L-14-quickgelu", "small", "tiny"}

// Preset returns the named configuration.
func Preset(name string) (Config, bool) {
	base, quick := strings.CutSuffix(name, "-quickgelu")
	var c Config
	switch base {
	case "ViT-B-32":
		c = vit(512, 224, 12, 768, 32, 512, 8, 12)
	case "ViT-B-16":
		c = vit(512, 224, 12, 768, 16, 512, 8, 12)
	case "ViT-L-14":
		c = vit(768, 224, 24, 1024, 14, 768, 12, 12)
	case "small": // the demos' model: trains on a CPU in seconds, real vocabulary
		if quick {
			return Config{}, false
		}
		c = vit(32, 32, 2, 64, 8, 64, 2, 2)
		c.Vision.HeadWidth = 32
		c.Text.ContextLength = 16
	case "tiny":
		if quick {
			return Config{}, false
		}
		c = vit(32, 32, 2, 64, 8, 64, 2, 2)
		c.Vision.HeadWidth = 32
		c.Text.VocabSize, c.Text.ContextLength = 512, 16
	default:
		return Config{}, false
	}
	c.QuickGELU = quick
	return c, true
}

// PresetNames lists the preset names.
func PresetNames() []string { return append([]string(nil), presetNames...) }

func vit(embed, image, vlayers, vwidth, patch, twidth, theads, tlayers int) Config {
	return Config{
		EmbedDim: embed,
		Vision:   VisionConfig{ImageSize: image, Layers: vlayers, Width: vwidth, HeadWidth: 64, PatchSize: patch, MLPRatio: 4},
		Text:     TextConfig{ContextLength: 77, VocabSize: 49408, Width: twidth, Heads: theads, Layers: tlayers, MLPRatio: 4},
	}
}
