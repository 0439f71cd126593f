package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/shapes"
	cliptask "github.com/trak-dev/trak/internal/tasks/clip"
	"github.com/trak-dev/trak/internal/train"
)

// CLIPOptions configure the CLIP demo.
type CLIPOptions struct {
	Dir         string
	Train       int // train pairs
	Targets     int // target pairs
	Checkpoints int
	Epochs      int
	K           int
	Workers     int
	Seed        uint64
	Version     string
	Progress    progress.Func
	// Backend trains and runs the models; the caller opens it (one place
	// chooses the device).
	Backend      backend.Backend
	NoisyCaption float64
	// Warn receives the warning about a checkpoint that did not learn
	// (stderr, so that it stands out from the narrative); nil: the
	// narrative's writer.
	Warn io.Writer
}

// CLIPDefaults are sized for a few minutes on a 2-core CPU.
var CLIPDefaults = CLIPOptions{Dir: "trak-demo", Train: 480, Targets: 24, Checkpoints: 3, Epochs: 8, K: 256, Seed: 1, NoisyCaption: 0.05}

// WriteShapes writes n of the demo's train pairs (PNG images and a CSV)
// into dir and returns the CSV's path.
func WriteShapes(dir string, n int, seed uint64) (string, error) {
	return shapes.WriteDataset(dir, shapes.Options{N: n, Size: 64, Seed: seed, NoisyShare: CLIPDefaults.NoisyCaption}, "")
}

// CLIPConfig is the demo's model: a small ViT CLIP with the real vocabulary.
func CLIPConfig() clip.Config {
	c, _ := clip.Preset("small")
	return c
}

// CLIPResult holds the demo's sanity figures: the share of each target's
// top-10 proponents that show its shape (its colour), for TRAK's scores,
// for random train examples, and by chance.
type CLIPResult struct {
	ShapeTop, ShapeRandom, ShapeChance float64
	ColorTop, ColorRandom, ColorChance float64
	ScoresPath                         string
	HTML, PNG                          string // the report
	Elapsed                            time.Duration
	// EpochLoss is each checkpoint's mean loss over its last epoch, and
	// NotLearned the checkpoints whose loss is not clearly below chance
	// (train.CheckLearned).
	EpochLoss  []float64
	NotLearned []int
}

// RunCLIP runs the CLIP demo, writing a narrative to w: captioned shape
// images, small CLIP checkpoints trained on them from different seeds, and
// held-out targets; it writes report.html and report.png under opt.Dir.
func RunCLIP(ctx context.Context, opt CLIPOptions, w io.Writer) (CLIPResult, error) {
	if opt.Backend == nil {
		return CLIPResult{}, errors.New("demo: no compute backend was given to train the models on")
	}
	sc := &clipScenario{opt: opt, workers: max(opt.Workers, 1), cfg: CLIPConfig()}
	err := run(ctx, flow{Dir: opt.Dir, Checkpoints: opt.Checkpoints, Progress: opt.Progress, Version: opt.Version, Backend: opt.Backend}, sc, w)
	return sc.res, err
}

// clipScenario is the CLIP demo's part of the flow.
type clipScenario struct {
	opt     CLIPOptions
	workers int
	cfg     clip.Config
	dir     string
	targets string         // the targets' CSV
	data    *cliptask.Data // the train set, for training
	res     CLIPResult
}

// demoMaxPixels bounds the demo's own images, which are tiny.
const demoMaxPixels = 1 << 24

func (sc *clipScenario) writeData(dir string, w io.Writer) (string, string, error) {
	opt := sc.opt
	sc.dir = dir
	trainCSV, err := WriteShapes(filepath.Join(dir, "train"), opt.Train, opt.Seed)
	if err != nil {
		return "", "", err
	}
	targetCSV, err := shapes.WriteDataset(filepath.Join(dir, "targets"), shapes.Options{N: opt.Targets, Size: 64, Seed: opt.Seed + 1000}, "")
	if err != nil {
		return "", "", err
	}
	fmt.Fprintf(w, "data: %d train and %d target image–caption pairs → %s\n", opt.Train, opt.Targets, dir)
	setup := cliptask.Setup{MaxPixels: demoMaxPixels, Workers: sc.workers}
	if sc.data, err = setup.OpenData(dataset.Spec{Path: trainCSV}, sc.cfg); err != nil {
		return "", "", err
	}
	sc.data.CacheInputs(cliptask.TrainInputCache) // every checkpoint trains on the same rows
	sc.targets = targetCSV
	return trainCSV, targetCSV, nil
}

