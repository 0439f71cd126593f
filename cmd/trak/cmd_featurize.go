package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/clipfeat"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/task"
)

// FeaturizeOptions is what `trak featurize` runs with.
type FeaturizeOptions struct {
	IO     *IOStreams
	Config config.Config
	Shard  featurize.Shard
}

func newCmdFeaturize(io *IOStreams, runF func(context.Context, *FeaturizeOptions) error) *cobra.Command {
	opts := &FeaturizeOptions{IO: io}
	var shard string
	var kf *keyFlags
	cmd := &cobra.Command{
		Use:   "featurize [flags]",
		Short: "Compute the projected train-set gradients of one checkpoint",
		Long: heredoc(`
			Compute, for every train example z, the projected gradient Pᵀ∇θ f(z) of the
			model-output function at one checkpoint and its out-to-loss term Q(z), and
			store them under <save_dir>/<model_id>/.

			Run it once per checkpoint, each with its own --model-id. An interrupted run
			continues where it stopped when run again; finished rows are never
			recomputed. With --shard i/n, separate processes (or machines sharing the
			store's file system) featurize disjoint row ranges of the same checkpoint
			into the same store at the same time.
		`),
		Example: examples(`
			# Featurize two checkpoints into one store
			$ trak featurize --config run.yaml --checkpoint ckpt0.npy --model-id 0
			$ trak featurize --config run.yaml --checkpoint ckpt1.npy --model-id 1

			# Split one checkpoint over four processes
			$ for i in 0 1 2 3; do trak featurize --config run.yaml --shard $i/4 & done; wait
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := kf.load()
			if err != nil {
				return err
			}
			c = withRecordedDefaults(c)
			if err := require("save_dir", c.SaveDir, "checkpoint", c.Checkpoint, "train_data", c.TrainData); err != nil {
				return err
			}
			if shard != "" {
				if opts.Shard, err = featurize.ParseShard(shard); err != nil {
					return usageError{err}
				}
			}
			opts.Config = c
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return featurizeRun(cmd.Context(), opts)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir", "checkpoint", "model_id", "train_data", "task", "projector.type", "projector.dim", "projector.seed", "features_dtype", "on_bad_example", "batch_size", "workers", "model_config", "sim_batch_size", "data.format", "data.image_column", "data.caption_column", "image_mode", "exif_transpose", "max_pixels", "vocab_dir")
	cmd.Flags().StringVar(&shard, "shard", "", "Featurize only rows of shard `i/n` (0 ≤ i < n)")
	return cmd
}

func featurizeRun(ctx context.Context, opts *FeaturizeOptions) error {
	c := opts.Config
	desc := fmt.Sprintf("featurize model %d", c.ModelID)
	if opts.Shard.Count > 0 {
		desc += " shard " + opts.Shard.String()
	}
	job := featurize.TrainJob{
		SaveDir:       c.SaveDir,
		ModelID:       c.ModelID,
		Checkpoint:    c.Checkpoint,
		Task:          c.Task,
		DataPath:      absPath(c.TrainData),
		Projector:     projectorSpec(c),
		FeaturesDType: c.FeaturesDType,
		BatchSize:     c.BatchSize,
		Workers:       workers(c),
		Shard:         opts.Shard,
		Progress:      opts.IO.progressFor(desc, "rows"),
		OnBad:         featurize.OnBadExample(c.OnBadExample),
		ToolVersion:   version,
	}
	simBatch := 0
	switch c.Task {
	case "clip":
		setup, err := clipSetup(c)
		if err != nil {
			return err
		}
		// Another checkpoint into an existing store takes the settings the
		// store recorded where this run sets none (a conflicting one is
		// refused); a missing or unreadable store is featurize.Train's
		// to report.
		if st, err := store.Open(c.SaveDir); err == nil {
			if setup, err = setup.Recorded(st.Meta, func(key string) bool { return c.Set[key] }); err != nil {
				return fmt.Errorf("store %s: %w", st.Dir, err)
			}
		}
		simBatch = setup.SimBatch
		setup.Data = dataSpec(c, c.TrainData)
		job.DataColumns = map[string]string{"format": c.DataFormat, "image_column": c.ImageColumn, "caption_column": c.CaptionColumn}
		progress := func(desc string) func(int) func(int) { return opts.IO.progressFor(desc, "rows") }
		if job, err = setup.TrainJob(job, c.OnBadExample == "skip", progress); err != nil {
			return err
		}
	default:
		loaded, err := task.Load(c.Task, c.Checkpoint, c.TrainData)
		if err != nil {
			return err
		}
		job.Examples, job.ConfigHash, job.DataFingerprint = loaded.Examples, loaded.ConfigHash, loaded.DataFingerprint
	}
	sum, err := featurize.Train(ctx, job)
	if err != nil {
		return err
	}
	if err := writeTrainNames(c, job.DataColumns); err != nil {
		return err
	}
	w := opts.IO.ErrOut
	report := filepath.Join(c.SaveDir, fmt.Sprint(c.ModelID), "skipped.tsv")
	switch {
	case sum.Computed == 0 && sum.Skipped == 0:
		fmt.Fprintf(w, "model %d: nothing to do, %d rows already featurized\n", c.ModelID, sum.Reused)
	case sum.Computed == 0:
		fmt.Fprintf(w, "model %d: featurized no rows; skipped %d bad examples (listed in %s)\n", c.ModelID, sum.Skipped, report)
	default:
		fmt.Fprintf(w, "model %d: featurized %d rows in %s (%s)", c.ModelID, sum.Computed, progress.Duration(sum.Elapsed), progress.Rate(float64(sum.Computed)/sum.Elapsed.Seconds(), "rows"))
		if sum.Skipped > 0 {
			fmt.Fprintf(w, "; skipped %d bad examples (listed in %s)", sum.Skipped, report)
		}
		if sum.Reused > 0 {
			fmt.Fprintf(w, "; %d rows were already done", sum.Reused)
		}
		fmt.Fprintln(w)
	}
	if err := reportSkipped(w, c.ModelID, sum.SkippedTotal, job.Examples.Len(), report); err != nil {
		return err
	}
	if n := job.Examples.Len(); simBatch > 0 && simBatch >= n-1 {
		fmt.Fprintf(w, "model %d: sim_batch_size %d ≥ the %d other train rows: every other row is a negative of each example\n", c.ModelID, simBatch, n-1)
	}
	if sum.Complete {
		fmt.Fprintf(w, "model %d is complete; next: trak finalize\n", c.ModelID)
	} else {
		fmt.Fprintf(w, "model %d: %d rows of other shards are still to be featurized\n", c.ModelID, sum.Remaining)
	}
	return nil
}

// writeTrainNames writes the store's rows.tsv (which example each train
// row is) once, on the first featurize run that gets this far.
func writeTrainNames(c config.Config, cols map[string]string) error {
	st, err := store.Open(c.SaveDir)
	if err != nil {
		return err
	}
	path := st.TrainNamesPath()
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	columns, describe, err := task.Describer(c.Task, c.TrainData, cols)
	if err != nil {
		return err
	}
	return store.WriteRowNames(path, columns, st.Meta.TrainSize, describe)
}

// skipWarnFraction is the share of skipped train rows above which featurize
// warns: each skipped row gets zero scores, so a large share usually means
// the data is broken (images moved away from their CSV) rather than a few
// bad files.
const skipWarnFraction = 0.10

// reportSkipped says how many of the model's n train rows are skipped bad
// examples (on every run, so that a resumed run does not hide them), warns
// above skipWarnFraction, and fails when every row is skipped: such a model
// attributes nothing and must not be finalized.
func reportSkipped(w io.Writer, id, skipped, n int, report string) error {
	if skipped == 0 {
		return nil
	}
	if skipped == n {
		return fmt.Errorf("model %d: all %d train rows are skipped bad examples (reasons in %s): nothing can be attributed; fix the data (are the images where the data set says?) and featurize into a new save_dir", id, n, report)
	}
	share := float64(skipped) / float64(n)
	if share > skipWarnFraction {
		fmt.Fprintf(w, "warning: model %d: %d of %d train rows (%.0f%%) are skipped bad examples with zero scores; check %s\n", id, skipped, n, 100*share, report)
		return nil
	}
	fmt.Fprintf(w, "model %d: %d of %d train rows are skipped bad examples (zero scores; %s)\n", id, skipped, n, report)
	return nil
}

// withRecordedDefaults returns c with the keys it leaves unset taken from
// the store at save_dir, when there is one: the train set, its columns, the
// task, the projection and the features dtype, so that another checkpoint
// is featurized into a store with --save-dir and --checkpoint alone. Keys
// that are set stay as they are (a conflict is then reported by the store's
// check, naming the key).
func withRecordedDefaults(c config.Config) config.Config {
	if c.SaveDir == "" {
		return c
	}
	st, err := store.Open(c.SaveDir)
	if err != nil {
		return c
	}
	m := st.Meta
	fill := func(key string, dst *string, v string) {
		if !c.Set[key] && v != "" {
			*dst = v
		}
	}
	fill("train_data", &c.TrainData, m.TrainData)
	fill("task", &c.Task, m.Task)
	fill("projector.type", &c.Projector.Type, m.Projector)
	fill("features_dtype", &c.FeaturesDType, m.FeaturesDType)
	fill("data.format", &c.DataFormat, m.DataColumns["format"])
	fill("data.image_column", &c.ImageColumn, m.DataColumns["image_column"])
	fill("data.caption_column", &c.CaptionColumn, m.DataColumns["caption_column"])
	if !c.Set["projector.dim"] && m.Projector != string(projection.None) {
		c.Projector.Dim = m.K
	}
	if !c.Set["projector.seed"] {
		c.Projector.Seed = m.Seed
	}
	return c
}

func projectorSpec(c config.Config) featurize.ProjectorSpec {
	return featurize.ProjectorSpec{Kind: projection.Kind(c.Projector.Type), Dim: c.Projector.Dim, Seed: c.Projector.Seed}
}

func workers(c config.Config) int {
	if c.Workers > 0 {
		return c.Workers
	}
	return runtime.NumCPU()
}

// absPath makes a path recorded in the store independent of the working
// directory; if that fails the path is kept as given.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// clipSetup collects the CLIP settings of a config.
func clipSetup(c config.Config) (clipfeat.Setup, error) {
	cfg, err := loadModelConfig(c.ModelConfig)
	if err != nil {
		return clipfeat.Setup{}, err
	}
	return clipfeat.Setup{
		ModelConfig: cfg,
		VocabDir:    c.VocabDir,
		MaxPixels:   int64(c.MaxPixels),
		Workers:     workers(c),
		SimBatch:    c.SimBatchSize,
		Seed:        c.Projector.Seed,
		// The rest of the transform takes open_clip's defaults; image_mode
		// "auto" resolves per data set (clipfeat.ResolveImageMode).
		Transform: imageprep.Transform{Mode: c.ImageMode, ExifTranspose: c.ExifTranspose},
	}, nil
}

// dataSpec describes the data set at path with the config's data keys.
func dataSpec(c config.Config, path string) dataset.Spec {
	return dataset.Spec{Path: path, Format: dataset.Format(c.DataFormat), ImageColumn: c.ImageColumn, CaptionColumn: c.CaptionColumn}
}
