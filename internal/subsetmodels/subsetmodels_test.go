package subsetmodels

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/featurize"
)

// sumTrainer "trains" a model by writing the sum of its rows and its seed,
// and "evaluates" it as that sum plus the target index plus the seed's
// replica term (seed >> 40): enough to tell which subset and replica a
// file came from, and how often each method ran.
type sumTrainer struct {
	targets         int
	trains, outputs int
}

func (s *sumTrainer) Ext() string { return ".txt" }

func (s *sumTrainer) Train(_ context.Context, rows []int, seed uint64, path string) (string, error) {
	s.trains++
	sum := rowSum(rows)
	warning := ""
	if seed%2 == 1 {
		warning = "odd seed"
	}
	return warning, os.WriteFile(path, fmt.Appendf(nil, "%d %d", sum, seed), 0o644)
}

func (s *sumTrainer) Outputs(_ context.Context, path string) ([]float64, error) {
	s.outputs++
	var sum int
	var seed uint64
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Sscanf(string(raw), "%d %d", &sum, &seed); err != nil {
		return nil, err
	}
	out := make([]float64, s.targets)
	for t := range out {
		out[t] = float64(sum+t) + float64(seed>>40)
	}
	return out, nil
}

// rowSum is what sumTrainer writes for a subset.
func rowSum(rows []int) int {
	sum := 0
	for _, r := range rows {
		sum += r
	}
	return sum
}

func settings(m int) Settings {
	return Settings{Task: "test", TrainFingerprint: "fp", TrainSize: 40, Subsets: m, Alpha: 0.5, Seed: 7, Recipe: map[string]float64{"lr": 0.1}}
}

func TestTrainResumeExtendAndCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lds")
	ctx := context.Background()
	tr := &sumTrainer{targets: 3}
	d, err := Open(dir, settings(4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Outputs(ctx, tr, "targets", 3, nil); !errors.As(err, new(*MissingError)) {
		t.Fatalf("outputs before training: %v, want a MissingError", err)
	}
	n, warnings, err := d.Train(ctx, tr, featurize.Shard{Index: 1, Count: 2}, nil)
	if err != nil || n != 2 {
		t.Fatalf("shard 1/2 trained %d (%v), want 2", n, err)
	}
	// Subsets 2 and 3: seeds 7,000,002 and 7,000,003; the odd one warns.
	if len(warnings) != 1 || warnings[0] != "subset model 3: odd seed" {
		t.Errorf("warnings %q, want the one of subset model 3", warnings)
	}
	if got := d.Missing(tr, 0, 4); len(got) != 2 || got[0] != (ModelID{0, 0}) || got[1] != (ModelID{1, 0}) {
		t.Errorf("missing after shard 1/2: %v, want [0 1]", got)
	}
	if n, _, _ := d.Train(ctx, tr, featurize.Shard{Index: 0, Count: 1}, nil); n != 2 {
		t.Errorf("the whole run trained %d, want the 2 missing", n)
	}
	first, err := d.Outputs(ctx, tr, "targets", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for j, s := range d.Subsets() {
		sum := rowSum(s)
		if first[j*3] != float64(sum) {
			t.Errorf("subset %d: output %v, want its rows' sum %d", j, first[j*3], sum)
		}
	}
	// Cached: a second evaluation of the same targets runs no model; other
	// targets run every model again.
	calls := tr.outputs
	if _, err := d.Outputs(ctx, tr, "targets", 3, nil); err != nil || tr.outputs != calls {
		t.Errorf("cached outputs: %d more evaluations (%v), want 0", tr.outputs-calls, err)
	}
	if _, err := d.Outputs(ctx, tr, "other targets", 3, nil); err != nil || tr.outputs != calls+4 {
		t.Errorf("other targets: %d more evaluations (%v), want 4", tr.outputs-calls, err)
	}
	// More subsets extend the folder: the first four are kept, untrained.
	d8, err := Open(dir, settings(8))
	if err != nil {
		t.Fatal(err)
	}
	for j := range 4 {
		if fmt.Sprint(d8.Subsets()[j]) != fmt.Sprint(d.Subsets()[j]) {
			t.Fatalf("subset %d changed when M grew", j)
		}
	}
	trains := tr.trains
	if n, _, _ := d8.Train(ctx, tr, featurize.Shard{Index: 0, Count: 1}, nil); n != 4 || tr.trains != trains+4 {
		t.Errorf("M 4 → 8 trained %d, want 4", n)
	}
	// Fewer subsets use the first ones.
	d2, err := Open(dir, settings(2))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := d2.Outputs(ctx, tr, "targets", 3, nil); err != nil || len(out) != 6 {
		t.Errorf("M = 2: %d outputs (%v), want 6", len(out), err)
	}
}

func TestOpenRefusesOtherSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lds")
	if _, err := Open(dir, settings(4)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Settings)
		want string
	}{
		{"alpha", func(s *Settings) { s.Alpha = 0.3 }, "lds.alpha"},
		{"seed", func(s *Settings) { s.Seed = 8 }, "lds.seed"},
		{"recipe", func(s *Settings) { s.Recipe = map[string]float64{"lr": 0.2} }, "lds.lr"},
		{"recipe key", func(s *Settings) { s.Recipe = map[string]float64{"lr": 0.1, "epochs": 3} }, "lds.epochs"},
		{"train set", func(s *Settings) { s.TrainFingerprint = "other" }, "fingerprint"},
		{"task", func(s *Settings) { s.Task = "other" }, "task"},
	} {
		s := settings(4)
		tc.edit(&s)
		if _, err := Open(dir, s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, settingsFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, settings(4)); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt settings.json: %v", err)
	}
}

