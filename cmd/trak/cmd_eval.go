package main

import (
	"context"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/ldseval"
)

// EvalLDSOptions is what `trak eval lds` runs with.
type EvalLDSOptions struct {
	IO     *IOStreams
	Config config.Config
	Shard  featurize.Shard // the zero Shard: every subset
}

func newCmdEval(io *IOStreams, runLDS func(context.Context, *EvalLDSOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval <measure>",
		Short: "Measure how good a store's scores are",
		Long: heredoc(`
			Measure the quality of attribution scores against what retraining the model
			actually does. The measure is a subcommand: lds, the linear datamodeling
			score.
		`),
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCmdEvalLDS(io, runLDS))
	return cmd
}

func newCmdEvalLDS(io *IOStreams, runF func(context.Context, *EvalLDSOptions) error) *cobra.Command {
	opts := &EvalLDSOptions{IO: io}
	var kf *keyFlags
	var shard string
	cmd := &cobra.Command{
		Use:   "lds --save-dir <store> --exp <name> [flags]",
		Short: "Linear datamodeling score of an experiment's scores",
		Long: heredoc(`
			Draw lds.subsets random subsets of the train set, each holding a fraction
			lds.alpha of its rows; train lds.models_per_subset models per subset from
			scratch (seeds differ), with the store's architecture and the lds.* recipe;
			evaluate on each the model output f of every target of the experiment (the
			function the scores attribute), averaged over a subset's models.
			For each target t, LDS(t) is the Spearman correlation over the subsets j
			between f_j(t) and Σ_{i ∈ S_j} score[i, t]. Prints the mean over targets with
			its standard error and writes <save_dir>/eval/lds_<exp>.tsv (per target) and
			lds_<exp>.png (histogram).

			The subset models are kept in lds.dir (default <save_dir>/lds) with the
			settings they were trained with, so other stores over the same train set and
			architecture (another projector, dimension or number of checkpoints) are
			evaluated against them without retraining: point lds.dir at the same folder.
			Training resumes where it stopped; --shard i/n trains only the i-th of n
			contiguous ranges of the subsets (run every shard, then once without
			--shard to compute the score).
		`),
		Example: examples(`
			$ trak eval lds --config run.yaml --exp val --lds-subsets 32 --lds-epochs 8
			$ trak eval lds --save-dir store --exp val --lds-dir subsets --shard 0/4
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := kf.load()
			if err != nil {
				return err
			}
			if err := require("save_dir", c.SaveDir, "exp", c.Exp); err != nil {
				return err
			}
			if opts.Shard, err = parseShardFlag(shard); err != nil {
				return err
			}
			opts.Config = c
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return evalLDSRun(cmd.Context(), opts)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir", "exp", "lds.dir", "lds.subsets", "lds.models_per_subset", "lds.alpha", "lds.seed", "lds.epochs", "lds.batch_size", "lds.lr", "lds.weight_decay", "lds.warmup", "lds.grad_clip_norm",
		"batch_size", "workers", "model_config", "sim_batch_size", "image_mode", "exif_transpose", "vocab_dir")
	cmd.Flags().StringVar(&shard, "shard", "", "Train only shard `i/n` of the subset models (0 ≤ i < n)")
	return cmd
}

func evalLDSRun(ctx context.Context, opts *EvalLDSOptions) error {
	c := opts.Config
	b, err := openBackend(c.Workers)
	if err != nil {
		return err
	}
	rep, err := ldseval.Run(ctx, ldseval.Options{Config: c, Backend: b, Progress: opts.IO.progress(), Shard: opts.Shard})
	if err != nil {
		return err
	}
	w := opts.IO.ErrOut
	for _, warning := range rep.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warning)
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintf(w, "WARNING: %d subset models did not learn, so their outputs are mostly noise and the LDS understates every score: train them longer (lds.epochs) or faster (lds.lr), in a new lds.dir\n", len(rep.Warnings))
	}
	fmt.Fprintf(w, "subset models: %d trained now, %d of %d in %s\n", rep.Trained, rep.Models()-rep.Missing, rep.Models(), rep.Dir)
	if rep.Missing > 0 {
		fmt.Fprintf(w, "%d subset models are not trained yet: run the other shards, then `trak eval lds` without --shard\n", rep.Missing)
		return nil
	}
	r := rep.Result
	if r.Constant > 0 {
		fmt.Fprintf(w, "note: %d targets have the same output (or predicted output) on every subset model and no LDS; they are left out\n", r.Constant)
	}
	if r.Count == 0 || math.IsNaN(r.Mean) {
		return fmt.Errorf("no target has an LDS: every target's outputs are constant over the subset models (did the models learn? check lds.epochs and lds.lr)")
	}
	models := fmt.Sprintf("%d subset models", rep.Subsets)
	if rep.ModelsPerSubset > 1 {
		models = fmt.Sprintf("%d subsets × %d models", rep.Subsets, rep.ModelsPerSubset)
	}
	fmt.Fprintf(opts.IO.Out, "LDS %.3f ± %.3f (mean ± standard error over %d targets; %s, alpha %g)\n", r.Mean, r.StdErr, r.Count, models, c.LDS.Alpha)
	fmt.Fprintf(w, "per target: %s\nhistogram: %s\n", rep.TSV, rep.PNG)
	return nil
}
