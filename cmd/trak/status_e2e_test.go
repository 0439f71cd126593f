package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatus: trak status reports each model id's rows done and skipped,
// whether it is finalized and with which λ, and each experiment's scores,
// flagged stale once a model is finalized again; the JSON form carries
// the same numbers.
func TestStatus(t *testing.T) {
	dir := clipFixture(t, 10, 2)
	os.WriteFile(filepath.Join(dir, "img002.png"), []byte("corrupt"), 0o644)
	cfg := writeFile(t, dir, "run.yaml", "save_dir: store\ntask: clip\ntrain_data: train.csv\nmodel_config: model.json\nprojector:\n  dim: 8\nsim_batch_size: 4\non_bad_example: skip\nlambda: 0.01\n")
	mustTrak(t, dir, "featurize", "--config", cfg, "--checkpoint", "ckpt0.safetensors")
	mustTrak(t, dir, "featurize", "--config", cfg, "--checkpoint", "ckpt1.safetensors", "--model-id", "1", "--shard", "0/2")
	mustTrak(t, dir, "finalize", "--config", cfg, "--model-id", "0")
	mustTrak(t, dir, "score", "--config", cfg, "--targets", "train.csv", "--exp", "self", "--skip-unfinished")

	out := mustTrak(t, dir, "status", "--save-dir", "store")
	for _, want := range []string{"clip, 10 train rows", "0      10/10       1        λ = 0.01", "1      5/10        1        no", "self        10       20", "0       "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var st struct {
		Models []struct {
			ID         int     `json:"model_id"`
			Featurized int     `json:"rows_featurized"`
			Skipped    int     `json:"rows_skipped"`
			Total      int     `json:"rows_total"`
			Finalized  bool    `json:"finalized"`
			Lambda     float64 `json:"lambda"`
		} `json:"models"`
		Experiments []struct {
			Name     string `json:"exp"`
			Scored   bool   `json:"scored"`
			ModelIDs []int  `json:"model_ids"`
			Stale    string `json:"stale"`
		} `json:"experiments"`
	}
	js := mustTrak(t, dir, "status", "--save-dir", "store", "--format", "json")
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if len(st.Models) != 2 || st.Models[0].Featurized != 9 || st.Models[0].Skipped != 1 || !st.Models[0].Finalized || st.Models[0].Lambda != 0.01 ||
		st.Models[1].Featurized+st.Models[1].Skipped != 5 || st.Models[1].Finalized || st.Models[1].Total != 10 {
		t.Errorf("models: %+v", st.Models)
	}
	if len(st.Experiments) != 1 || !st.Experiments[0].Scored || len(st.Experiments[0].ModelIDs) != 1 || st.Experiments[0].Stale != "" {
		t.Errorf("experiments: %+v", st.Experiments)
	}

	mustTrak(t, dir, "finalize", "--config", cfg, "--model-id", "0", "--lambda", "0.1")
	out = mustTrak(t, dir, "status", "--save-dir", "store")
	if !strings.Contains(out, "(stale)") || !strings.Contains(out, "self: ") {
		t.Errorf("status after finalizing again:\n%s", out)
	}
}
