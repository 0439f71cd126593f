package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/logreg"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tasks"
)

// logregRun writes a small logistic-regression train set, targets and two
// checkpoints under dir and returns the config of a run over them.
func logregRun(t *testing.T, dir string) config.Config {
	t.Helper()
	all := logreg.Generate(60, 3, 2, 0, 1)
	train := &logreg.Data{N: 50, D: all.D, X: all.X[:50*all.D], Y: all.Y[:50], Clean: all.Clean[:50]}
	targets := &logreg.Data{N: 10, D: all.D, X: all.X[50*all.D:], Y: all.Y[50:], Clean: all.Clean[50:]}
	c := config.Config{
		SaveDir: filepath.Join(dir, "store"), Task: "logreg",
		TrainData: filepath.Join(dir, "train.csv"), Targets: filepath.Join(dir, "targets.csv"), Exp: "val",
		Projector: config.Projector{Type: "rademacher", Dim: 8}, Lambda: 0.01,
		FeaturesDType: "float32", OnBadExample: "fail", BatchSize: 7, Workers: 1,
	}
	if err := logreg.WriteCSV(c.TrainData, train); err != nil {
		t.Fatal(err)
	}
	if err := logreg.WriteCSV(c.Targets, targets); err != nil {
		t.Fatal(err)
	}
	for m := range 2 {
		model := logreg.Train(train, logreg.TrainOptions{Classes: 2, Epochs: 20, LR: 0.5, Seed: uint64(m)})
		if err := logreg.SaveCheckpoint(filepath.Join(dir, fmt.Sprintf("ckpt%d.npy", m)), model); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestPipeline runs featurize, finalize and score through the pipeline for
// a task from the registry and checks what each step leaves in the store:
// the row names, the finalize outcomes, the score matrix and the
// experiment's row names; and that progress is reported through the one
// progress.Func.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	c := logregRun(t, dir)
	task, err := tasks.Lookup(c.Task)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	s := Settings{Config: c, Version: "test", Progress: func(desc, units string, total int) func(int) {
		steps = append(steps, desc+" ("+units+")")
		return func(int) {}
	}}
	ctx := context.Background()
	for m := range 2 {
		s.Config.Checkpoint, s.Config.ModelID = filepath.Join(dir, fmt.Sprintf("ckpt%d.npy", m)), m
		res, err := Featurize(ctx, task, s, featurize.Shard{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Complete || res.Computed != 50 || res.Rows != 50 {
			t.Errorf("model %d: %+v", m, res)
		}
	}
	st, err := store.Open(c.SaveDir)
	if err != nil {
		t.Fatal(err)
	}
	if names, err := os.ReadFile(st.TrainNamesPath()); err != nil || !strings.HasPrefix(string(names), "index\tlabel\n") {
		t.Errorf("rows.tsv: %q, %v", names, err)
	}
	var finished []int
	outcomes, err := Finalize(ctx, st, []int{0, 1}, s, func(id int, _ score.FinalizeOutcome) { finished = append(finished, id) })
	if err != nil || len(outcomes) != 2 || outcomes[0].Reused || len(finished) != 2 || finished[1] != 1 {
		t.Fatalf("finalize: %+v, %v", outcomes, err)
	}
	scored, err := Score(ctx, task, st, []int{0, 1}, s)
	if err != nil {
		t.Fatal(err)
	}
	h, data, err := npy.ReadFile(scored.Path)
	if err != nil || len(h.Shape) != 2 || h.Shape[0] != 50 || h.Shape[1] != 10 || len(data) != 50*10*4 {
		t.Errorf("scores %s: %v %v", scored.Path, h, err)
	}
	if scored.NumTargets != 10 || scored.Describe(0)[0] == "" {
		t.Errorf("scored: %+v", scored)
	}
	if _, err := os.Stat(st.TargetNamesPath("val")); err != nil {
		t.Error(err)
	}
	want := []string{"featurize model 0 (rows)", "featurize model 1 (rows)", "finalize model 0 (steps)", "finalize model 1 (steps)"}
	for _, w := range want {
		if !strings.Contains(strings.Join(steps, "|"), w) {
			t.Errorf("progress steps %q lack %q", steps, w)
		}
	}
}

// TestScoreRefusesOtherProjection: a run that sets a projection other than
// the store's is refused before any target is featurized.
func TestScoreRefusesOtherProjection(t *testing.T) {
	dir := t.TempDir()
	c := logregRun(t, dir)
	task, _ := tasks.Lookup(c.Task)
	c.Checkpoint = filepath.Join(dir, "ckpt0.npy")
	ctx := context.Background()
	if _, err := Featurize(ctx, task, Settings{Config: c}, featurize.Shard{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(c.SaveDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Finalize(ctx, st, []int{0}, Settings{Config: c}, nil); err != nil {
		t.Fatal(err)
	}
	c.Projector.Dim, c.Set = 16, map[string]bool{"projector.dim": true}
	if _, err := Score(ctx, task, st, []int{0}, Settings{Config: c}); err == nil {
		t.Fatal("a run with another projection dimension was scored")
	}
	if _, err := os.Stat(st.ScoresPath("val")); err == nil {
		t.Error("scores were written")
	}
}

// TestSJLTStore: a store featurized with projector sjlt records s; a score
// run that leaves projector.s unset uses the recorded value, one that sets
// another s is refused naming projector.s, and one that sets the same s is
// accepted.
func TestSJLTStore(t *testing.T) {
	dir := t.TempDir()
	c := logregRun(t, dir)
	c.Projector = config.Projector{Type: "sjlt", Dim: 8, S: 3}
	task, _ := tasks.Lookup(c.Task)
	c.Checkpoint = filepath.Join(dir, "ckpt0.npy")
	ctx := context.Background()
	if _, err := Featurize(ctx, task, Settings{Config: c}, featurize.Shard{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(c.SaveDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Meta.Projector != "sjlt" || st.Meta.S != 3 || st.Meta.K != 8 {
		t.Fatalf("store records projector %q, k %d, s %d; want sjlt, 8, 3", st.Meta.Projector, st.Meta.K, st.Meta.S)
	}
	unset := c
	unset.Projector = config.Projector{Type: "rademacher", Dim: 2048, S: 4}
	unset.Set = map[string]bool{}
	spec, err := StoreProjector(st, unset)
	if err != nil || spec.Kind != projection.SJLT || spec.S != 3 || spec.Dim != 8 {
		t.Errorf("StoreProjector with nothing set = %+v, %v; want sjlt, k 8, s 3", spec, err)
	}
	same := unset
	same.Projector.S, same.Set = 3, map[string]bool{"projector.s": true}
	if _, err := StoreProjector(st, same); err != nil {
		t.Errorf("the recorded s refused: %v", err)
	}
	other := unset
	other.Projector.S, other.Set = 2, map[string]bool{"projector.s": true}
	if _, err := StoreProjector(st, other); err == nil || !strings.Contains(err.Error(), "s: store has 3, this run has 2") || !strings.Contains(err.Error(), "projector.s") {
		t.Errorf("another s: %v", err)
	}
}
