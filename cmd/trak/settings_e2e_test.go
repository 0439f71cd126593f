package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordedSettings: score and a second featurize run from --save-dir
// alone use what featurize recorded (architecture, sim_batch_size, image
// settings) and give the scores a fully configured run gives, bit for bit;
// a run that sets a conflicting value is refused, naming the key and both
// values. Without the record, the architecture inferred from the
// checkpoint's shapes has 1 head per tower instead of 2 and every score
// changes.
func TestRecordedSettings(t *testing.T) {
	dir := clipFixture(t, 12, 2)
	cfg := writeFile(t, dir, "run.yaml", "save_dir: store\ntask: clip\ntrain_data: train.csv\ntargets: train.csv\nexp: self\nmodel_config: model.json\nprojector:\n  dim: 16\nsim_batch_size: 5\nexif_transpose: true\n")
	mustTrak(t, dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.safetensors")
	meta, _ := os.ReadFile(filepath.Join(dir, "store", "metadata.json"))
	var m map[string]any
	if err := json.Unmarshal(meta, &m); err != nil {
		t.Fatal(err)
	}
	if m["sim_batch_size"] != 5.0 || m["model_config"] == nil || !strings.HasPrefix(m["tokenizer"].(string), "sha256:") || !strings.HasSuffix(m["image_transform"].(string), "exif_transpose=true") {
		t.Fatalf("metadata.json does not record the settings:\n%s", meta)
	}

	// The second checkpoint from --save-dir alone takes the recorded values.
	mustTrak(t, dir, "featurize", "--save-dir", "store", "--checkpoint", "ckpt1.safetensors", "--model-id", "1")
	if _, errOut, code := trak(t, dir, "featurize", "--save-dir", "store", "--train-data", "train.csv", "--checkpoint", "ckpt1.safetensors", "--model-id", "2", "--projector-dim", "16", "--sim-batch-size", "7"); code == 0 || !strings.Contains(errOut, "sim_batch_size") || !strings.Contains(errOut, "5") || !strings.Contains(errOut, "7") {
		t.Errorf("featurize with another sim_batch_size: exit %d\n%s", code, errOut)
	}
	mustTrak(t, dir, "finalize", "--save-dir", "store")

	mustTrak(t, dir, "score", "--config", cfg, "--exp", "configured")
	mustTrak(t, dir, "score", "--save-dir", "store", "--targets", "train.csv", "--exp", "bare")
	a, _ := os.ReadFile(filepath.Join(dir, "store", "scores", "configured.npy"))
	b, _ := os.ReadFile(filepath.Join(dir, "store", "scores", "bare.npy"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("score from --save-dir alone differs from the configured run")
	}
	for _, c := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--sim-batch-size", "7"}, []string{"sim_batch_size", "5", "7"}},
		{[]string{"--model-config", "tiny"}, []string{"model_config", "architecture"}},
		{[]string{"--exif-transpose=false"}, []string{"exif_transpose", "true", "false"}},
	} {
		args := append([]string{"score", "--save-dir", "store", "--targets", "train.csv", "--exp", "conflict"}, c.flags...)
		_, errOut, code := trak(t, dir, args...)
		if code == 0 {
			t.Errorf("score %v: accepted", c.flags)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("score %v: error does not mention %q:\n%s", c.flags, w, errOut)
			}
		}
	}
}
