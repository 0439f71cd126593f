package clipckpt

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
)

// The Hugging Face CLIPModel fixtures, their open_clip-named copy and their
// embeddings from an independent float64 PyTorch forward pass written from
// transformers' architecture are made by scripts/fixtures/hf_fixtures.py.
var hfDir = filepath.Join("testdata", "hf")

// hfVariants names each fixture folder's weights file.
var hfVariants = map[string]string{"quickgelu": "model.safetensors", "gelu-eps": "pytorch_model.bin"}

type hfReference struct {
	Images      []float32   `json:"images"`
	Tokens      [][]int32   `json:"tokens"`
	ImageEmbeds [][]float64 `json:"image_embeds"`
	TextEmbeds  [][]float64 `json:"text_embeds"`
	LogitScale  float64     `json:"logit_scale"`
}

func readHFReference(t *testing.T, variant string) hfReference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(hfDir, variant, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref hfReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func (r hfReference) batch() clip.Batch {
	var tokens []int32
	for _, row := range r.Tokens {
		tokens = append(tokens, row...)
	}
	return clip.Batch{N: len(r.Tokens), Images: r.Images, Tokens: tokens}
}

// openResolved opens path and resolves its architecture (given, or the
// checkpoint's own when nil).
func openResolved(t *testing.T, path string, given *clip.Config) (*Checkpoint, clip.Config) {
	t.Helper()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg, err := c.Resolve(given)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg
}

// loadModel builds c's model on the CPU backend.
func loadModel(t *testing.T, c *Checkpoint, cfg clip.Config) *clip.Model {
	t.Helper()
	m, err := clip.Load(cpu.New(2), c.File, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	return m
}

// TestHFEmbeddingsMatchReference: a CLIPModel opened from its folder or
// from its weights file gives the embeddings of the independent float64
// PyTorch forward pass. The bound is internal/clip's reference test's:
// float32 arithmetic through two blocks leaves ~1e-6 on unit vectors, so
// 1e-5 absolute has a margin of about ten, while computing gelu-eps with
// the default epsilon moves the embeddings by more than 4e-3 (printed by
// the fixture script), and the other activation by more than 1e-3.
func TestHFEmbeddingsMatchReference(t *testing.T) {
	const tol = 1e-5
	for variant, weights := range hfVariants {
		for _, path := range []string{filepath.Join(hfDir, variant), filepath.Join(hfDir, variant, weights)} {
			t.Run(path, func(t *testing.T) {
				c, cfg := openResolved(t, path, nil)
				if c.Layout != LayoutHF || c.ConfigSource != filepath.Join(hfDir, variant, hfConfigFile) {
					t.Errorf("layout %q, config from %q", c.Layout, c.ConfigSource)
				}
				ref := readHFReference(t, variant)
				m := loadModel(t, c, cfg)
				emb, err := m.Encode(ref.batch())
				if err != nil {
					t.Fatal(err)
				}
				di, dt := maxDiff(emb.Image, ref.ImageEmbeds), maxDiff(emb.Text, ref.TextEmbeds)
				t.Logf("max |Δ| image %.3g, text %.3g", di, dt)
				if di > tol || dt > tol {
					t.Errorf("embeddings differ from the reference by %g (image), %g (text), bound %g", di, dt, tol)
				}
				if got, want := m.LogitScale(), math.Exp(ref.LogitScale); math.Abs(got-want) > 1e-6*want {
					t.Errorf("temperature %g, want %g", got, want)
				}
			})
		}
	}
}

// TestHFEpsilonMatters: the gelu-eps reference is out of reach with the
// default epsilon, so the match above proves layer_norm_eps is applied.
func TestHFEpsilonMatters(t *testing.T) {
	c, cfg := openResolved(t, filepath.Join(hfDir, "gelu-eps"), nil)
	cfg.LayerNormEps = 0
	ref := readHFReference(t, "gelu-eps")
	emb, err := loadModel(t, c, cfg).Encode(ref.batch())
	if err != nil {
		t.Fatal(err)
	}
	if di, dt := maxDiff(emb.Image, ref.ImageEmbeds), maxDiff(emb.Text, ref.TextEmbeds); di < 1e-3 || dt < 1e-3 {
		t.Errorf("with epsilon 1e-5 the embeddings differ by only %g, %g from the 1e-6 reference", di, dt)
	}
}

// TestHFConfig: config.json maps onto open_clip's config, key by key.
func TestHFConfig(t *testing.T) {
	want := map[string]clip.Config{
		"quickgelu": {
			EmbedDim:  24,
			Vision:    clip.VisionConfig{ImageSize: 32, Layers: 2, Width: 32, HeadWidth: 16, PatchSize: 8, MLPRatio: 4},
			Text:      clip.TextConfig{ContextLength: 16, VocabSize: 512, Width: 32, Heads: 4, Layers: 2, MLPRatio: 4},
			QuickGELU: true,
		},
		"gelu-eps": {
			EmbedDim:     16,
			Vision:       clip.VisionConfig{ImageSize: 24, Layers: 2, Width: 32, HeadWidth: 8, PatchSize: 8, MLPRatio: 2},
			Text:         clip.TextConfig{ContextLength: 12, VocabSize: 64, Width: 32, Heads: 2, Layers: 2, MLPRatio: 2},
			LayerNormEps: 1e-6,
		},
	}
	for variant, w := range want {
		c, cfg := openResolved(t, filepath.Join(hfDir, variant), nil)
		if cfg != w || *c.Config != w {
			t.Errorf("%s: config %+v, want %+v", variant, cfg, w)
		}
	}
	// Absent keys take transformers' defaults: openai/clip-vit-base-patch32.
	dir := t.TempDir()
	path := filepath.Join(dir, hfConfigFile)
	os.WriteFile(path, []byte(`{"model_type": "clip", "text_config": {}, "vision_config": null}`), 0o644)
	cfg, err := readHFConfig(path)
	b32, _ := clip.Preset("ViT-B-32-quickgelu")
	if err != nil || cfg != b32 {
		t.Errorf("defaults: %v, %+v, want ViT-B-32-quickgelu %+v", err, cfg, b32)
	}
}

// TestHFConfigDict: older config.json files state the towers as
// text_config_dict and vision_config_dict, which override
// text_config/vision_config as in transformers.
func TestHFConfigDict(t *testing.T) {
	dir := hfCopy(t, "gelu-eps", func(m map[string]any) {
		m["text_config_dict"], m["vision_config_dict"] = m["text_config"], m["vision_config"]
		m["text_config"] = map[string]any{"hidden_act": "quick_gelu"}
		delete(m, "vision_config")
	}, nil)
	_, cfg := openResolved(t, dir, nil)
	_, want := openResolved(t, filepath.Join(hfDir, "gelu-eps"), nil)
	if cfg != want {
		t.Errorf("config %+v, want %+v", cfg, want)
	}
}

// TestHFPreprocess: preprocessor_config.json becomes trak's settings.
func TestHFPreprocess(t *testing.T) {
	c, _ := openResolved(t, filepath.Join(hfDir, "quickgelu"), nil)
	p := c.Preprocess
	if p == nil {
		t.Fatal("no preprocessing read")
	}
	if p.ImageSize != 32 || !slices.Equal(p.Mean, []float64{0.5, 0.45, 0.4}) || !slices.Equal(p.Std, []float64{0.25, 0.3, 0.35}) ||
		p.Interpolation != "bicubic" || p.ResizeMode != "shortest" || p.Source != filepath.Join(hfDir, "quickgelu", hfPreprocessFile) {
		t.Errorf("preprocess %+v", p)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"size": 32, "crop_size": 32, "resample": 2}`, ""},
		{`{"resample": 0}`, "resample is 0"},
		{`{"do_center_crop": false}`, "do_center_crop is false: trak applies open_clip's transform"},
		{`{"do_resize": false}`, "do_resize is false"},
		{`{"size": {"shortest_edge": 32}, "crop_size": {"height": 24, "width": 24}}`, "differ"},
		{`{"crop_size": {"height": 32, "width": 24}}`, "square"},
		{`{"size": {"height": 32, "width": 32}}`, `"shortest_edge"`},
		{`{"crop_size": 64}`, "image_size is 32"},
		{`{"image_mean": [0.5, 0.5]}`, "image_mean"},
		{`{"rescale_factor": 1}`, "rescale_factor"},
	} {
		dir := hfCopy(t, "quickgelu", nil, func(map[string]any) {})
		path := filepath.Join(dir, hfPreprocessFile)
		os.WriteFile(path, []byte(tc.json), 0o644)
		c, err := Open(dir)
		if c != nil {
			c.Close()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.json, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: %v, want an error naming %s and %q", tc.json, err, path, tc.want)
		}
	}
}

// gradients collects per-example gradients by parameter offset.
type gradients map[int64][]float32

func (g gradients) Add(offset int64, n int, grad []float32, stride int) {
	for b := 0; b*stride < len(grad); b++ {
		g[offset] = append(g[offset], grad[b*stride:b*stride+n]...)
	}
}

// TestHFMatchesOpenCLIPLayout: the same weights under open_clip's names
// give the same parameters, in the same order, and the same embeddings and
// per-example gradients bit for bit: for gelu-eps against the copy the
// fixture script converted, for quickgelu against a copy written here from
// the view.
func TestHFMatchesOpenCLIPLayout(t *testing.T) {
	hf, cfg := openResolved(t, filepath.Join(hfDir, "gelu-eps"), nil)
	oc, _ := openResolved(t, filepath.Join(hfDir, "gelu-eps-openclip.safetensors"), &cfg)
	sameModel(t, hf, oc, cfg, readHFReference(t, "gelu-eps"))

	hf, cfg = openResolved(t, filepath.Join(hfDir, "quickgelu"), nil)
	var named []checkpoint.NamedTensor
	for _, p := range cfg.Params() {
		tn, _ := hf.File.Tensor(p.Name)
		data := make([]float32, tn.Len())
		if err := tn.Float32s(data); err != nil {
			t.Fatal(err)
		}
		named = append(named, checkpoint.NamedTensor{Name: p.Name, Shape: p.Shape, Data: data})
	}
	path := filepath.Join(t.TempDir(), "open_clip.safetensors")
	if err := checkpoint.WriteSafetensors(path, named, nil); err != nil {
		t.Fatal(err)
	}
	oc, _ = openResolved(t, path, &cfg)
	sameModel(t, hf, oc, cfg, readHFReference(t, "quickgelu"))
}

// sameModel checks that two checkpoints of cfg hold the same parameters
// and compute the same embeddings and per-example gradients of
// s_b = φ_b·ψ_b.
func sameModel(t *testing.T, a, b *Checkpoint, cfg clip.Config, ref hfReference) {
	t.Helper()
	for _, p := range cfg.Params() {
		ta, _ := a.File.Tensor(p.Name)
		tb, _ := b.File.Tensor(p.Name)
		va, vb := make([]float32, p.Len()), make([]float32, p.Len())
		if err := ta.Float32s(va); err != nil {
			t.Fatal(err)
		}
		if err := tb.Float32s(vb); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(va, vb) {
			t.Errorf("%s differs between the layouts", p.Name)
		}
	}
	dot := func(e clip.Embeddings, dphi, dpsi []float32) error {
		copy(dphi, e.Text)
		copy(dpsi, e.Image)
		return nil
	}
	var embs [2]clip.Embeddings
	var grads [2]gradients
	for i, c := range []*Checkpoint{a, b} {
		grads[i] = gradients{}
		var err error
		embs[i], err = loadModel(t, c, cfg).PerExampleGradients(ref.batch(), dot, grads[i])
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(embs[0].Image, embs[1].Image) || !slices.Equal(embs[0].Text, embs[1].Text) {
		t.Error("embeddings differ between the layouts")
	}
	if len(grads[0]) == 0 || len(grads[0]) != len(grads[1]) {
		t.Fatalf("%d and %d gradient tensors", len(grads[0]), len(grads[1]))
	}
	for off, g := range grads[0] {
		if !slices.Equal(g, grads[1][off]) {
			t.Errorf("gradients at parameter offset %d differ between the layouts", off)
		}
	}
}

// hfCopy copies a fixture folder into a temporary one, editing its
// config.json and preprocessor_config.json (when the edit is not nil) as
// JSON objects, and returns the copy.
func hfCopy(t *testing.T, variant string, config, preprocess func(map[string]any)) string {
	t.Helper()
	src, dir := filepath.Join(hfDir, variant), t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(map[string]any){hfConfigFile: config, hfPreprocessFile: preprocess}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if edit := edits[e.Name()]; edit != nil {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			data, _ = json.Marshal(m)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sub returns a tower's config of a config.json object.
func sub(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// TestHFRefused: what trak would compute differently from transformers, or
// cannot find, is one error that names the file and the cause.
func TestHFRefused(t *testing.T) {
	noConfig := hfCopy(t, "quickgelu", nil, nil)
	os.Remove(filepath.Join(noConfig, hfConfigFile))
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		want []string
	}{
		{"siglip", func(m map[string]any) { m["model_type"] = "siglip" }, []string{`model_type "siglip"`, "SigLIP", clip.Supported}},
		{"chinese_clip", func(m map[string]any) { m["model_type"] = "chinese_clip" }, []string{"Chinese-CLIP", clip.Supported}},
		{"vision only", func(m map[string]any) { m["architectures"] = []string{"CLIPVisionModelWithProjection"} }, []string{"CLIPVisionModelWithProjection", clip.Supported}},
		{"gelu_new", func(m map[string]any) {
			sub(m, "text_config")["hidden_act"], sub(m, "vision_config")["hidden_act"] = "gelu_new", "gelu_new"
		}, []string{`hidden_act "gelu_new"`}},
		{"mixed activations", func(m map[string]any) { sub(m, "text_config")["hidden_act"] = "gelu" }, []string{"one activation to both towers"}},
		{"mixed eps", func(m map[string]any) { sub(m, "text_config")["layer_norm_eps"] = 1e-6 }, []string{"one epsilon"}},
		{"eos", func(m map[string]any) { sub(m, "text_config")["eos_token_id"] = 49407 }, []string{"eos_token_id is 49407", "highest token id", "(511)"}},
		{"channels", func(m map[string]any) { sub(m, "vision_config")["num_channels"] = 1 }, []string{"num_channels is 1"}},
		{"heads", func(m map[string]any) { sub(m, "vision_config")["num_attention_heads"] = 3 }, []string{"not a multiple of num_attention_heads 3"}},
		{"layers", func(m map[string]any) { sub(m, "vision_config")["num_hidden_layers"] = 3 }, []string{"missing:", "vision_model.encoder.layers.2.self_attn.q_proj.weight"}},
		{"width", func(m map[string]any) { m["projection_dim"] = 32 }, []string{"wrong shape: visual_projection.weight is (24, 32)", "needs (32, 32)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hfCopy(t, "quickgelu", tc.edit, nil)
			c, err := Open(dir)
			if c != nil {
				c.Close()
			}
			for _, w := range append(tc.want, filepath.Join(dir, "")) {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%v, want an error mentioning %q", err, w)
				}
			}
		})
	}
	t.Run("missing config", func(t *testing.T) {
		_, err := Open(filepath.Join(noConfig, "model.safetensors"))
		if err == nil || !strings.Contains(err.Error(), "a Hugging Face CLIPModel needs its config.json beside the weights") ||
			!strings.Contains(err.Error(), filepath.Join(noConfig, hfConfigFile)) {
			t.Errorf("%v", err)
		}
	})
}

// TestHFTensors: missing, surplus and mis-stored tensors are named.
func TestHFTensors(t *testing.T) {
	src, err := checkpoint.Open(filepath.Join(hfDir, "quickgelu", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, tc := range []struct {
		name string
		edit func(map[string]checkpoint.NamedTensor)
		want []string
	}{
		{"no q_proj", func(m map[string]checkpoint.NamedTensor) {
			delete(m, "text_model.encoder.layers.1.self_attn.q_proj.weight")
		}, []string{"missing:", "text_model.encoder.layers.1.self_attn.q_proj.weight (for open_clip's transformer.resblocks.1.attn.in_proj_weight)"}},
		{"surplus", func(m map[string]checkpoint.NamedTensor) {
			m["vision_model.head.weight"] = checkpoint.NamedTensor{Name: "vision_model.head.weight", Shape: []int{2}, Data: []float32{0, 0}}
		}, []string{"unexpected:", "vision_model.head.weight (2,)"}},
		{"position_ids", func(m map[string]checkpoint.NamedTensor) {
			ids := m["text_model.embeddings.position_ids"]
			ids.Data[3] = 9
		}, []string{"text_model.embeddings.position_ids", "position 3 is 9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]checkpoint.NamedTensor{}
			for _, name := range src.Names() {
				tn, _ := src.Tensor(name)
				data := make([]float32, tn.Len())
				if err := tn.Float32s(data); err != nil {
					t.Fatal(err)
				}
				m[name] = checkpoint.NamedTensor{Name: name, Shape: tn.Shape, Data: data}
			}
			tc.edit(m)
			dir := hfCopy(t, "quickgelu", nil, nil)
			path := filepath.Join(dir, "model.safetensors")
			if err := checkpoint.WriteSafetensors(path, mapValues(m), nil); err != nil {
				t.Fatal(err)
			}
			c, err := Open(dir)
			if err == nil {
				_, err = c.Resolve(nil)
				c.Close()
			}
			for _, w := range append(tc.want, path) {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%v, want an error mentioning %q", err, w)
				}
			}
		})
	}
}

func mapValues(m map[string]checkpoint.NamedTensor) []checkpoint.NamedTensor {
	var out []checkpoint.NamedTensor
	for _, k := range slices.Sorted(mapKeys(m)) {
		out = append(out, m[k])
	}
	return out
}
