package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/checkpoint"
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

// TestSkippedRows: every featurize run says how many train rows are
// skipped; a large share is a warning; a train set whose every row is bad
// (a CSV copied away from its images) is an error, not a store of zeros.
func TestSkippedRows(t *testing.T) {
	dir := clipFixture(t, 10, 1)
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\nprojector:\n  dim: 8\nsim_batch_size: 4\non_bad_example: skip\n")
	os.WriteFile(filepath.Join(dir, "img003.png"), []byte("corrupt"), 0o644)
	os.WriteFile(filepath.Join(dir, "img004.png"), []byte("corrupt"), 0o644)
	_, errOut, code := trak(t, dir, "featurize", "--config", cfg, "--save-dir", "some")
	if code != 0 || !strings.Contains(errOut, "warning: model 0: 2 of 10 train rows (20%) are skipped") {
		t.Errorf("two bad rows: exit %d\n%s", code, errOut)
	}
	// A rerun has nothing to do but still says so.
	_, errOut, _ = trak(t, dir, "featurize", "--config", cfg, "--save-dir", "some")
	if !strings.Contains(errOut, "nothing to do") || !strings.Contains(errOut, "2 of 10 train rows") {
		t.Errorf("rerun:\n%s", errOut)
	}

	// The store names its rows; score names the skipped targets.
	names, _ := os.ReadFile(filepath.Join(dir, "some", "rows.tsv"))
	if lines := strings.Split(strings.TrimSpace(string(names)), "\n"); len(lines) != 11 || lines[0] != "index\timage\tcaption" || !strings.HasPrefix(lines[4], "3\timg003.png\ta ") {
		t.Errorf("rows.tsv:\n%s", names)
	}
	mustTrak(t, dir, "finalize", "--save-dir", "some")
	_, errOut, code = trak(t, dir, "score", "--save-dir", "some", "--targets", "train.csv", "--exp", "self", "--on-bad-example", "skip")
	if code != 0 || !strings.Contains(errOut, "2 of 10 targets are skipped") || !strings.Contains(errOut, "target 3\timg003.png") || !strings.Contains(errOut, "target 4\timg004.png") {
		t.Errorf("score with two bad targets: exit %d\n%s", code, errOut)
	}
	if names, err := os.ReadFile(filepath.Join(dir, "some", "scores", "self_rows.tsv")); err != nil || !bytes.Contains(names, []byte("9\timg009.png")) {
		t.Errorf("scores/self_rows.tsv: %v\n%s", err, names)
	}

	away := filepath.Join(dir, "away")
	os.MkdirAll(away, 0o755)
	csv, _ := os.ReadFile(filepath.Join(dir, "train.csv"))
	os.WriteFile(filepath.Join(away, "train.csv"), csv, 0o644)
	for run := range 2 {
		_, errOut, code = trak(t, dir, "featurize", "--config", cfg, "--save-dir", "none", "--train-data", filepath.Join("away", "train.csv"))
		if code == 0 || !strings.Contains(errOut, "all 10 train rows are skipped bad examples") {
			t.Errorf("run %d with every image missing: exit %d\n%s", run, code, errOut)
		}
	}
	if _, errOut, code := trak(t, dir, "finalize", "--save-dir", "none"); code == 0 || !strings.Contains(errOut, "all 10 train rows are skipped bad examples") {
		t.Errorf("finalize of a model whose every row is skipped: exit %d\n%s", code, errOut)
	}
}

// TestNonFiniteCheckpoint: a checkpoint with a NaN weight, or a logit_scale
// whose temperature overflows, is refused when featurize opens it, naming
// the checkpoint and the tensor; nothing is marked done.
func TestNonFiniteCheckpoint(t *testing.T) {
	dir := clipFixture(t, 6, 1)
	cfg := writeFile(t, dir, "run.yaml", "task: clip\ntrain_data: train.csv\nmodel_config: model.json\nprojector:\n  dim: 8\nsim_batch_size: 4\n")
	for name, v := range map[string]float32{"nan": float32(math.NaN()), "overflow": 100} {
		f, err := checkpoint.Open(filepath.Join(dir, "ckpt0.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		var ts []checkpoint.NamedTensor
		for _, n := range f.Names() {
			tn, _ := f.Tensor(n)
			data := make([]float32, tn.Len())
			tn.Float32s(data)
			if n == "logit_scale" {
				data[0] = v
			}
			ts = append(ts, checkpoint.NamedTensor{Name: n, Shape: tn.Shape, Data: data})
		}
		f.Close()
		path := name + ".safetensors"
		if err := checkpoint.WriteSafetensors(filepath.Join(dir, path), ts, nil); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := trak(t, dir, "featurize", "--config", cfg, "--save-dir", "store-"+name, "--checkpoint", path)
		if code == 0 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "logit_scale") {
			t.Errorf("%s logit_scale: exit %d\n%s", name, code, errOut)
		}
	}
}

// TestTargetColumns: targets read with other columns than the train set
// are recorded with them, so top describes them and does not take them
// for changed targets.
func TestTargetColumns(t *testing.T) {
	dir := clipFixture(t, 6, 1)
	cfg := writeFile(t, dir, "run.yaml", "save_dir: store\ntask: clip\ntrain_data: train.csv\nmodel_config: model.json\ncheckpoint: ckpt0.safetensors\nprojector:\n  dim: 8\nsim_batch_size: 4\n")
	mustTrak(t, dir, "featurize", "--config", cfg)
	mustTrak(t, dir, "finalize", "--config", cfg)
	csv, _ := os.ReadFile(filepath.Join(dir, "train.csv"))
	writeFile(t, dir, "targets.csv", strings.Replace(string(csv), "filepath,title", "img,text", 1))
	scoreCfg := writeFile(t, dir, "score.yaml", "save_dir: store\ntargets: targets.csv\nexp: other\ndata:\n  image_column: img\n  caption_column: text\n")
	mustTrak(t, dir, "score", "--config", scoreCfg)
	out, errOut, code := trak(t, dir, "top", "--save-dir", "store", "--exp", "other", "-k", "1", "--target", "2")
	fields := strings.Split(strings.TrimSpace(out), "\t")
	if code != 0 || errOut != "" || len(fields) != 8 || filepath.Base(fields[1]) != "img002.png" {
		t.Errorf("top: exit %d\n%s\n%s", code, out, errOut)
	}
}
