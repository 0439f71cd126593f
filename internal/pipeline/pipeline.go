// Package pipeline runs TRAK's three steps for any task: Featurize (one
// checkpoint's train set), Finalize (the after-kernel features of
// featurized checkpoints) and Score (targets against finalized
// checkpoints). It is the one place that wires internal/featurize and
// internal/score to a Task and a run's settings; the commands and `trak
// demo` call it, and say what happened.
package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"runtime"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tasks"
)

// Settings are what every step reads besides the task.
type Settings struct {
	// Config is the run's configuration; Workers 0 means every core.
	Config config.Config
	// Progress reports each long step; nil reports nothing.
	Progress progress.Func
	// Version is trak's version, recorded in the store.
	Version string
	// Backend runs the model of tasks that have one (clip); the caller
	// opens it once, so that one place chooses the device.
	Backend backend.Backend
}

// Featurized is what Featurize did.
type Featurized struct {
	featurize.TrainSummary
	// Rows is the number of train rows.
	Rows int
	// CLIP holds the CLIP settings the store records (zero for other
	// tasks), for the notes the command prints.
	CLIP store.CLIPSettings
}

// Featurize computes the features of the shard's unfinished train rows for
// checkpoint c.Checkpoint as model c.ModelID, and writes the store's
// rows.tsv once.
func Featurize(ctx context.Context, t tasks.Task, s Settings, shard featurize.Shard) (Featurized, error) {
	c := withWorkers(s.Config)
	if err := t.Check(c); err != nil {
		return Featurized{}, err
	}
	job := featurize.TrainJob{
		SaveDir:       c.SaveDir,
		ModelID:       c.ModelID,
		Checkpoint:    c.Checkpoint,
		Task:          t.Name(),
		DataPath:      absPath(c.TrainData),
		Projector:     projectorSpec(c),
		FeaturesDType: c.FeaturesDType,
		BatchSize:     c.BatchSize,
		Workers:       c.Workers,
		Shard:         shard,
		Progress:      s.Progress,
		OnBad:         featurize.OnBadExample(c.OnBadExample),
		ToolVersion:   s.Version,
	}
	job, err := t.TrainJob(c, s.Backend, job)
	if err != nil {
		return Featurized{}, err
	}
	sum, err := featurize.Train(ctx, job)
	if err != nil {
		return Featurized{}, err
	}
	if err := writeTrainNames(t, c, job.DataColumns); err != nil {
		return Featurized{}, err
	}
	return Featurized{TrainSummary: sum, Rows: job.Examples.Len(), CLIP: job.CLIP}, nil
}

// writeTrainNames writes the store's rows.tsv (which example each train
// row is) once, on the first featurize run that gets this far.
func writeTrainNames(t tasks.Task, c config.Config, cols map[string]string) error {
	st, err := store.Open(c.SaveDir)
	if err != nil {
		return err
	}
	path := st.TrainNamesPath()
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	columns, describe, err := t.Describe(c.TrainData, cols)
	if err != nil {
		return err
	}
	return store.WriteRowNames(path, columns, st.Meta.TrainSize, describe)
}

// RidgeOf returns how finalize chooses λ under config c: its keys lambda
// and lambda_rel.
func RidgeOf(c config.Config) score.Ridge {
	return score.Ridge{Lambda: c.Lambda, Rel: c.LambdaRel}
}

// Finalize computes K = X (XᵀX + λI)⁻¹, λ chosen by RidgeOf(s.Config), for
// each model of ids in turn, calling done (when not nil) as each one
// finishes, so that a command can say so while the next one runs. It
// returns the outcomes of the models it finished, in the order of ids, also
// when a later one fails.
func Finalize(ctx context.Context, st *store.Store, ids []int, s Settings, done func(id int, o score.FinalizeOutcome)) ([]score.FinalizeOutcome, error) {
	if _, err := StoreProjector(st, s.Config); err != nil {
		return nil, err
	}
	var outcomes []score.FinalizeOutcome
	for _, id := range ids {
		o, err := score.FinalizeModelOutcome(ctx, st, id, RidgeOf(s.Config), s.Progress)
		if err != nil {
			return outcomes, err
		}
		outcomes = append(outcomes, o)
		if done != nil {
			done(id, o)
		}
	}
	return outcomes, nil
}

