package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/clipfeat"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/shapes"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/train"
)

// CLIPOptions configure the CLIP demo.
type CLIPOptions struct {
	Dir          string
	Train        int // train pairs
	Targets      int // target pairs
	Checkpoints  int
	Epochs       int
	K            int
	Workers      int
	Seed         uint64
	Version      string
	Progress     score.ProgressFunc
	LogProgress  func(desc string) func(int) func(int)
	NoisyCaption float64
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
}

// RunCLIP generates shape data, trains checkpoints, attributes held-out
// targets and reports.
func RunCLIP(ctx context.Context, opt CLIPOptions, w io.Writer) (CLIPResult, error) {
	start := time.Now()
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return CLIPResult{}, err
	}
	if abs, err := filepath.Abs(opt.Dir); err == nil {
		opt.Dir = abs
	}
	trainCSV, err := WriteShapes(filepath.Join(opt.Dir, "train"), opt.Train, opt.Seed)
	if err != nil {
		return CLIPResult{}, err
	}
	targetCSV, err := shapes.WriteDataset(filepath.Join(opt.Dir, "targets"), shapes.Options{N: opt.Targets, Size: 64, Seed: opt.Seed + 1000}, "")
	if err != nil {
		return CLIPResult{}, err
	}
	fmt.Fprintf(w, "data: %d train and %d target image–caption pairs → %s\n", opt.Train, opt.Targets, opt.Dir)
	cfg := CLIPConfig()
	nw := max(opt.Workers, 1)
	setup := clipfeat.Setup{ModelConfig: &cfg, MaxPixels: 1 << 24, Workers: nw, SimBatch: 100}
	trainSpec, targetSpec := dataset.Spec{Path: trainCSV}, dataset.Spec{Path: targetCSV}
	data, err := setup.OpenData(trainSpec, cfg)
	if err != nil {
		return CLIPResult{}, err
	}
	storeDir := filepath.Join(opt.Dir, "store")
	if err := os.RemoveAll(storeDir); err != nil {
		return CLIPResult{}, err
	}
	spec := featurize.ProjectorSpec{Kind: projection.Rademacher, Dim: opt.K}
	var ids []int
	for m := range opt.Checkpoints {
		model, err := clip.New(cpu.New(nw), cfg, train.InitWeights(cfg, opt.Seed+uint64(m)))
		if err != nil {
			return CLIPResult{}, err
		}
		var last float64
		topt := train.Options{Epochs: opt.Epochs, BatchSize: 32, LR: 2e-3, WeightDecay: 0.1, Warmup: 5, Seed: opt.Seed + uint64(m)}
		step := func(int) {}
		if opt.LogProgress != nil {
			step = opt.LogProgress(fmt.Sprintf("train model %d", m))(opt.Epochs * (opt.Train / topt.BatchSize))
		}
		if err := train.Train(ctx, model, opt.Train, data.LoadAll, topt, func(s train.Step) { last = s.Loss; step(1) }); err != nil {
			return CLIPResult{}, err
		}
		ckpt := filepath.Join(opt.Dir, fmt.Sprintf("ckpt%d.safetensors", m))
		if err := train.Save(model, ckpt); err != nil {
			return CLIPResult{}, err
		}
		fmt.Fprintf(w, "checkpoint %d: trained %d epochs, last loss %.3f (chance %.3f)\n", m, opt.Epochs, last, logf(32))
		job := featurize.TrainJob{SaveDir: storeDir, ModelID: m, Checkpoint: ckpt, Task: "clip", DataPath: trainCSV,
			Projector: spec, FeaturesDType: "float32", BatchSize: 16, Workers: nw, ToolVersion: opt.Version}
		if opt.LogProgress != nil {
			job.Progress = opt.LogProgress(fmt.Sprintf("featurize model %d", m))
		}
		s := setup
		s.Data = trainSpec
		if job, err = s.TrainJob(job, false, opt.LogProgress); err != nil {
			return CLIPResult{}, err
		}
		if _, err := featurize.Train(ctx, job); err != nil {
			return CLIPResult{}, err
		}
		ids = append(ids, m)
	}
	st, err := store.Open(storeDir)
	if err != nil {
		return CLIPResult{}, err
	}
	for _, m := range ids {
		if _, _, err := score.FinalizeModel(ctx, st, m, 0.01, opt.Progress); err != nil {
			return CLIPResult{}, err
		}
	}
	tds, err := dataset.Open(targetSpec)
	if err != nil {
		return CLIPResult{}, err
	}
	path, err := score.ScoreExperiment(ctx, score.ExperimentJob{
		Store: st, Exp: "targets", Targets: targetCSV, Fingerprint: tds.Fingerprint(), NumTargets: tds.Len(), ModelIDs: ids,
		Load: func(id int, ckpt string) (featurize.Examples, error) {
			return setup.TargetExamples(st, id, ckpt, tds)
		},
		Projector: spec, BatchSize: 16, Workers: nw, Progress: opt.Progress,
	})
	if err != nil {
		return CLIPResult{}, err
	}
	f, err := npy.Open(path, npy.ReadOnly)
	if err != nil {
		return CLIPResult{}, err
	}
	defer f.Close()
	res := clipSanity(f.Float32s(), data.DS, tds, opt.Seed)
	res.ScoresPath = path
	for j := range min(3, tds.Len()) {
		_, tc := tds.Describe(j)
		fmt.Fprintf(w, "\ntarget %d: %q\n  proponents:\n", j, tc)
		for _, e := range score.Top(f.Float32s(), opt.Train, tds.Len(), j, 4, false) {
			_, c := data.DS.Describe(e.Row)
			fmt.Fprintf(w, "    %+.3g  #%d %q\n", e.Score, e.Row, c)
		}
		fmt.Fprintf(w, "  opponents:\n")
		for _, e := range score.Top(f.Float32s(), opt.Train, tds.Len(), j, 3, true) {
			_, c := data.DS.Describe(e.Row)
			fmt.Fprintf(w, "    %+.3g  #%d %q\n", e.Score, e.Row, c)
		}
	}
	fmt.Fprintf(w, "\ntop-10 proponents showing the target's shape:  %.1f%% (random train examples %.1f%%, chance %.1f%%)\n", 100*res.ShapeTop, 100*res.ShapeRandom, 100*res.ShapeChance)
	fmt.Fprintf(w, "top-10 proponents showing the target's colour: %.1f%% (random train examples %.1f%%, chance %.1f%%)\n", 100*res.ColorTop, 100*res.ColorRandom, 100*res.ColorChance)
	rep, err := buildReport(f.Float32s(), data.DS, tds, 6, 5, 3)
	if err != nil {
		return CLIPResult{}, err
	}
	rep.Title = fmt.Sprintf("TRAK on %d shape pairs, %d CLIP checkpoints, k = %d", opt.Train, opt.Checkpoints, opt.K)
	rep.Summary = []string{
		fmt.Sprintf("top-10 proponents showing the target's shape: %.1f%% (random train pairs %.1f%%, chance %.1f%%)", 100*res.ShapeTop, 100*res.ShapeRandom, 100*res.ShapeChance),
		fmt.Sprintf("top-10 proponents showing the target's colour: %.1f%% (random train pairs %.1f%%, chance %.1f%%)", 100*res.ColorTop, 100*res.ColorRandom, 100*res.ColorChance),
		fmt.Sprintf("scores: %s", path),
	}
	res.HTML, res.PNG = filepath.Join(opt.Dir, "report.html"), filepath.Join(opt.Dir, "report.png")
	if err := rep.WriteHTML(res.HTML); err != nil {
		return CLIPResult{}, err
	}
	if err := rep.WritePNG(res.PNG); err != nil {
		return CLIPResult{}, err
	}
	res.Elapsed = time.Since(start)
	fmt.Fprintf(w, "scores: %s\nreport: %s and %s\ntotal time %s\n", path, res.HTML, res.PNG, res.Elapsed.Round(time.Millisecond))
	return res, nil
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

func logf(n int) float64 { return math.Log(float64(n)) }
