// Package demo is `trak demo`: it runs the whole TRAK pipeline on data it
// makes itself, so that a new user sees a real attribution result without
// downloading anything.
//
// Every demo follows one flow (run): write a train and a target set, train
// several checkpoints, featurize, finalize and score them through
// internal/pipeline exactly as the commands do, then print each target's
// top-ranked train examples and a sanity check of what attribution should
// find. What differs per task is a scenario: the CLIP demo (clip.go) draws
// captioned shapes and trains small CLIP models, and expects proponents to
// show the target's shape and colour; the logistic-regression demo
// (logreg.go) draws Gaussian classes with a few flipped labels, and expects
// proponents to share the target's label and flipped examples among the
// opponents.
package demo

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/pipeline"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tasks"
)

// scenario is what one task's demo brings to the shared flow.
type scenario interface {
	// writeData writes the train and target sets under dir and returns
	// their paths.
	writeData(dir string, w io.Writer) (train, targets string, err error)
	// trainCheckpoint trains checkpoint m, saves it under dir and returns
	// its path.
	trainCheckpoint(ctx context.Context, dir string, m int, w io.Writer) (string, error)
	// config is the run's configuration, for the task, of the store at
	// storeDir over the train and target sets.
	config(storeDir, train, targets string) config.Config
	// report prints the scores (train × target, from the file at path) and
	// checks them; start is when the demo started.
	report(scores []float32, path string, start time.Time, w io.Writer) error
}

// flow is what every demo is run with besides its scenario.
type flow struct {
	Dir         string // working directory for data, checkpoints and the store
	Checkpoints int
	Progress    progress.Func
	Version     string
	Backend     backend.Backend // runs the model of tasks that have one
}

// run writes the data, trains and featurizes each checkpoint, finalizes and
// scores the targets as experiment "targets", and reports. The store is
// made anew under f.Dir/store.
func run(ctx context.Context, f flow, sc scenario, w io.Writer) error {
	start := time.Now()
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	// The store records paths; absolute ones keep it usable from anywhere.
	dir := f.Dir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	trainPath, targetsPath, err := sc.writeData(dir, w)
	if err != nil {
		return err
	}
	storeDir := filepath.Join(dir, "store")
	if err := os.RemoveAll(storeDir); err != nil {
		return err
	}
	s := pipeline.Settings{Config: sc.config(storeDir, trainPath, targetsPath), Progress: f.Progress, Version: f.Version, Backend: f.Backend}
	t, err := tasks.Lookup(s.Config.Task)
	if err != nil {
		return err
	}
	var ids []int
	for m := range f.Checkpoints {
		ckpt, err := sc.trainCheckpoint(ctx, dir, m, w)
		if err != nil {
			return err
		}
		s.Config.Checkpoint, s.Config.ModelID = ckpt, m
		if _, err := pipeline.Featurize(ctx, t, s, featurize.Shard{}); err != nil {
			return err
		}
		ids = append(ids, m)
	}
	st, err := store.Open(storeDir)
	if err != nil {
		return err
	}
	if _, err := pipeline.Finalize(ctx, st, ids, s, nil); err != nil {
		return err
	}
	res, err := pipeline.Score(ctx, t, st, ids, s)
	if err != nil {
		return err
	}
	scores, err := npy.Open(res.Path, npy.ReadOnly)
	if err != nil {
		return err
	}
	defer scores.Close()
	return sc.report(scores.Float32s(), res.Path, start, w)
}
