package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/pipeline"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tasks"
)

// ScoreOptions is what `trak score` runs with.
type ScoreOptions struct {
	IO     *IOStreams
	Config config.Config
}

func newCmdScore(io *IOStreams, runF func(context.Context, *ScoreOptions) error) *cobra.Command {
	opts := &ScoreOptions{IO: io}
	var kf *keyFlags
	cmd := &cobra.Command{
		Use:   "score --targets <file> --exp <name> [flags]",
		Short: "Score target examples against the train set",
		Long: heredoc(`
			Featurize the targets with every finalized checkpoint and write the
			train × target score matrix to <save_dir>/scores/<exp>.npy (float32, N × T):

			  score[i, t] = mean_m (K_m g_m(t))_i · mean_m Q_m(z_i)

			A positive score means train example i pushed the model's output on target t
			up; a negative one, down. Every registered checkpoint must be finalized,
			unless --skip-unfinished is given. The checkpoints used are recorded in
			experiments.json. Interrupted runs resume.
		`),
		Example: examples(`
			$ trak score --config run.yaml --targets val.csv --exp val
			$ python3 -c 'import numpy; print(numpy.load("store/scores/val.npy", mmap_mode="r").shape)'
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := kf.load()
			if err != nil {
				return err
			}
			if err := require("save_dir", c.SaveDir, "targets", c.Targets, "exp", c.Exp); err != nil {
				return err
			}
			opts.Config = c
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return scoreRun(cmd.Context(), opts)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir", "targets", "exp", "skip_unfinished", "on_bad_example", "batch_size", "workers", "model_config", "sim_batch_size", "image_mode", "exif_transpose", "vocab_dir")
	return cmd
}

func scoreRun(ctx context.Context, opts *ScoreOptions) error {
	c := opts.Config
	st, err := store.Open(c.SaveDir)
	if err != nil {
		return err
	}
	t, err := tasks.Lookup(st.Meta.Task)
	if err != nil {
		return fmt.Errorf("store %s: %w", st.Dir, err)
	}
	// A conflicting projection is reported before anything else, and the
	// unfinished models before the targets are read.
	if _, err := pipeline.StoreProjector(st, c); err != nil {
		return err
	}
	ids, err := finalizedIDs(st, c.SkipUnfinished, opts.IO)
	if err != nil {
		return err
	}
	b, err := openBackend(c.Workers)
	if err != nil {
		return err
	}
	res, err := pipeline.Score(ctx, t, st, ids, opts.IO.settings(c, b))
	if err != nil {
		return err
	}
	if err := reportSkippedTargets(opts.IO.ErrOut, st, ids[0], c.Exp, res.NumTargets, res.Describe); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "scores of %d targets against %d train examples, averaged over model ids %v: %s\n",
		res.NumTargets, st.Meta.TrainSize, ids, res.Path)
	return nil
}

// finalizedIDs returns the model ids to score with: all of them, or with
// skip only the finalized ones.
func finalizedIDs(st *store.Store, skip bool, io *IOStreams) ([]int, error) {
	ids, err := st.ModelIDs()
	if err != nil {
		return nil, err
	}
	var done, missing []int
	for _, id := range ids {
		m, err := st.ModelMeta(id)
		if err != nil {
			return nil, err
		}
		if m.Finalized {
			done = append(done, id)
		} else {
			missing = append(missing, id)
		}
	}
	// --skip-unfinished is suggested only when some model is finalized.
	if len(done) == 0 {
		return nil, fmt.Errorf("no finalized checkpoints in %s: run `trak featurize` and `trak finalize` first", st.Dir)
	}
	if len(missing) > 0 && !skip {
		return nil, fmt.Errorf("model ids %v are not finalized: run `trak finalize` (after their featurize has finished), or pass --skip-unfinished to score with %v only", missing, done)
	}
	if len(missing) > 0 {
		fmt.Fprintf(io.ErrOut, "skipping unfinished model ids %v\n", missing)
	}
	return done, nil
}

// reportSkippedTargets names the targets that were skipped as bad examples
// (their scores are zero), as the first model id recorded them: a bad
// target is bad for every checkpoint.
func reportSkippedTargets(w io.Writer, st *store.Store, id int, exp string, n int, describe func(int) []string) error {
	rows, err := st.TargetRows(id, exp, n)
	if err != nil {
		return err
	}
	defer rows.Close()
	var skipped []int
	for i := range n {
		if rows.Skipped(i) {
			skipped = append(skipped, i)
		}
	}
	if len(skipped) == 0 {
		return nil
	}
	fmt.Fprintf(w, "warning: %d of %d targets are skipped bad examples; their scores are 0:\n", len(skipped), n)
	for j, i := range skipped {
		if j == 10 {
			fmt.Fprintf(w, "  … and %d more\n", len(skipped)-10)
			break
		}
		fmt.Fprintf(w, "  target %d\t%s\n", i, strings.Join(describe(i), "\t"))
	}
	fmt.Fprintf(w, "  reasons in %s\n", filepath.Join(st.ModelDir(id), exp+"_skipped.tsv"))
	return nil
}
