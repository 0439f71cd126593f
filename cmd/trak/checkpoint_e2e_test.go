package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clipckpt"
	"github.com/trak-dev/trak/internal/imageprep"
)

// hfFixture is the Hugging Face CLIPModel folder the clipckpt tests check
// against PyTorch (2 layers per tower, quick_gelu, its own mean and std).
const hfFixture = "../../internal/clipckpt/testdata/hf/quickgelu"

// writeHFFolder writes a Hugging Face CLIPModel folder into dir: the
// fixture's weights with a token embedding as large as CLIP's vocabulary
// (the fixture's has 512 ids, fewer than any tokenizer has), so that the
// built-in tokenizer can feed it.
func writeHFFolder(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.Open(filepath.Join(hfFixture, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const vocab = 49408
	rng := rand.New(rand.NewPCG(3, 4))
	var ts []checkpoint.NamedTensor
	for _, name := range f.Names() {
		tn, _ := f.Tensor(name)
		data := make([]float32, tn.Len())
		if err := tn.Float32s(data); err != nil {
			t.Fatal(err)
		}
		shape := tn.Shape
		if name == "text_model.embeddings.token_embedding.weight" {
			shape = []int{vocab, tn.Shape[1]}
			data = make([]float32, vocab*tn.Shape[1])
			for i := range data {
				data[i] = float32(0.02 * rng.NormFloat64())
			}
		}
		ts = append(ts, checkpoint.NamedTensor{Name: name, Shape: shape, Data: data})
	}
	if err := checkpoint.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(hfFixture, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	text := cfg["text_config"].(map[string]any)
	text["vocab_size"], text["bos_token_id"], text["eos_token_id"] = vocab, vocab-2, vocab-1
	b, _ = json.MarshalIndent(cfg, "", "  ")
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	b, _ = os.ReadFile(filepath.Join(hfFixture, "preprocessor_config.json"))
	os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), b, 0o644)
}

// writeHubFolder converts the checkpoint at src into an open_clip hub folder
// (open_clip_config.json with model_cfg and preprocess_cfg, and
// open_clip_model.safetensors) in dir, through clipckpt's reading of src.
func writeHubFolder(t *testing.T, src, dir string) {
	t.Helper()
	ck, err := clipckpt.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	cfg, err := ck.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	var ts []checkpoint.NamedTensor
	for _, p := range cfg.Params() {
		tn, _ := ck.File.Tensor(p.Name)
		data := make([]float32, p.Len())
		if err := tn.Float32s(data); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, checkpoint.NamedTensor{Name: p.Name, Shape: p.Shape, Data: data})
	}
	os.MkdirAll(dir, 0o755)
	if err := checkpoint.WriteSafetensors(filepath.Join(dir, "open_clip_model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	tr := imageprep.DefaultTransform(cfg.Vision.ImageSize)
	copy(tr.Mean[:], ck.Preprocess.Mean)
	copy(tr.Std[:], ck.Preprocess.Std)
	if err := clipckpt.WriteHubConfig(filepath.Join(dir, "open_clip_config.json"), cfg, tr); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFolders: a Hugging Face CLIPModel folder and an open_clip
// hub folder given as --checkpoint, with no model_config, run the whole
// pipeline; the same weights in either layout give the same features and
// scores bit for bit (same parameters in the same order, same transform).
func TestCheckpointFolders(t *testing.T) {
	dir := clipFixture(t, 10, 0)
	writeHFFolder(t, filepath.Join(dir, "hf"))
	writeHubFolder(t, filepath.Join(dir, "hf"), filepath.Join(dir, "hub"))

	out := mustTrak(t, dir, "inspect", "hf")
	for _, want := range []string{"Hugging Face", "config.json", "mean [0.5 0.45 0.4]", "status        ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect hf: no %q in\n%s", want, out)
		}
	}
	out = mustTrak(t, dir, "inspect", "hub")
	for _, want := range []string{"open_clip_config.json", "mean [0.5 0.45 0.4]", "status        ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect hub: no %q in\n%s", want, out)
		}
	}

	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\ntargets: train.csv\nexp: self\nprojector:\n  dim: 16\nsim_batch_size: 4\nbatch_size: 3\n")
	for _, layout := range []string{"hf", "hub"} {
		store := "store-" + layout
		mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", store, "--checkpoint", layout)
		mustTrak(t, dir, "finalize", "--config", cfg, "--save-dir", store)
		mustTrak(t, dir, "score", "--config", cfg, "--save-dir", store)
	}
	for _, file := range []string{"0/grads.npy", "0/features.npy", "scores/self.npy"} {
		a, errA := os.ReadFile(filepath.Join(dir, "store-hf", file))
		b, errB := os.ReadFile(filepath.Join(dir, "store-hub", file))
		if errA != nil || errB != nil {
			t.Fatalf("%v %v", errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the Hugging Face and the hub folder", file)
		}
	}
	scores, shape := readScores(t, filepath.Join(dir, "store-hf", "scores", "self.npy"))
	if shape[0] != 10 || shape[1] != 10 {
		t.Fatalf("scores shape %v", shape)
	}
	nonzero := 0
	for _, v := range scores {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero < 50 {
		t.Errorf("only %d of 100 scores are non-zero", nonzero)
	}

	// Weights replaced in the folder after featurize are noticed by score.
	w := filepath.Join(dir, "hf", "model.safetensors")
	weights, _ := os.ReadFile(w)
	os.WriteFile(w, append(weights, ' '), 0o644)
	if _, errOut, code := trak(t, dir, "score", "--config", cfg, "--save-dir", "store-hf", "--exp", "again"); code == 0 || !strings.Contains(errOut, "changed since it was featurized") {
		t.Errorf("score after the folder's weights changed: exit %d, %s", code, errOut)
	}

	// The weights file alone, with open_clip_config.json beside it (here also
	// named as model_config), is the same model with the same preprocessing.
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "store-default", "--checkpoint", "hub/open_clip_model.safetensors", "--model-config", "hub/open_clip_config.json")
	a, _ := os.ReadFile(filepath.Join(dir, "store-hub", "0", "grads.npy"))
	b, err := os.ReadFile(filepath.Join(dir, "store-default", "0", "grads.npy"))
	if err != nil || len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("the hub folder's weights file alone (open_clip_config.json beside it) gave other gradients than the folder (%v)", err)
	}
}

