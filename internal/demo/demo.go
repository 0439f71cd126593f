// Package demo runs the whole TRAK pipeline on data it makes itself, so that
// a new user sees a real attribution result without downloading anything.
//
// The logistic-regression demo generates Gaussian classes with a few
// deliberately flipped labels, trains several checkpoints on bootstrap
// resamples, then featurizes, finalizes and scores held-out targets through
// the same code the commands use. A sanity check compares the top-ranked
// train examples with what attribution should find: proponents of a target
// mostly share its label, and mislabelled examples of that class show up
// among its opponents.
package demo

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/logreg"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
)

// Options configure the demo.
type Options struct {
	Dir         string // working directory for data, checkpoints and the store
	Train       int    // train examples
	Targets     int    // target examples
	Features    int
	Classes     int
	Checkpoints int
	K           int // projection dimension
	Workers     int
	Seed        uint64
	Version     string
	Progress    score.ProgressFunc
}

// Defaults are sized to finish in seconds on a laptop.
var Defaults = Options{Dir: "trak-demo", Train: 2000, Targets: 100, Features: 32, Classes: 4, Checkpoints: 3, K: 64, Seed: 1}

// Result holds the demo's sanity figures.
type Result struct {
	SameLabelTop, SameLabelRandom, Chance float64 // share of top-10 proponents sharing the target's label
	FlippedOpp, FlippedRandom             float64 // share of top-10 opponents that are mislabelled
	ScoresPath                            string
	Elapsed                               time.Duration
}