// Scored is what Score did.
type Scored struct {
	// Path is the score file, scores/<exp>.npy.
	Path       string
	NumTargets int
	// Describe names target i (its columns are in the experiment's
	// rows.tsv).
	Describe func(i int) []string
}

// Score featurizes the targets c.Targets with every model of ids (all
// finalized), writes scores/<exp>.npy, exp = c.Exp, and the experiment's
// rows.tsv.
func Score(ctx context.Context, t tasks.Task, st *store.Store, ids []int, s Settings) (Scored, error) {
	c := withWorkers(s.Config)
	if err := t.Check(c); err != nil {
		return Scored{}, err
	}
	spec, err := StoreProjector(st, c)
	if err != nil {
		return Scored{}, err
	}
	job := score.ExperimentJob{
		Store:       st,
		Exp:         c.Exp,
		Targets:     c.Targets,
		ModelIDs:    ids,
		Projector:   spec,
		BatchSize:   c.BatchSize,
		Workers:     c.Workers,
		Progress:    s.Progress,
		OnBad:       featurize.OnBadExample(c.OnBadExample),
		DataColumns: c.DataColumns(),
	}
	if job, err = t.Targets(c, s.Backend, st, job); err != nil {
		return Scored{}, err
	}
	if err := featurize.RequireRows("targets", c.Targets, job.NumTargets); err != nil {
		return Scored{}, err
	}
	path, err := score.ScoreExperiment(ctx, job)
	if err != nil {
		return Scored{}, err
	}
	columns, describe, err := t.Describe(c.Targets, job.DataColumns)
	if err != nil {
		return Scored{}, err
	}
	if err := store.WriteRowNames(st.TargetNamesPath(c.Exp), columns, job.NumTargets, describe); err != nil {
		return Scored{}, err
	}
	return Scored{Path: path, NumTargets: job.NumTargets, Describe: describe}, nil
}

// StoreProjector returns the store's projection, which target features
// must share with the train features; a config that sets a different one is
// an error rather than silently ignored.
func StoreProjector(st *store.Store, c config.Config) (featurize.ProjectorSpec, error) {
	want := st.Meta
	if c.Set["projector.type"] {
		want.Projector = c.Projector.Type
	}
	if c.Set["projector.seed"] {
		want.Seed = c.Projector.Seed
	}
	if c.Set["projector.dim"] && want.Projector != string(projection.None) {
		want.K = c.Projector.Dim
	}
	if c.Set["projector.s"] && want.Projector == string(projection.SJLT) {
		want.S = c.Projector.S
	}
	if c.Set["features_dtype"] {
		want.FeaturesDType = c.FeaturesDType
	}
	if err := st.Check(want); err != nil {
		return featurize.ProjectorSpec{}, err
	}
	return featurize.ProjectorSpec{Kind: projection.Kind(st.Meta.Projector), Dim: st.Meta.K, Seed: st.Meta.Seed, S: st.Meta.S}, nil
}

// projectorSpec is the projection a config asks for.
func projectorSpec(c config.Config) featurize.ProjectorSpec {
	return featurize.ProjectorSpec{Kind: projection.Kind(c.Projector.Type), Dim: c.Projector.Dim, Seed: c.Projector.Seed, S: c.Projector.S}
}

// withWorkers returns c with workers 0 (every core) resolved, as the tasks
// expect it.
func withWorkers(c config.Config) config.Config {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	return c
}

// absPath makes a path recorded in the store independent of the working
// directory; if that fails the path is kept as given.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
