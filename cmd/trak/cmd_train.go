package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/clipckpt"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/imageprep"
	cliptask "github.com/trak-dev/trak/internal/tasks/clip"
	"github.com/trak-dev/trak/internal/train"
)

// TrainOptions is what `trak train` runs with.
type TrainOptions struct {
	IO          *IOStreams
	Data        string
	ModelConfig string
	Out         string
	VocabDir    string
	Opt         train.Options
	SaveEvery   int
	Workers     int
}

func newCmdTrain(io *IOStreams, runF func(context.Context, *TrainOptions) error) *cobra.Command {
	opts := &TrainOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "train --data <path> --model-config <file|preset> --out <dir> [flags]",
		Short: "Train a small CLIP model on the CPU",
		Long: heredoc(`
			Train a CLIP model from scratch on an image–caption data set (CSV/TSV, tar
			shards or a caption folder) with the contrastive loss and a learned
			temperature, AdamW, linear warm-up and cosine decay. Meant for small models
			and demos: every example's gradient is computed exactly, on the CPU.

			Checkpoints are written as <out>/epoch_<n>.safetensors with open_clip's
			tensor names and shapes, beside <out>/open_clip_config.json in open_clip's
			hub form (model_cfg and the preprocess_cfg training used), so trak (given a
			checkpoint file or the folder) and open_clip can load them. The loss of every step goes to <out>/loss.csv and
			each epoch's mean loss to stderr. The same seed, data and worker count give
			the same checkpoints.

			The defaults (lr 2e-3, 15 warm-up steps, gradient norm clipped to 0.1) are
			the demo's recipe: without the clipping, small models on small data often
			collapse in the first steps and end at chance. When the last epoch's mean
			loss is not below 90% of chance (ln of the batch size), train warns on
			stderr: such checkpoints have not learned and TRAK over them is noise.
		`),
		Example: examples(`
			$ trak train --data shapes/train.csv --model-config configs/clip/tiny.json --out run1 --epochs 10 --seed 1
			$ trak train --data shapes/train.csv --model-config tiny --out run2 --seed 2 --save-every 5
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case opts.Data == "" || opts.Out == "" || opts.ModelConfig == "":
				return usageErrorf("--data, --model-config and --out are required")
			case opts.Opt.Epochs < 0 || opts.Opt.BatchSize < 2:
				return usageErrorf("--epochs must be ≥ 0 and --batch-size ≥ 2")
			case opts.Opt.LR <= 0 || opts.Opt.WeightDecay < 0:
				return usageErrorf("--lr must be positive and --weight-decay ≥ 0")
			case opts.Opt.ClipNorm < 0:
				return usageErrorf("--grad-clip-norm must be ≥ 0")
			}
			if opts.SaveEvery < 1 {
				opts.SaveEvery = opts.Opt.Epochs
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return trainRun(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Data, "data", "", "Training data `path`: a CSV/TSV file (filepath,title), tar shards or a caption folder")
	f.StringVar(&opts.ModelConfig, "model-config", "", "open_clip JSON config `file` or preset name")
	f.StringVar(&opts.Out, "out", "", "Output `directory` for checkpoints, config and loss curve")
	f.StringVar(&opts.VocabDir, "vocab-dir", "", "Folder with a Hugging Face vocab.json and merges.txt (default: built-in CLIP vocabulary)")
	rec := train.Recipe()
	f.IntVar(&opts.Opt.Epochs, "epochs", 10, "Passes over the data (0: save the initial weights as epoch_0.safetensors)")
	f.IntVar(&opts.Opt.BatchSize, "batch-size", rec.BatchSize, "Pairs per step (the contrastive loss compares them with each other)")
	f.Float64Var(&opts.Opt.LR, "lr", rec.LR, "Peak learning rate")
	f.Float64Var(&opts.Opt.WeightDecay, "weight-decay", rec.WeightDecay, "AdamW weight decay (matrices only)")
	f.IntVar(&opts.Opt.Warmup, "warmup", rec.Warmup, "Warm-up steps")
	f.Float64Var(&opts.Opt.ClipNorm, "grad-clip-norm", rec.ClipNorm, "Clip each step's gradient to this L2 norm over all parameters (0: no clipping)")
	f.Uint64Var(&opts.Opt.Seed, "seed", 0, "Seed of the initial weights and the batch order")
	f.IntVar(&opts.SaveEvery, "save-every", 0, "Save a checkpoint every `n` epochs (default: only at the end)")
	f.IntVar(&opts.Workers, "workers", 0, "CPU threads (0 = all cores)")
	return cmd
}

func trainRun(ctx context.Context, opts *TrainOptions) error {
	cfgp, err := clip.LoadConfigOrPreset(opts.ModelConfig)
	if err != nil {
		return err
	}
	cfg := *cfgp
	nw := opts.Workers
	if nw < 1 {
		nw = runtime.NumCPU()
	}
	b, err := openBackend(nw)
	if err != nil {
		return err
	}
	m, err := clip.New(b, cfg, train.InitWeights(cfg, opts.Opt.Seed))
	if err != nil {
		return err
	}
	setup := cliptask.Setup{VocabDir: opts.VocabDir, MaxPixels: imageprep.DefaultMaxPixels, Workers: nw}
	data, err := setup.OpenData(dataset.Spec{Path: opts.Data}, cfg)
	if err != nil {
		return err
	}
	data.CacheInputs(cliptask.TrainInputCache)
	good := data.DS.Good()
	if len(good) < opts.Opt.BatchSize {
		return fmt.Errorf("%s has %d usable pairs, fewer than --batch-size %d", opts.Data, len(good), opts.Opt.BatchSize)
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return err
	}
	if err := clipckpt.WriteHubConfig(filepath.Join(opts.Out, "open_clip_config.json"), cfg, data.Transform); err != nil {
		return err
	}
	if opts.Opt.Epochs == 0 {
		// The initial weights alone: a checkpoint of an untrained model, for
		// benchmarks and for attributions of the starting point.
		path := filepath.Join(opts.Out, "epoch_0.safetensors")
		if err := train.Save(m, path); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "saved %s (initial weights, --epochs 0)\n", path)
		return nil
	}
	load := func(ctx context.Context, idx []int) (clip.Batch, error) {
		rows := make([]int, len(idx))
		for i, j := range idx {
			rows[i] = good[j]
		}
		return data.LoadAll(ctx, rows)
	}
	var curve strings.Builder
	curve.WriteString("step,epoch,loss,lr,temperature,grad_norm\n")
	var losses train.EpochLosses
	lastEpoch := 0
	chance := train.ChanceLoss(opts.Opt.BatchSize)
	flush := func(epoch int) error {
		fmt.Fprintf(opts.IO.ErrOut, "epoch %d: mean loss %.4f (chance %.4f)\n", epoch+1, losses.Mean(epoch), chance)
		if (epoch+1)%opts.SaveEvery == 0 || epoch+1 == opts.Opt.Epochs {
			path := filepath.Join(opts.Out, fmt.Sprintf("epoch_%d.safetensors", epoch+1))
			if err := train.Save(m, path); err != nil {
				return fmt.Errorf("saving epoch %d: %w", epoch+1, err)
			}
			fmt.Fprintf(opts.IO.ErrOut, "saved %s\n", path)
		}
		return atomicfile.WriteFile(filepath.Join(opts.Out, "loss.csv"), []byte(curve.String()), 0o644)
	}
	var saveErr error
	err = train.Train(ctx, m, len(good), load, opts.Opt, func(s train.Step) {
		if s.Epoch != lastEpoch && saveErr == nil {
			saveErr = flush(lastEpoch)
			lastEpoch = s.Epoch
		}
		fmt.Fprintf(&curve, "%d,%d,%.6f,%.6g,%.4f,%.4g\n", s.Step, s.Epoch+1, s.Loss, s.LR, s.Temperature, s.GradNorm)
		losses.Add(s)
	})
	if err != nil {
		return err
	}
	if saveErr != nil {
		return saveErr
	}
	if err := flush(lastEpoch); err != nil {
		return err
	}
	if err := train.CheckLearned(fmt.Sprintf("the model of %s", opts.Out), losses.Last(), opts.Opt.BatchSize); err != nil {
		warnNotLearned(opts.IO.ErrOut, err)
	}
	return nil
}

// warnNotLearned writes train's loud warning about a run that ended at
// chance, with what to try.
func warnNotLearned(w io.Writer, err error) {
	fmt.Fprintf(w, "\nWARNING: %v.\n"+
		"  Its checkpoints have not learned: TRAK scores over them are noise.\n"+
		"  Fix: train longer (--epochs), or keep --grad-clip-norm 0.1 and --warmup of about one epoch, or try another --seed or a lower --lr.\n", err)
}
