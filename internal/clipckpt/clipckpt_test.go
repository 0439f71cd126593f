package clipckpt

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
)

// The TorchScript fixtures and their PyTorch embeddings are made by
// scripts/fixtures/torchscript_fixtures.py; the open_clip tiny model by
// scripts/reference/clip_reference.py.
var (
	scriptDir = filepath.Join("..", "checkpoint", "testdata")
	tinyDir   = filepath.Join("..", "clip", "testdata", "tiny-gelu")
)

type openAIReference struct {
	Config   json.RawMessage `json:"config"`
	Images   []float32       `json:"images"`
	Tokens   [][]int32       `json:"tokens"`
	Variants map[string]map[string]json.RawMessage
}

type embeddings struct {
	Image [][]float64 `json:"image_embeddings_normalized"`
	Text  [][]float64 `json:"text_embeddings_normalized"`
	Scale float64     `json:"logit_scale_exp"`
}

func readOpenAIReference(t *testing.T) openAIReference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(scriptDir, "openai_tiny_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref openAIReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// encode loads c with cfg on the CPU and returns its normalised embeddings
// of the reference inputs.
func encode(t *testing.T, c *Checkpoint, cfg clip.Config, ref openAIReference) clip.Embeddings {
	t.Helper()
	m, err := clip.Load(cpu.New(2), c.File, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	var tokens []int32
	for _, row := range ref.Tokens {
		tokens = append(tokens, row...)
	}
	emb, err := m.Encode(clip.Batch{N: len(ref.Tokens), Images: ref.Images, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	return emb
}

func maxDiff(got []float32, want [][]float64) float64 {
	d, i := 0.0, 0
	for _, row := range want {
		for _, w := range row {
			d = math.Max(d, math.Abs(float64(got[i])-w))
			i++
		}
	}
	return d
}

// TestOpenAIArchives: OpenAI-layout TorchScript archives (float32 and
// float16, as OpenAI released them) and a state dict saved from one load
// with their extra entries accepted, and give PyTorch's float64 embeddings
// within 1e-5 (float32 arithmetic through two blocks leaves ~1e-6 on unit
// vectors; the float16 reference is computed from the same float16
// weights, so no rounding of weights enters the comparison).
func TestOpenAIArchives(t *testing.T) {
	const tol = 1e-5
	ref := readOpenAIReference(t)
	given, err := clip.ParseConfig(ref.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, variant, layout string }{
		{"openai_tiny_fp32.pt", "openai_tiny_fp32.pt", LayoutTorchScript},
		{"openai_tiny_fp16.pt", "openai_tiny_fp16.pt", LayoutTorchScript},
		{"openai_tiny_fp16_state_dict.pt", "openai_tiny_fp16.pt", LayoutOpenCLIP},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Open(filepath.Join(scriptDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Layout != tc.layout {
				t.Errorf("layout %q, want %q", c.Layout, tc.layout)
			}
			for _, name := range c.File.Names() {
				if isExtra(name) {
					t.Errorf("%s is among the parameters", name)
				}
			}
			if tc.file == "openai_tiny_fp16_state_dict.pt" && len(c.Extras) != 5 {
				t.Errorf("extras %v, want 2 attn_mask buffers and 3 sizes", c.Extras)
			}
			cfg, err := c.Resolve(&given)
			if err != nil {
				t.Fatal(err)
			}
			var want embeddings
			if err := json.Unmarshal(ref.Variants[tc.variant]["float64"], &want); err != nil {
				t.Fatal(err)
			}
			emb := encode(t, c, cfg, ref)
			t.Logf("max difference from PyTorch: image %.2g, text %.2g", maxDiff(emb.Image, want.Image), maxDiff(emb.Text, want.Text))
			if d := maxDiff(emb.Image, want.Image); d > tol {
				t.Errorf("image embeddings differ from PyTorch's by %g", d)
			}
			if d := maxDiff(emb.Text, want.Text); d > tol {
				t.Errorf("text embeddings differ from PyTorch's by %g", d)
			}
			if tc.layout == LayoutTorchScript {
				inferred, err := c.Resolve(nil)
				if err != nil {
					t.Fatal(err)
				}
				if !inferred.QuickGELU {
					t.Error("an OpenAI archive's architecture is not QuickGELU")
				}
				gelu := given
				gelu.QuickGELU = false
				if _, err := c.Resolve(&gelu); err == nil || !strings.Contains(err.Error(), "-quickgelu") {
					t.Errorf("GELU config for an OpenAI archive: %v", err)
				}
			}
		})
	}
}

// writeModel writes the tiny open_clip model's tensors, with extra
// entries added or tensors renamed by edit, as a safetensors file.
func writeModel(t *testing.T, path string, edit func(map[string]checkpoint.NamedTensor)) {
	t.Helper()
	f, err := checkpoint.Open(filepath.Join(tinyDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts := map[string]checkpoint.NamedTensor{}
	for _, n := range f.Names() {
		tt, _ := f.Tensor(n)
		data := make([]float32, tt.Len())
		if err := tt.Float32s(data); err != nil {
			t.Fatal(err)
		}
		ts[n] = checkpoint.NamedTensor{Name: n, Shape: tt.Shape, Data: data}
	}
	if edit != nil {
		edit(ts)
	}
	var list []checkpoint.NamedTensor
	for _, v := range ts {
		list = append(list, v)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.WriteSafetensors(path, list, nil); err != nil {
		t.Fatal(err)
	}
}

func causalMask(n int, value func(i, j int) float32) checkpoint.NamedTensor {
	d := make([]float32, n*n)
	for i := range n {
		for j := range n {
			d[i*n+j] = value(i, j)
		}
	}
	return checkpoint.NamedTensor{Shape: []int{n, n}, Data: d}
}

// TestExtras: OpenAI's extra entries are accepted when they agree with the
// architecture and refused, by name, when they do not.
func TestExtras(t *testing.T) {
	cfg, err := clip.LoadConfig(filepath.Join(tinyDir, "open_clip_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	inf := float32(math.Inf(-1))
	good := func(i, j int) float32 {
		if j > i {
			return inf
		}
		return 0
	}
	scalar := func(v float32) checkpoint.NamedTensor { return checkpoint.NamedTensor{Data: []float32{v}} }
	for _, tc := range []struct {
		name  string
		extra map[string]checkpoint.NamedTensor
		want  string // "" accepted
	}{
		{"causal masks and sizes", map[string]checkpoint.NamedTensor{
			"transformer.resblocks.0.attn_mask": causalMask(8, good),
			"transformer.resblocks.1.attn_mask": causalMask(8, good),
			"input_resolution":                  scalar(16), "context_length": scalar(8), "vocab_size": scalar(64),
		}, ""},
		{"mask without -inf", map[string]checkpoint.NamedTensor{
			"transformer.resblocks.0.attn_mask": causalMask(8, func(int, int) float32 { return 0 }),
		}, "transformer.resblocks.0.attn_mask: is not the causal mask"},
		{"mask of another length", map[string]checkpoint.NamedTensor{
			"transformer.resblocks.0.attn_mask": causalMask(7, good),
		}, "want the causal mask of the context length, 8 × 8"},
		{"image mask", map[string]checkpoint.NamedTensor{
			"visual.transformer.resblocks.0.attn_mask": causalMask(5, good),
		}, "masks image tokens"},
		{"wrong resolution", map[string]checkpoint.NamedTensor{"input_resolution": scalar(224)}, "input_resolution: says 224, the weights' image size"},
		{"wrong context", map[string]checkpoint.NamedTensor{"context_length": scalar(77)}, "context_length: says 77"},
		{"wrong vocabulary", map[string]checkpoint.NamedTensor{"vocab_size": scalar(49408)}, "vocab_size: says 49408"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.safetensors")
			writeModel(t, path, func(m map[string]checkpoint.NamedTensor) {
				for k, v := range tc.extra {
					v.Name = k
					m[k] = v
				}
			})
			c, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Resolve(&cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and saying %q", err, path, tc.want)
			}
		})
	}
}

// TestCustomText: open_clip's CustomTextCLIP keeps a standard text
// transformer under "text."; it loads as the same model.
func TestCustomText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	writeModel(t, path, func(m map[string]checkpoint.NamedTensor) {
		for _, k := range []string{"token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias", "text_projection"} {
			v := m[k]
			delete(m, k)
			v.Name = "text." + k
			m[v.Name] = v
		}
		for k, v := range m {
			if strings.HasPrefix(k, "transformer.") {
				delete(m, k)
				v.Name = "text." + k
				m[v.Name] = v
			}
		}
	})
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg, err := clip.LoadConfig(filepath.Join(tinyDir, "open_clip_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(&cfg); err != nil {
		t.Fatal(err)
	}
}

// hubFolder writes an open_clip hub folder of the tiny model with the
// given preprocess_cfg (JSON) into dir.
func hubFolder(t *testing.T, dir, preprocess string) {
	t.Helper()
	writeModel(t, filepath.Join(dir, "open_clip_model.safetensors"), nil)
	model, err := os.ReadFile(filepath.Join(tinyDir, "open_clip_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{"model_cfg": ` + string(model) + `, "preprocess_cfg": ` + preprocess + `}`
	if err := os.WriteFile(filepath.Join(dir, hubConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHubFolder(t *testing.T) {
	dir := t.TempDir()
	hubFolder(t, dir, `{"mean": [0.5, 0.5, 0.5], "std": 0.25, "interpolation": "bilinear", "resize_mode": "squash", "size": [16, 16], "mode": "RGB", "fill_color": 3}`)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Layout != LayoutHubFolder || c.Config == nil || c.Config.EmbedDim != 16 || c.Path != dir {
		t.Fatalf("layout %q, config %+v, path %s", c.Layout, c.Config, c.Path)
	}
	p := c.Preprocess
	if p == nil || p.ImageSize != 16 || p.Mean[2] != 0.5 || p.Std[0] != 0.25 || p.Interpolation != "bilinear" || p.ResizeMode != "squash" || *p.FillColor != 3 {
		t.Fatalf("preprocess %+v", p)
	}
	if _, err := c.Resolve(nil); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ pre, want string }{
		{`{"mean": [1, 2]}`, "mean"},
		{`{"size": [16, 20]}`, "square"},
		{`{"mode": "L"}`, "RGB images only"},
		{`{"crop": 1}`, "unknown key"},
	} {
		d := t.TempDir()
		hubFolder(t, d, tc.pre)
		if _, err := Open(d); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "preprocess_cfg") {
			t.Errorf("preprocess_cfg %s: %v, want an error mentioning %q", tc.pre, err, tc.want)
		}
	}
}

// TestHFCacheEntry: a Hugging Face cache entry, whose snapshot files are
// links into blobs/, opens from its root (refs/main chooses the revision)
// or from the snapshot.
func TestHFCacheEntry(t *testing.T) {
	root := filepath.Join(t.TempDir(), "models--someone--tiny-clip")
	blobs := filepath.Join(root, "blobs")
	hubFolder(t, blobs, `{}`)
	for _, rev := range []string{"aaaa", "bbbb"} {
		snap := filepath.Join(root, "snapshots", rev)
		if err := os.MkdirAll(snap, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"open_clip_model.safetensors", hubConfigFile} {
			if err := os.Symlink(filepath.Join("..", "..", "blobs", f), filepath.Join(snap, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := Open(root); err == nil || !strings.Contains(err.Error(), "2 revisions") {
		t.Errorf("two revisions and no refs/main: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "refs", "main"), []byte("bbbb"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Layout != LayoutHubFolder || c.Path != root || !strings.Contains(c.Weights, filepath.Join("snapshots", "bbbb")) {
		t.Errorf("layout %q, path %s, weights %s", c.Layout, c.Path, c.Weights)
	}
	// The identity a store records is the hash of the weights file the
	// entry resolves to, whichever path names it.
	blob, err := os.ReadFile(filepath.Join(blobs, "open_clip_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x", sha256.Sum256(blob))
	for _, p := range []string{root, c.Weights, filepath.Join(root, "snapshots", "aaaa"), filepath.Join(blobs, "open_clip_model.safetensors")} {
		if w, err := WeightsFile(p); err != nil || (p == root && w != c.Weights) {
			t.Errorf("WeightsFile(%s) = %s, %v; want %s", p, w, err, c.Weights)
		}
		if got, err := Digest(p); err != nil || got != want {
			t.Errorf("Digest(%s) = %s, %v; want %s", p, got, err, want)
		}
	}
	if _, err := Digest(filepath.Join(root, "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Digest of a missing path: %v", err)
	}
	if _, err := c.Resolve(nil); err != nil {
		t.Fatal(err)
	}
}

// TestRefused: what trak cannot compute, or cannot find, is one clear
// error.
func TestRefused(t *testing.T) {
	dir := t.TempDir()
	rn := filepath.Join(dir, "rn50.safetensors")
	writeModel(t, rn, func(m map[string]checkpoint.NamedTensor) {
		m["visual.layer1.0.conv1.weight"] = checkpoint.NamedTensor{Name: "visual.layer1.0.conv1.weight", Shape: []int{1}, Data: []float32{0}}
	})
	siglip := filepath.Join(dir, "siglip.safetensors")
	writeModel(t, siglip, func(m map[string]checkpoint.NamedTensor) {
		m["logit_bias"] = checkpoint.NamedTensor{Name: "logit_bias", Shape: []int{1}, Data: []float32{0}}
	})
	rnHub := filepath.Join(dir, "rnhub")
	if err := os.MkdirAll(rnHub, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rnHub, hubConfigFile), []byte(`{"model_cfg": {"embed_dim": 1024, "quick_gelu": true, "vision_cfg": {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": null}, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}}`), 0o644)
	writeModel(t, filepath.Join(rnHub, "open_clip_model.safetensors"), nil)
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	noWeights := filepath.Join(dir, "noweights")
	os.MkdirAll(noWeights, 0o755)
	os.WriteFile(filepath.Join(noWeights, hfConfigFile), []byte(`{}`), 0o644)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{rn, []string{rn, "ResNet image tower", clip.Supported}},
		{siglip, []string{"SigLIP", clip.Supported}},
		{rnHub, []string{hubConfigFile, "ResNet image tower", clip.Supported}},
		{empty, []string{empty, "not a model folder", hubConfigFile, hfConfigFile}},
		{noWeights, []string{"no weights file", "model.safetensors or pytorch_model.bin"}},
		{filepath.Join(dir, "missing.pt"), []string{"does not exist"}},
	} {
		_, err := Open(tc.path)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%s): %v, want an error mentioning %q", tc.path, err, w)
			}
		}
	}
}

// TestConfigContradiction: a model_config that contradicts the folder's
// is refused, naming the keys.
func TestConfigContradiction(t *testing.T) {
	dir := t.TempDir()
	hubFolder(t, dir, `{}`)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other := *c.Config
	other.QuickGELU = true
	other.Vision.HeadWidth = 32
	_, err = c.Resolve(&other)
	for _, w := range []string{"quick_gelu is false in the checkpoint, true in model_config", "vision_cfg.head_width is 16 in the checkpoint, 32 in model_config", "remove model_config"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	same := *c.Config
	if _, err := c.Resolve(&same); err != nil {
		t.Errorf("the folder's own config given again: %v", err)
	}
}
