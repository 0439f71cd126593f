// Package ldseval runs `trak eval lds`: it measures how well a store's
// scores predict what retraining does, as the linear datamodeling score
// (internal/lds) of one experiment. It trains the subset models (or finds
// them trained, internal/subsetmodels), evaluates each on the
// experiment's targets, and writes the per-target scores as TSV and a
// histogram as PNG beside the store's scores.
package ldseval

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/lds"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/subsetmodels"
	"github.com/trak-dev/trak/internal/tasks"
)

// Options configure a run.
type Options struct {
	Config   config.Config
	Backend  backend.Backend // runs the models of tasks that have one
	Progress progress.Func
	// Shard restricts training to a range of the subsets (the zero Shard
	// is all of them); the LDS is computed only once every subset model
	// exists.
	Shard featurize.Shard
}

// Report is what a run did and found.
type Report struct {
	Dir             string // the subset models' directory
	Subsets         int
	ModelsPerSubset int
	Trained         int // subset models this run trained
	// Warnings are the trainer's, one per suspect subset model this run
	// trained (a CLIP model whose loss never left chance).
	Warnings []string
	Missing  int // models not trained yet (other shards); no LDS when > 0
	Result   lds.Result
	TSV      string // per-target LDS
	PNG      string // histogram
}

// Models is the number of subset models: Subsets × ModelsPerSubset.
func (r Report) Models() int { return r.Subsets * r.ModelsPerSubset }

// Run trains what is missing of the subset models and, once all exist,
// computes the LDS of experiment opt.Config.Exp's scores.
func Run(ctx context.Context, opt Options) (Report, error) {
	c := opt.Config
	st, err := store.Open(c.SaveDir)
	if err != nil {
		return Report{}, err
	}
	exps, err := st.Experiments()
	if err != nil {
		return Report{}, err
	}
	exp, ok := exps[c.Exp]
	if !ok || !exp.Scored {
		return Report{}, fmt.Errorf("experiment %q has no scores in %s: run `trak score --exp %s` first", c.Exp, st.Dir, c.Exp)
	}
	if _, err := st.CheckScores(c.Exp, exp); err != nil {
		return Report{}, err
	}
	scores, err := score.OpenScores(st, c.Exp, exp)
	if err != nil {
		return Report{}, err
	}
	defer scores.Close()
	t, err := tasks.Lookup(st.Meta.Task)
	if err != nil {
		return Report{}, fmt.Errorf("store %s: %w", st.Dir, err)
	}
	tr, settings, err := t.SubsetTrainer(c, opt.Backend, st, exp)
	if err != nil {
		return Report{}, err
	}
	dirPath := c.LDS.Dir
	if dirPath == "" {
		dirPath = filepath.Join(st.Dir, "lds")
	}
	dir, err := subsetmodels.Open(dirPath, settings)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Dir: dir.Path, Subsets: len(dir.Subsets()), ModelsPerSubset: dir.ModelsPerSubset()}
	if rep.Trained, rep.Warnings, err = dir.Train(ctx, tr, opt.Shard, opt.Progress); err != nil {
		return rep, err
	}
	if rep.Missing = len(dir.Missing(tr, 0, rep.Subsets)); rep.Missing > 0 {
		return rep, nil
	}
	outputs, err := dir.Outputs(ctx, tr, exp.TargetsFingerprint, exp.NumTargets, opt.Progress)
	if err != nil {
		return rep, err
	}
	if rep.Result, err = lds.Compute(scores.Float32s(), st.Meta.TrainSize, exp.NumTargets, dir.Subsets(), outputs); err != nil {
		return rep, err
	}
	names := targetNames(t, exp, st.Meta.DataColumns)
	rep.TSV, rep.PNG, err = write(st, c.Exp, rep.Result, names)
	return rep, err
}

// targetNames describes each target in one field, or returns nil when the
// targets cannot be read (the TSV then has indices only).
func targetNames(t tasks.Task, exp store.Experiment, cols map[string]string) []string {
	_, describe, err := t.Describe(exp.Targets, exp.TargetColumns(cols))
	if err != nil {
		return nil
	}
	names := make([]string, exp.NumTargets)
	for i := range names {
		names[i] = strings.Join(describe(i), " ")
	}
	return names
}

// write saves the per-target TSV and the PNG histogram under the store's
// eval folder and returns their paths.
func write(st *store.Store, exp string, r lds.Result, names []string) (tsvPath, pngPath string, err error) {
	dir := filepath.Join(st.Dir, "eval")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	var tsv, png bytes.Buffer
	if err := lds.WriteTSV(&tsv, r, names); err != nil {
		return "", "", err
	}
	if err := lds.PlotPNG(&png, r, lds.PlotOptions{}); err != nil {
		return "", "", err
	}
	tsvPath, pngPath = filepath.Join(dir, "lds_"+exp+".tsv"), filepath.Join(dir, "lds_"+exp+".png")
	if err := atomicfile.WriteFile(tsvPath, tsv.Bytes(), 0o644); err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteFile(pngPath, png.Bytes(), 0o644); err != nil {
		return "", "", err
	}
	return tsvPath, pngPath, nil
}
