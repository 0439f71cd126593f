package demo

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/logreg"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/score"
)

// Options configure the logistic-regression demo.
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
	Progress    progress.Func
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

// Run runs the logistic-regression demo, writing a narrative to w: Gaussian
// classes with 5% flipped labels, checkpoints trained on bootstrap
// resamples, and held-out targets with their clean labels.
func Run(ctx context.Context, opt Options, w io.Writer) (Result, error) {
	sc := &logregScenario{opt: opt}
	err := run(ctx, flow{Dir: opt.Dir, Checkpoints: opt.Checkpoints, Progress: opt.Progress, Version: opt.Version}, sc, w)
	return sc.res, err
}

// logregScenario is the logistic-regression demo's part of the flow.
type logregScenario struct {
	opt            Options
	train, targets *logreg.Data
	res            Result
}

func (sc *logregScenario) writeData(dir string, w io.Writer) (string, string, error) {
	opt := sc.opt
	// One draw for train and targets, so both share the class centres; the
	// targets keep their clean labels.
	all := logreg.Generate(opt.Train+opt.Targets, opt.Features, opt.Classes, 0.05, opt.Seed)
	train := &logreg.Data{N: opt.Train, D: all.D, X: all.X[:opt.Train*all.D], Y: all.Y[:opt.Train], Clean: all.Clean[:opt.Train]}
	targets := &logreg.Data{N: opt.Targets, D: all.D, X: all.X[opt.Train*all.D:], Y: all.Clean[opt.Train:], Clean: all.Clean[opt.Train:]}
	trainPath := filepath.Join(dir, "train.csv")
	targetsPath := filepath.Join(dir, "targets.csv")
	if err := logreg.WriteCSV(trainPath, train); err != nil {
		return "", "", err
	}
	if err := logreg.WriteCSV(targetsPath, targets); err != nil {
		return "", "", err
	}
	flipped := 0
	for i := range train.N {
		if train.Y[i] != train.Clean[i] {
			flipped++
		}
	}
	fmt.Fprintf(w, "data: %d train examples (%d with flipped labels), %d targets, %d classes, %d features → %s\n",
		train.N, flipped, targets.N, opt.Classes, opt.Features, dir)
	// The figures are computed on the files as written, which is what was
	// scored.
	var err error
	if sc.targets, err = logreg.ReadCSV(targetsPath); err != nil {
		return "", "", err
	}
	sc.train = train
	return trainPath, targetsPath, nil
}

func (sc *logregScenario) trainCheckpoint(_ context.Context, dir string, m int, w io.Writer) (string, error) {
	opt := sc.opt
	model := logreg.Train(sc.train, logreg.TrainOptions{Classes: opt.Classes, Epochs: 300, LR: 0.5, L2: 1e-3, Seed: opt.Seed + uint64(m), Bootstrap: true})
	ckpt := filepath.Join(dir, fmt.Sprintf("ckpt%d.npy", m))
	if err := logreg.SaveCheckpoint(ckpt, model); err != nil {
		return "", err
	}
	loaded, err := logreg.LoadCheckpoint(ckpt)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(w, "checkpoint %d: train accuracy %.1f%%\n", m, 100*accuracy(loaded, sc.train))
	return ckpt, nil
}

func (sc *logregScenario) config(storeDir, train, targets string) config.Config {
	return config.Config{
		SaveDir: storeDir, Task: "logreg", TrainData: train, Targets: targets, Exp: "targets",
		Projector:     config.Projector{Type: string(projection.Rademacher), Dim: sc.opt.K},
		FeaturesDType: "float32", OnBadExample: "fail", BatchSize: 64, Workers: sc.opt.Workers,
	}
}

func (sc *logregScenario) report(scores []float32, path string, start time.Time, w io.Writer) error {
	opt, train, targetData := sc.opt, sc.train, sc.targets
	res := sanity(scores, train, targetData, opt)
	res.ScoresPath = path
	for j := range min(3, targetData.N) {
		fmt.Fprintf(w, "\ntarget %d (label %d)\n  proponents:", j, targetData.Y[j])
		for _, e := range score.Top(scores, train.N, targetData.N, j, 5, false) {
			fmt.Fprintf(w, "  #%d (label %d) %+.3g", e.Row, train.Y[e.Row], e.Score)
		}
		fmt.Fprintf(w, "\n  opponents: ")
		for _, e := range score.Top(scores, train.N, targetData.N, j, 5, true) {
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
	sc.res = res
	return nil
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