// Run executes the demo, writing a narrative to w.
func Run(ctx context.Context, opt Options, w io.Writer) (Result, error) {
	start := time.Now()
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return Result{}, err
	}
	// The store records paths; absolute ones keep it usable from anywhere.
	if abs, err := filepath.Abs(opt.Dir); err == nil {
		opt.Dir = abs
	}
	// One draw for train and targets, so both share the class centres; the
	// targets keep their clean labels.
	all := logreg.Generate(opt.Train+opt.Targets, opt.Features, opt.Classes, 0.05, opt.Seed)
	train := &logreg.Data{N: opt.Train, D: all.D, X: all.X[:opt.Train*all.D], Y: all.Y[:opt.Train], Clean: all.Clean[:opt.Train]}
	targets := &logreg.Data{N: opt.Targets, D: all.D, X: all.X[opt.Train*all.D:], Y: all.Clean[opt.Train:], Clean: all.Clean[opt.Train:]}
	trainPath := filepath.Join(opt.Dir, "train.csv")
	targetsPath := filepath.Join(opt.Dir, "targets.csv")
	if err := logreg.WriteCSV(trainPath, train); err != nil {
		return Result{}, err
	}
	if err := logreg.WriteCSV(targetsPath, targets); err != nil {
		return Result{}, err
	}
	flipped := 0
	for i := range train.N {
		if train.Y[i] != train.Clean[i] {
			flipped++
		}
	}
	fmt.Fprintf(w, "data: %d train examples (%d with flipped labels), %d targets, %d classes, %d features → %s\n",
		train.N, flipped, targets.N, opt.Classes, opt.Features, opt.Dir)
	trainData, err := logreg.ReadCSV(trainPath)
	if err != nil {
		return Result{}, err
	}
	targetData, err := logreg.ReadCSV(targetsPath)
	if err != nil {
		return Result{}, err
	}

	storeDir := filepath.Join(opt.Dir, "store")
	if err := os.RemoveAll(storeDir); err != nil {
		return Result{}, err
	}
	spec := featurize.ProjectorSpec{Kind: projection.Rademacher, Dim: opt.K}
	var ids []int
	for m := range opt.Checkpoints {
		model := logreg.Train(train, logreg.TrainOptions{Classes: opt.Classes, Epochs: 300, LR: 0.5, L2: 1e-3, Seed: opt.Seed + uint64(m), Bootstrap: true})
		ckpt := filepath.Join(opt.Dir, fmt.Sprintf("ckpt%d.npy", m))
		if err := logreg.SaveCheckpoint(ckpt, model); err != nil {
			return Result{}, err
		}
		loaded, err := logreg.LoadCheckpoint(ckpt)
		if err != nil {
			return Result{}, err
		}
		fmt.Fprintf(w, "checkpoint %d: train accuracy %.1f%%\n", m, 100*accuracy(loaded, train))
		ex, err := loaded.Examples(trainData)
		if err != nil {
			return Result{}, err
		}
		_, err = featurize.Train(ctx, featurize.TrainJob{
			SaveDir: storeDir, ModelID: m, Checkpoint: ckpt, Examples: ex,
			Task: "logreg", ConfigHash: loaded.ConfigHash(), DataFingerprint: trainData.Fingerprint, DataPath: trainPath,
			Projector: spec, FeaturesDType: "float32", BatchSize: 64, Workers: opt.Workers,
			Progress:    progressAdapter(opt.Progress, fmt.Sprintf("featurize model %d", m)),
			ToolVersion: opt.Version,
		})
		if err != nil {
			return Result{}, err
		}
		ids = append(ids, m)
	}
	st, err := store.Open(storeDir)
	if err != nil {
		return Result{}, err
	}
	for _, m := range ids {
		if _, _, err := score.FinalizeModel(ctx, st, m, 0, opt.Progress); err != nil {
			return Result{}, err
		}
	}
	path, err := score.ScoreExperiment(ctx, score.ExperimentJob{
		Store: st, Exp: "targets", Targets: targetsPath, Fingerprint: targetData.Fingerprint, NumTargets: targetData.N, ModelIDs: ids,
		Load: func(_ int, ckpt string) (featurize.Examples, error) {
			m, err := logreg.LoadCheckpoint(ckpt)
			if err != nil {
				return nil, err
			}
			return m.Examples(targetData)
		},
		Projector: spec, BatchSize: 64, Workers: opt.Workers, Progress: opt.Progress,
	})
	if err != nil {
		return Result{}, err
	}
	f, err := npy.Open(path, npy.ReadOnly)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	res := sanity(f.Float32s(), train, targetData, opt)
	res.ScoresPath = path
	for j := range min(3, targetData.N) {
		fmt.Fprintf(w, "\ntarget %d (label %d)\n  proponents:", j, targetData.Y[j])
		for _, e := range score.Top(f.Float32s(), train.N, targetData.N, j, 5, false) {
			fmt.Fprintf(w, "  #%d (label %d) %+.3g", e.Row, train.Y[e.Row], e.Score)
		}
		fmt.Fprintf(w, "\n  opponents: ")
		for _, e := range score.Top(f.Float32s(), train.N, targetData.N, j, 5, true) {
			mark := ""
			if train.Y[e.Row] != train.Clean[e.Row] {
				mark = "*"
			}
			fmt.Fprintf(w, "  #%d (label %d%s) %+.3g", e.Row, train.Y[e.Row], mark, e.Score)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n(* = a train example whose label was flipped)\n")
	fmt.Fprintf(w, "top-10 proponents sharing the target's label: %.1f%% (random train examples: %.1f%%, chance %.1f%%)\n",
		100*res.SameLabelTop, 100*res.SameLabelRandom, 100*res.Chance)
	fmt.Fprintf(w, "top-10 opponents with a flipped label:        %.1f%% (random train examples: %.1f%%)\n",
		100*res.FlippedOpp, 100*res.FlippedRandom)
	res.Elapsed = time.Since(start)
	fmt.Fprintf(w, "scores: %s (%d × %d float32)\ntotal time %s\n", path, train.N, targetData.N, res.Elapsed.Round(time.Millisecond))
	return res, nil
}

func sanity(scores []float32, train, targets *logreg.Data, opt Options) Result {
	rng := rand.New(rand.NewPCG(opt.Seed, 99))
	var res Result
	var same, sameRand, flip, flipRand, count float64
	for j := range targets.N {
		for _, e := range score.Top(scores, train.N, targets.N, j, 10, false) {
			if train.Y[e.Row] == targets.Y[j] {
				same++
			}
			if r := rng.IntN(train.N); train.Y[r] == targets.Y[j] {
				sameRand++
			}
			count++
		}
		for _, e := range score.Top(scores, train.N, targets.N, j, 10, true) {
			if train.Y[e.Row] != train.Clean[e.Row] {
				flip++
			}
			if r := rng.IntN(train.N); train.Y[r] != train.Clean[r] {
				flipRand++
			}
		}
	}
	res.SameLabelTop, res.SameLabelRandom = same/count, sameRand/count
	res.FlippedOpp, res.FlippedRandom = flip/count, flipRand/count
	res.Chance = 1 / float64(opt.Classes)
	return res
}

func accuracy(m *logreg.Model, d *logreg.Data) float64 {
	z := make([]float64, m.C)
	right := 0
	for i := range d.N {
		m.Logits(d.Row(i), z)
		best := 0
		for c := range z {
			if z[c] > z[best] {
				best = c
			}
		}
		if best == d.Y[i] {
			right++
		}
	}
	return float64(right) / float64(d.N)
}

func progressAdapter(p score.ProgressFunc, desc string) func(int) func(int) {
	if p == nil {
		return nil
	}
	return func(total int) func(int) { return p(desc, total) }
}