// trainOptions are the settings checkpoint m trains with: train.Recipe,
// its 15 warm-up steps (one epoch at the default 480 pairs) capped at one
// epoch, so that a smaller --train keeps most of its few steps at the peak
// learning rate to leave the collapse described in package train.
func (sc *clipScenario) trainOptions(m int) train.Options {
	o := train.Recipe()
	o.Epochs, o.Seed = sc.opt.Epochs, sc.opt.Seed+uint64(m)
	o.Warmup = max(1, min(o.Warmup, sc.opt.Train/o.BatchSize))
	return o
}

func (sc *clipScenario) trainCheckpoint(ctx context.Context, dir string, m int, w io.Writer) (string, error) {
	opt := sc.opt
	topt := sc.trainOptions(m)
	model, err := clip.New(opt.Backend, sc.cfg, train.InitWeights(sc.cfg, topt.Seed))
	if err != nil {
		return "", fmt.Errorf("checkpoint %d: %w", m, err)
	}
	var losses train.EpochLosses
	step := opt.Progress.Start(fmt.Sprintf("train model %d", m), "steps", opt.Epochs*(opt.Train/topt.BatchSize))
	if err := train.Train(ctx, model, opt.Train, sc.data.LoadAll, topt, func(s train.Step) { losses.Add(s); step(1) }); err != nil {
		return "", fmt.Errorf("training checkpoint %d: %w", m, err)
	}
	ckpt := filepath.Join(dir, fmt.Sprintf("ckpt%d.safetensors", m))
	if err := train.Save(model, ckpt); err != nil {
		return "", fmt.Errorf("saving checkpoint %d: %w", m, err)
	}
	last := losses.Last()
	fmt.Fprintf(w, "checkpoint %d: trained %d epochs, mean loss of the last epoch %.3f (chance %.3f)\n", m, opt.Epochs, last, train.ChanceLoss(topt.BatchSize))
	sc.res.EpochLoss = append(sc.res.EpochLoss, last)
	if err := train.CheckLearned(fmt.Sprintf("checkpoint %d", m), last, topt.BatchSize); err != nil {
		sc.res.NotLearned = append(sc.res.NotLearned, m)
		warnNotLearned(sc.warnWriter(w), err)
	}
	return ckpt, nil
}

// warnWriter is where warnings go: opt.Warn, or the narrative w.
func (sc *clipScenario) warnWriter(w io.Writer) io.Writer {
	if sc.opt.Warn != nil {
		return sc.opt.Warn
	}
	return w
}

// warnNotLearned writes the loud warning about a checkpoint that did not
// learn, with what to do about it.
func warnNotLearned(w io.Writer, err error) {
	fmt.Fprintf(w, "\nWARNING: %v.\n"+
		"  TRAK scores over a model that has not learned are noise, and the sanity figures below will show it.\n"+
		"  Fix: rerun with more --epochs (e.g. --epochs 12) or another --seed; with --train below 480, also more --train.\n\n", err)
}

func (sc *clipScenario) config(storeDir, trainCSV, targetCSV string) config.Config {
	return config.Config{
		SaveDir: storeDir, Task: "clip", TrainData: trainCSV, Targets: targetCSV, Exp: "targets",
		ModelConfig: "small", SimBatchSize: 100, MaxPixels: demoMaxPixels, ImageMode: cliptask.ImageModeAuto,
		ImageColumn: dataset.DefaultImageColumn, CaptionColumn: dataset.DefaultCaptionColumn,
		Projector: config.Projector{Type: string(projection.Rademacher), Dim: sc.opt.K},
		Lambda:    0.01, FeaturesDType: "float32", OnBadExample: "fail", BatchSize: 16, Workers: sc.workers,
	}
}

