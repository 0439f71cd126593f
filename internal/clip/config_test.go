package clip

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParamCounts checks the parameter lists against open_clip's published
// totals.
func TestParamCounts(t *testing.T) {
	for _, tt := range []struct {
		name string
		want int64
	}{
		{"ViT-B-32", 151_277_313},
		{"ViT-B-16", 149_620_737},
		{"ViT-L-14", 427_616_513},
	} {
		c, ok := Preset(tt.name)
		if !ok {
			t.Fatalf("no preset %s", tt.name)
		}
		if got := c.NumParams(); got != tt.want {
			t.Errorf("%s: %d parameters, want %d", tt.name, got, tt.want)
		}
	}
}

func TestParamOrder(t *testing.T) {
	c, _ := Preset("tiny")
	ps := c.Params()
	var names []string
	var off int64
	for _, p := range ps {
		if p.Offset != off {
			t.Fatalf("%s at offset %d, want %d", p.Name, p.Offset, off)
		}
		off += int64(p.Len())
		names = append(names, p.Name)
	}
	head := []string{"positional_embedding", "text_projection", "logit_scale", "visual.class_embedding", "visual.positional_embedding", "visual.proj", "visual.conv1.weight", "visual.ln_pre.weight", "visual.ln_pre.bias", "visual.transformer.resblocks.0.ln_1.weight"}
	if !reflect.DeepEqual(names[:len(head)], head) {
		t.Errorf("order starts %v, want %v", names[:len(head)], head)
	}
	tail := []string{"transformer.resblocks.1.mlp.c_proj.bias", "token_embedding.weight", "ln_final.weight", "ln_final.bias"}
	if !reflect.DeepEqual(names[len(names)-len(tail):], tail) {
		t.Errorf("order ends %v, want %v", names[len(names)-len(tail):], tail)
	}
}

// TestShippedConfigs: the JSON files in configs/clip parse to the presets.
func TestShippedConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../configs/clip/*.json")
	if len(files) < 7 {
		t.Fatalf("found %d config files", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		c, err := LoadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		want, ok := Preset(name)
		if !ok {
			t.Errorf("%s has no preset", name)
			continue
		}
		if c != want {
			t.Errorf("%s: parsed %+v, preset %+v", name, c, want)
		}
	}
}

func TestInferConfig(t *testing.T) {
	for _, name := range PresetNames() {
		want, _ := Preset(name)
		shapes := map[string][]int{}
		for _, p := range want.Params() {
			shapes[p.Name] = p.Shape
		}
		got, err := InferConfig(shapes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want.QuickGELU = false // not visible in shapes
		if name == "tiny" || name == "small" {
			// head counts are not visible either: inference assumes width/64.
			want.Vision.HeadWidth, want.Text.Heads = 64, 1
		}
		if got != want {
			t.Errorf("%s: inferred %+v, want %+v", name, got, want)
		}
	}
	if _, err := InferConfig(map[string][]int{"text_projection": {4, 4}}); err == nil || !strings.Contains(err.Error(), "visual.conv1.weight") {
		t.Errorf("incomplete checkpoint: %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"embed_dim": 512, "vision_cfg": {"timm_model_name": "convnext"}, "text_cfg": {}}`, "a timm image tower (convnext): trak computes CLIP models with a ViT image tower"},
		{`{"embed_dim": 512, "vision_cfg": {"layers": [3,4,6,3], "width": 64}, "text_cfg": {}}`, "a ResNet image tower (open_clip's RN50"},
		{`{"embed_dim": 512, "vision_cfg": {}, "text_cfg": {"hf_model_name": "xlm-roberta-base"}}`, "a Hugging Face text tower (xlm-roberta-base)"},
		{`{"embed_dim": 512, "init_logit_bias": -10, "vision_cfg": {}, "text_cfg": {}}`, "SigLIP"},
		{`{"model_cfg": {"embed_dim": 512, "vision_cfg": {"layers": [3,4,6,3]}, "text_cfg": {}}, "preprocess_cfg": {}}`, "ResNet"},
		{`{"vision_cfg": {}, "text_cfg": {}}`, "missing \"embed_dim\""},
		{`{"embed_dim": 8, "vision_cfg": {"image_size": 30, "layers": 1, "width": 64, "patch_size": 8}, "text_cfg": {"context_length": 4, "vocab_size": 10, "width": 8, "heads": 2, "layers": 1}}`, "not a multiple of patch_size"},
		{`{"embed_dim": 8, "multimodal_cfg": {}, "vision_cfg": {}, "text_cfg": {}}`, "CoCa"},
		{`not json`, "invalid character"},
	} {
		_, err := ParseConfig([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%s) = %v, want %q", tt.json, err, tt.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.json")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestLayerNormEps: layer_norm_eps is read, validated and written back;
// the default (absent, or 1e-5) leaves the JSON and hash of open_clip's
// config unchanged.
func TestLayerNormEps(t *testing.T) {
	const base = `{"embed_dim": 32,
	  "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
	  "text_cfg": {"context_length": 16, "vocab_size": 512, "width": 64, "heads": 2, "layers": 2}`
	parse := func(extra string) (Config, error) { return ParseConfig([]byte(base + extra + "}")) }
	plain, err := parse("")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain.JSON()), "layer_norm_eps") || plain.LayerNormEpsilon() != 1e-5 {
		t.Errorf("default config: JSON %s, epsilon %g", plain.JSON(), plain.LayerNormEpsilon())
	}
	same, err := parse(`, "layer_norm_eps": 1e-5`)
	if err != nil || same.Hash() != plain.Hash() {
		t.Errorf("layer_norm_eps 1e-5: %v, hash %s, want the default's %s", err, same.Hash(), plain.Hash())
	}
	small, err := parse(`, "layer_norm_eps": 1e-6`)
	if err != nil || small.LayerNormEpsilon() != 1e-6 || small.Hash() == plain.Hash() {
		t.Fatalf("layer_norm_eps 1e-6: %v, epsilon %g", err, small.LayerNormEpsilon())
	}
	back, err := ParseConfig(small.JSON())
	if err != nil || back != small {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
	for _, bad := range []string{`, "layer_norm_eps": 0`, `, "layer_norm_eps": -1e-5`, `, "layer_norm_eps": "1e-5"`} {
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), "layer_norm_eps") {
			t.Errorf("%s: error %v, want one naming layer_norm_eps", bad, err)
		}
	}
	neg := plain
	neg.LayerNormEps = -1
	if err := neg.Validate(); err == nil {
		t.Error("Validate accepts a negative layer_norm_eps")
	}
}

// TestLoadConfigOrPreset: "" is no config, a preset name its config, a path
// the file's, anything else an error listing the presets.
func TestLoadConfigOrPreset(t *testing.T) {
	if c, err := LoadConfigOrPreset(""); c != nil || err != nil {
		t.Errorf(`"": %v, %v`, c, err)
	}
	want, _ := Preset("ViT-B-32")
	if c, err := LoadConfigOrPreset("ViT-B-32"); err != nil || c.Hash() != want.Hash() {
		t.Errorf("preset: %v, %v", c, err)
	}
	path := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(path, want.JSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadConfigOrPreset(path); err != nil || c.Hash() != want.Hash() {
		t.Errorf("file: %v, %v", c, err)
	}
	if _, err := LoadConfigOrPreset("ViT-Q-99"); err == nil || !strings.Contains(err.Error(), "neither a file nor a preset") || !strings.Contains(err.Error(), "ViT-B-32") {
		t.Errorf("unknown name: %v", err)
	}
}