// TestModelsPerSubset checks that a subset's output is the mean of its
// models' (replicas with distinct seeds), that raising models_per_subset
// trains only the new replicas and records the larger count, and that a
// lower count uses the first replicas without forgetting the others.
func TestModelsPerSubset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lds")
	ctx := context.Background()
	tr := &sumTrainer{targets: 2}
	d1, err := Open(dir, settings(4))
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := d1.Train(ctx, tr, featurize.Shard{}, nil); err != nil || n != 4 {
		t.Fatalf("1 model per subset: trained %d (%v), want 4", n, err)
	}
	s3 := settings(4)
	s3.ModelsPerSubset = 3
	d3, err := Open(dir, s3)
	if err != nil {
		t.Fatal(err)
	}
	if got := d3.Missing(tr, 2, 3); fmt.Sprint(got) != "[subset model 2 (replica 1) subset model 2 (replica 2)]" {
		t.Errorf("missing of subset 2: %v", got)
	}
	// Shard 1/2 is subsets 2 and 3, every replica not trained yet.
	if n, _, err := d3.Train(ctx, tr, featurize.Shard{Index: 1, Count: 2}, nil); err != nil || n != 4 {
		t.Fatalf("shard 1/2 with 3 models per subset: trained %d (%v), want 4", n, err)
	}
	if n, _, err := d3.Train(ctx, tr, featurize.Shard{}, nil); err != nil || n != 4 {
		t.Fatalf("the rest: trained %d (%v), want 4", n, err)
	}
	seeds := map[uint64]bool{}
	for j := range 4 {
		for r := range 3 {
			seeds[d3.Seed(ModelID{j, r})] = true
		}
	}
	if len(seeds) != 12 {
		t.Errorf("%d distinct seeds for 12 models", len(seeds))
	}
	out, err := d3.Outputs(ctx, tr, "targets", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for j, sub := range d3.Subsets() {
		sum := rowSum(sub)
		// Replica terms 0, 1, 2: mean 1. Exact in float64.
		for i := range 2 {
			if want := float64(sum+i) + 1; out[j*2+i] != want {
				t.Errorf("subset %d target %d: %v, want the replicas' mean %v", j, i, out[j*2+i], want)
			}
		}
	}
	// One model per subset again: replica 0 alone, and the record keeps 3.
	d1, err = Open(dir, settings(4))
	if err != nil {
		t.Fatal(err)
	}
	out, err = d1.Outputs(ctx, tr, "targets", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum := rowSum(d1.Subsets()[0]); out[0] != float64(sum) {
		t.Errorf("1 model per subset after 3: %v, want replica 0's %d", out[0], sum)
	}
	raw, err := os.ReadFile(filepath.Join(dir, settingsFile))
	if err != nil || !strings.Contains(string(raw), `"models_per_subset": 3`) {
		t.Errorf("settings.json after using fewer models: %s (%v), want models_per_subset 3 kept", raw, err)
	}
}
