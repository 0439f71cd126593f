package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/demo"
)

func newCmdDemo(io *IOStreams) *cobra.Command {
	var (
		task                                    string
		dir                                     string
		train, targets, checkpoints, k, workers int
		epochs, classes, features               int
		seed                                    uint64
		writeData                               string
	)
	cmd := &cobra.Command{
		Use:   "demo [flags]",
		Short: "Run the whole pipeline on built-in data, no downloads",
		Long: heredoc(`
			Run TRAK end to end on data generated on the spot, and show the result.

			With --task clip (the default): draw image–caption pairs of coloured shapes
			("a small red triangle on the left"), 5% of whose captions name a wrong
			colour or shape; train several small CLIP checkpoints on them from
			different seeds; featurize, finalize and score held-out targets; print each
			target's top proponents and opponents with a sanity check: proponents should
			show the target's shape and colour far more often than chance. A checkpoint
			whose last epoch's mean loss is not below 90% of chance (ln 32) has not
			learned: the demo says so loudly on stderr, naming it.

			With --task logreg: Gaussian classes with flipped labels and logistic
			regression (seconds); flipped-label examples should top the opponents.

			Everything is written under --dir: the data (PNG + CSV or CSV), the
			checkpoints, and a store that the other commands read
			(trak top --save-dir DIR/store --exp targets).
		`),
		Example: examples(`
			$ trak demo
			$ trak demo --dir /tmp/demo --checkpoints 5 --epochs 12
			$ trak demo --task logreg
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if writeData != "" {
				path, err := demo.WriteShapes(writeData, train, seed)
				if err != nil {
					return err
				}
				fmt.Fprintf(io.ErrOut, "%d image–caption pairs → %s\n", train, path)
				return nil
			}
			if train < 10 || targets < 1 || checkpoints < 1 || k < 1 || epochs < 1 {
				return usageErrorf("demo sizes must be positive, with at least 10 train examples")
			}
			switch task {
			case "clip":
				opt := demo.CLIPDefaults
				opt.Dir, opt.Train, opt.Targets, opt.Checkpoints, opt.Epochs, opt.K, opt.Workers, opt.Seed = dir, train, targets, checkpoints, epochs, k, workers, seed
				opt.Version = version
				opt.Progress = io.progress()
				opt.Warn = io.ErrOut
				b, err := openBackend(max(workers, 1))
				if err != nil {
					return err
				}
				opt.Backend = b
				_, err = demo.RunCLIP(cmd.Context(), opt, io.Out)
				return err
			case "logreg":
				opt := demo.Defaults
				opt.Dir, opt.Checkpoints, opt.Workers, opt.Seed = dir, checkpoints, workers, seed
				if cmd.Flags().Changed("train") {
					opt.Train = train
				}
				if cmd.Flags().Changed("targets") {
					opt.Targets = targets
				}
				if cmd.Flags().Changed("k") {
					opt.K = k
				}
				opt.Classes, opt.Features = classes, features
				if opt.Classes < 2 || opt.Features < 1 {
					return usageErrorf("--classes must be ≥ 2 and --features ≥ 1")
				}
				opt.Version = version
				opt.Progress = io.progress()
				_, err := demo.Run(cmd.Context(), opt, io.Out)
				return err
			default:
				return usageErrorf("--task must be clip or logreg, got %q", task)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&task, "task", "clip", "Which demo: clip or logreg")
	f.StringVar(&dir, "dir", demo.CLIPDefaults.Dir, "Working `directory` for data, checkpoints and the store")
	f.IntVar(&train, "train", demo.CLIPDefaults.Train, "Number of train examples")
	f.IntVar(&targets, "targets", demo.CLIPDefaults.Targets, "Number of target examples")
	f.IntVar(&checkpoints, "checkpoints", demo.CLIPDefaults.Checkpoints, "Number of checkpoints to train and average over")
	f.IntVar(&epochs, "epochs", demo.CLIPDefaults.Epochs, "CLIP training epochs per checkpoint")
	f.IntVar(&k, "k", demo.CLIPDefaults.K, "Projection dimension")
	f.IntVar(&workers, "workers", 2, "CPU threads")
	f.Uint64Var(&seed, "seed", 1, "Seed of the data and training")
	f.StringVar(&writeData, "write-data", "", "Only write the demo's shape images and CSV (--train of them) to `dir`, to look at or train on")
	f.IntVar(&classes, "classes", demo.Defaults.Classes, "logreg: number of classes")
	f.IntVar(&features, "features", demo.Defaults.Features, "logreg: features per example")
	return cmd
}