// TestExifTranspose: exif_transpose changes the pixels of a photo whose EXIF
// orientation turns it, is recorded in the store, and a featurize or score
// run with the other setting is refused.
func TestExifTranspose(t *testing.T) {
	dir := clipFixture(t, 8, 1)
	photo, err := os.ReadFile("../../internal/imageprep/testdata/in/orient6_le.jpg")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "img000.png"), photo, 0o644)
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\ntargets: train.csv\nexp: self\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\nprojector:\n  dim: 16\nsim_batch_size: 4\n")
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "stored")
	mustTrak(t, dir, "featurize", "--config", cfg, "--save-dir", "upright", "--exif-transpose")
	for store, want := range map[string]string{"stored": "exif_transpose=false", "upright": "exif_transpose=true"} {
		meta, _ := os.ReadFile(filepath.Join(dir, store, "metadata.json"))
		if !strings.Contains(string(meta), want) {
			t.Errorf("%s/metadata.json does not record %s:\n%s", store, want, meta)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "stored", "0", "embeddings_image.npy"))
	b, _ := os.ReadFile(filepath.Join(dir, "upright", "0", "embeddings_image.npy"))
	if len(a) == 0 || bytes.Equal(a, b) {
		t.Error("the sideways photo has the same embedding turned upright or not")
	}
	if _, errOut, code := trak(t, dir, "featurize", "--config", cfg, "--save-dir", "stored", "--exif-transpose", "--model-id", "1"); code == 0 || !strings.Contains(errOut, "exif_transpose: the store was featurized with false, this run sets true") {
		t.Errorf("featurize with the other setting: exit %d, %s", code, errOut)
	}
	mustTrak(t, dir, "finalize", "--config", cfg, "--save-dir", "stored")
	if _, errOut, code := trak(t, dir, "score", "--config", cfg, "--save-dir", "stored", "--exif-transpose"); code == 0 || !strings.Contains(errOut, "exif_transpose: the store was featurized with false, this run sets true") {
		t.Errorf("score with the other setting: exit %d, %s", code, errOut)
	}
	mustTrak(t, dir, "score", "--config", cfg, "--save-dir", "stored")
}
