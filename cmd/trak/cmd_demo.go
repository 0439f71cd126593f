package main

import (
	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/demo"
)

func newCmdDemo(io *IOStreams) *cobra.Command {
	opt := demo.Defaults
	cmd := &cobra.Command{
		Use:   "demo [flags]",
		Short: "Run the whole pipeline on built-in data, no downloads",
		Long: heredoc(`
			Generate a labelled data set with a few deliberately flipped labels, train
			several logistic-regression checkpoints on it, then featurize, finalize and
			score held-out targets, and show each target's most helpful and most harmful
			train examples, with a sanity check: proponents should share the target's
			label, and flipped-label examples should appear among the opponents.

			Everything is written under --dir: the data as CSV, the checkpoints as .npy,
			and a store that the other commands can read (trak top --save-dir DIR/store
			--exp targets).
		`),
		Example: "  $ trak demo\n  $ trak demo --dir /tmp/demo --checkpoints 5 --train 5000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.Train < 10 || opt.Targets < 1 || opt.Classes < 2 || opt.Checkpoints < 1 || opt.K < 1 || opt.Features < 1 {
				return usageErrorf("demo sizes must be positive, with at least 10 train examples and 2 classes")
			}
			opt.Version = version
			opt.Progress = scoreProgress(io)
			_, err := demo.Run(cmd.Context(), opt, io.Out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Dir, "dir", opt.Dir, "Working `directory` for data, checkpoints and the store")
	f.IntVar(&opt.Train, "train", opt.Train, "Number of train examples")
	f.IntVar(&opt.Targets, "targets", opt.Targets, "Number of target examples")
	f.IntVar(&opt.Classes, "classes", opt.Classes, "Number of classes")
	f.IntVar(&opt.Features, "features", opt.Features, "Features per example")
	f.IntVar(&opt.Checkpoints, "checkpoints", opt.Checkpoints, "Number of checkpoints to train and average over")
	f.IntVar(&opt.K, "k", opt.K, "Projection dimension")
	f.IntVar(&opt.Workers, "workers", 2, "CPU threads")
	f.Uint64Var(&opt.Seed, "seed", opt.Seed, "Seed of the data and training")
	return cmd
}
