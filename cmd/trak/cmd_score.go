package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/clipckpt"
	"github.com/trak-dev/trak/internal/clipfeat"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/task"
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
	spec, err := storeProjector(st, c)
	if err != nil {
		return err
	}
	ids, err := finalizedIDs(st, c.SkipUnfinished, opts.IO)
	if err != nil {
		return err
	}
	first, err := st.ModelMeta(ids[0])
	if err != nil {
		return err
	}
	job := score.ExperimentJob{
		Store:     st,
		Exp:       c.Exp,
		Targets:   c.Targets,
		ModelIDs:  ids,
		Projector: spec,
		BatchSize: c.BatchSize,
		Workers:   workers(c),
		Progress:  scoreProgress(opts.IO),
		OnBad:     featurize.OnBadExample(c.OnBadExample),
	}
	switch st.Meta.Task {
	case "clip":
		setup, err := clipSetup(c)
		if err != nil {
			return err
		}
		// What featurize recorded is used where this run sets nothing, and
		// a contradicting setting is refused.
		if setup, err = setup.Recorded(st.Meta, func(key string) bool { return c.Set[key] }); err != nil {
			return fmt.Errorf("store %s: %w", st.Dir, err)
		}
		setup.Seed = st.Meta.Seed // negatives use the seed the train features used
		for key, col := range map[string]*string{"data.image_column": &c.ImageColumn, "data.caption_column": &c.CaptionColumn} {
			if recorded := st.Meta.DataColumns[strings.TrimPrefix(key, "data.")]; !c.Set[key] && recorded != "" {
				*col = recorded
			}
		}
		ds, err := dataset.Open(dataSpec(c, c.Targets))
		if err != nil {
			return err
		}
		job.Fingerprint, job.NumTargets = ds.Fingerprint(), ds.Len()
		if job.ImageMode, err = clipfeat.ResolveImageMode(c.ImageMode, ds.Format()); err != nil {
			return err
		}
		job.Load = func(id int, checkpoint string) (featurize.Examples, error) {
			return setup.TargetExamples(st, id, checkpoint, ds)
		}
		job.Digest = clipckpt.Digest
	default:
		probe, err := task.Load(st.Meta.Task, first.Checkpoint, c.Targets)
		if err != nil {
			return err
		}
		job.Fingerprint, job.NumTargets = probe.DataFingerprint, probe.Examples.Len()
		job.Load = func(_ int, checkpoint string) (featurize.Examples, error) {
			l, err := task.Load(st.Meta.Task, checkpoint, c.Targets)
			if err != nil {
				return nil, err
			}
			return l.Examples, nil
		}
	}
	if err := featurize.RequireRows("targets", c.Targets, job.NumTargets); err != nil {
		return err
	}
	job.DataColumns = dataColumns(c)
	path, err := score.ScoreExperiment(ctx, job)
	if err != nil {
		return err
	}
	columns, describe, err := task.Describer(st.Meta.Task, c.Targets, dataColumns(c))
	if err != nil {
		return err
	}
	if err := store.WriteRowNames(st.TargetNamesPath(c.Exp), columns, job.NumTargets, describe); err != nil {
		return err
	}
	if err := reportSkippedTargets(opts.IO.ErrOut, st, ids[0], c.Exp, job.NumTargets, describe); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "scores of %d targets against %d train examples, averaged over model ids %v: %s\n",
		job.NumTargets, st.Meta.TrainSize, ids, path)
	return nil
}

// storeProjector returns the store's projection, which target features
// must share with the train features; a config that sets a different one is
// an error rather than silently ignored.
func storeProjector(st *store.Store, c config.Config) (featurize.ProjectorSpec, error) {
	want := st.Meta
	if c.Set["projector.type"] {
		want.Projector = c.Projector.Type
	}
	if c.Set["projector.seed"] {
		want.Seed = c.Projector.Seed
	}
	if c.Set["projector.dim"] && want.Projector != "none" {
		want.K = c.Projector.Dim
	}
	if c.Set["features_dtype"] {
		want.FeaturesDType = c.FeaturesDType
	}
	if err := st.Check(want); err != nil {
		return featurize.ProjectorSpec{}, err
	}
	return featurize.ProjectorSpec{Kind: projection.Kind(st.Meta.Projector), Dim: st.Meta.K, Seed: st.Meta.Seed}, nil
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

// dataColumns is how the config reads a data set, as the store records it.
func dataColumns(c config.Config) map[string]string {
	return map[string]string{"format": c.DataFormat, "image_column": c.ImageColumn, "caption_column": c.CaptionColumn}
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