func (sc *clipScenario) report(scores []float32, path string, start time.Time, w io.Writer) error {
	opt, trainDS := sc.opt, sc.data.DS
	tds, err := dataset.Open(dataset.Spec{Path: sc.targets})
	if err != nil {
		return err
	}
	res := clipSanity(scores, trainDS, tds, opt.Seed)
	res.ScoresPath = path
	res.EpochLoss, res.NotLearned = sc.res.EpochLoss, sc.res.NotLearned
	for j := range min(3, tds.Len()) {
		_, tc := tds.Describe(j)
		fmt.Fprintf(w, "\ntarget %d: %q\n  proponents:\n", j, tc)
		for _, e := range score.Top(scores, opt.Train, tds.Len(), j, 4, false) {
			_, c := trainDS.Describe(e.Row)
			fmt.Fprintf(w, "    %+.3g  #%d %q\n", e.Score, e.Row, c)
		}
		fmt.Fprintf(w, "  opponents:\n")
		for _, e := range score.Top(scores, opt.Train, tds.Len(), j, 3, true) {
			_, c := trainDS.Describe(e.Row)
			fmt.Fprintf(w, "    %+.3g  #%d %q\n", e.Score, e.Row, c)
		}
	}
	fmt.Fprintf(w, "\ntop-10 proponents showing the target's shape:  %.1f%% (random train examples %.1f%%, chance %.1f%%)\n", 100*res.ShapeTop, 100*res.ShapeRandom, 100*res.ShapeChance)
	fmt.Fprintf(w, "top-10 proponents showing the target's colour: %.1f%% (random train examples %.1f%%, chance %.1f%%)\n", 100*res.ColorTop, 100*res.ColorRandom, 100*res.ColorChance)
	if len(res.NotLearned) > 0 {
		fmt.Fprintf(sc.warnWriter(w), "\nWARNING: checkpoints %v of %d did not learn (see above): these figures average in their noise.\n", res.NotLearned, opt.Checkpoints)
	}
	rep, err := buildReport(scores, trainDS, tds, 6, 5, 3)
	if err != nil {
		return err
	}
	rep.Title = fmt.Sprintf("TRAK on %d shape pairs, %d CLIP checkpoints, k = %d", opt.Train, opt.Checkpoints, opt.K)
	rep.Summary = []string{
		fmt.Sprintf("top-10 proponents showing the target's shape: %.1f%% (random train pairs %.1f%%, chance %.1f%%)", 100*res.ShapeTop, 100*res.ShapeRandom, 100*res.ShapeChance),
		fmt.Sprintf("top-10 proponents showing the target's colour: %.1f%% (random train pairs %.1f%%, chance %.1f%%)", 100*res.ColorTop, 100*res.ColorRandom, 100*res.ColorChance),
		fmt.Sprintf("scores: %s", path),
	}
	if len(res.NotLearned) > 0 {
		rep.Summary = append(rep.Summary, fmt.Sprintf("WARNING: checkpoints %v did not learn (final-epoch mean loss not below %.0f%% of chance); their scores are noise", res.NotLearned, 100*train.ChanceFraction))
	}
	res.HTML, res.PNG = filepath.Join(sc.dir, "report.html"), filepath.Join(sc.dir, "report.png")
	if err := rep.WriteHTML(res.HTML); err != nil {
		return err
	}
	if err := rep.WritePNG(res.PNG); err != nil {
		return err
	}
	res.Elapsed = time.Since(start)
	fmt.Fprintf(w, "scores: %s\nreport: %s and %s\ntotal time %s\n", path, res.HTML, res.PNG, res.Elapsed.Round(time.Millisecond))
	sc.res = res
	return nil
}

// clipSanity compares the attributes of each target's top-10 proponents
// with the target's, against random train examples and chance.
func clipSanity(scores []float32, trainDS, targetDS *dataset.Dataset, seed uint64) CLIPResult {
	attrs := func(ds *dataset.Dataset, i int) shapes.Attrs {
		_, c := ds.Describe(i)
		a, _ := shapes.ParseCaption(c)
		return a
	}
	n, t := trainDS.Len(), targetDS.Len()
	shapeFreq, colorFreq := map[string]float64{}, map[string]float64{}
	for i := range n {
		a := attrs(trainDS, i)
		shapeFreq[a.Shape] += 1 / float64(n)
		colorFreq[a.Color] += 1 / float64(n)
	}
	rng := rand.New(rand.NewPCG(seed, 77))
	var r CLIPResult
	count := 0.0
	for j := range t {
		ta := attrs(targetDS, j)
		r.ShapeChance += shapeFreq[ta.Shape] / float64(t)
		r.ColorChance += colorFreq[ta.Color] / float64(t)
		for _, e := range score.Top(scores, n, t, j, 10, false) {
			a, ra := attrs(trainDS, e.Row), attrs(trainDS, rng.IntN(n))
			r.ShapeTop += b2f(a.Shape == ta.Shape)
			r.ColorTop += b2f(a.Color == ta.Color)
			r.ShapeRandom += b2f(ra.Shape == ta.Shape)
			r.ColorRandom += b2f(ra.Color == ta.Color)
			count++
		}
	}
	r.ShapeTop /= count
	r.ColorTop /= count
	r.ShapeRandom /= count
	r.ColorRandom /= count
	return r
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
