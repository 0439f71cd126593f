package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/pipeline"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tasks"
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
			if opts.Shard, err = parseShardFlag(shard); err != nil {
				return err
			}
			opts.Config = c
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return featurizeRun(cmd.Context(), opts)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir", "checkpoint", "model_id", "train_data", "task", "projector.type", "projector.dim", "projector.s", "projector.seed", "features_dtype", "on_bad_example", "batch_size", "workers", "model_config", "sim_batch_size", "data.format", "data.image_column", "data.caption_column", "image_mode", "exif_transpose", "max_pixels", "vocab_dir")
	cmd.Flags().StringVar(&shard, "shard", "", "Featurize only rows of shard `i/n` (0 ≤ i < n)")
	return cmd
}

func featurizeRun(ctx context.Context, opts *FeaturizeOptions) error {
	c := opts.Config
	t, err := tasks.Lookup(c.Task)
	if err != nil {
		return err
	}
	b, err := openBackend(c.Workers)
	if err != nil {
		return err
	}
	sum, err := pipeline.Featurize(ctx, t, opts.IO.settings(c, b), opts.Shard)
	if err != nil {
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
	if err := reportSkipped(w, c.ModelID, sum.SkippedTotal, sum.Rows, report); err != nil {
		return err
	}
	if n, simBatch := sum.Rows, sum.CLIP.SimBatchSize; simBatch > 0 && simBatch >= n-1 {
		fmt.Fprintf(w, "model %d: sim_batch_size %d ≥ the %d other train rows: every other row is a negative of each example\n", c.ModelID, simBatch, n-1)
	}
	if sum.Complete {
		fmt.Fprintf(w, "model %d is complete; next: trak finalize\n", c.ModelID)
	} else {
		fmt.Fprintf(w, "model %d: %d rows of other shards are still to be featurized\n", c.ModelID, sum.Remaining)
	}
	return nil
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
	if !c.Set["projector.s"] && m.S != 0 {
		c.Projector.S = m.S
	}
	return c
}

// parseShardFlag parses the value of a --shard flag (featurize, eval lds):
// "" is the zero Shard, every row; a malformed value is a usage error.
func parseShardFlag(s string) (featurize.Shard, error) {
	if s == "" {
		return featurize.Shard{}, nil
	}
	sh, err := featurize.ParseShard(s)
	if err != nil {
		return featurize.Shard{}, usageError{err}
	}
	return sh, nil
}
