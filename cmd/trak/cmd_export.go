package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/export"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/store"
)

// ExportTrakPyOptions is what `trak export trak-py` runs with.
type ExportTrakPyOptions struct {
	IO       *IOStreams
	Config   config.Config
	Dir      string
	ModelIDs []int  // empty: every model of the store
	DType    string // auto, float32 or float16
	Force    bool
	Copy     bool
}

// newCmdExport is `trak export`, the parent of one subcommand per foreign
// format; runF replaces the run of `trak export trak-py` in tests.
func newCmdExport(io *IOStreams, runF func(context.Context, *ExportTrakPyOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export <format> <dir> [flags]",
		Short: "Write a store in another tool's layout",
		Long: heredoc(`
			Write the store in the on-disk layout of another tool, so that the tool
			can read the features and scores trak computed. One subcommand per
			format; the store itself is only read.
		`),
		Example: examples(`
			$ trak export trak-py trak_results --save-dir store
		`),
		// Runnable, as trak config is, so that a mistyped format is a usage
		// error rather than the help with exit status 0.
		Args:                       cobra.ArbitraryArgs,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					return usageErrorf("unknown format %q for %q; did you mean %s?", args[0], cmd.CommandPath(), orList(s))
				}
				return usageErrorf("unknown format %q for %q (formats: trak-py)", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newCmdExportTrakPy(io, runF))
	return cmd
}

func newCmdExportTrakPy(io *IOStreams, runF func(context.Context, *ExportTrakPyOptions) error) *cobra.Command {
	opts := &ExportTrakPyOptions{IO: io}
	var kf *keyFlags
	cmd := &cobra.Command{
		Use:   "trak-py <dir> [flags]",
		Short: "Write a store as a save_dir of the Python trak library (MadryLab)",
		Long: heredoc(`
			Write the store as a save_dir of MadryLab's Python trak library, so that
			TRAKer(..., save_dir=DIR, load_from_save_dir=True) finds, for every model
			id, the train features (grads), Q (out_to_loss), the finalized features,
			and, for every scored experiment, the target features and the scores.
			finalize_scores recomputes the scores from these; finalize_features
			finalizes the models trak has not finalized.

			Files whose bytes the library can use as they are become hard links to the
			store's (no space used) or, on another file system or with --copy,
			copies. Files the library writes or computes on in place are always
			copies: the score files (finalize_scores rewrites them) and the train
			arrays of models not finalized.

			The library keeps every float array in one dtype: float16 when the TRAKer
			has use_half_precision=True (its default), float32 otherwise. --dtype
			picks it (default: the store's features_dtype); arrays in another dtype
			are converted.

			The store's projection is trak's own, not the library's: featurizing
			more checkpoints or targets into DIR with the library's projector gives
			features that do not match the exported ones. Score new targets with
			trak score and export again.

			Every model exported must be fully featurized. Experiments that are not
			scored, or whose scores use models not exported, are left out with a
			note. DIR must be empty or new; --force replaces an earlier export in it.
		`),
		Example: examples(`
			$ trak export trak-py trak_results --save-dir store
			$ trak export trak-py trak_results --config run.yaml --dtype float16 --force
			$ trak export trak-py /scratch/model0 --save-dir store --model-id 0 --copy
		`),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := kf.load()
			if err != nil {
				return err
			}
			if err := require("save_dir", c.SaveDir); err != nil {
				return err
			}
			opts.Config = c
			opts.Dir = args[0]
			if opts.Dir == "" {
				return usageErrorf("the directory to export to is empty")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return exportTrakPyRun(cmd.Context(), opts)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir")
	cmd.Flags().IntSliceVar(&opts.ModelIDs, "model-id", nil, "Export only these model `ids` (repeatable; default all)")
	cmd.Flags().Var(newChoice(&opts.DType, "auto", "auto", "float32", "float16"), "dtype",
		"Dtype of the exported float arrays: float16 for use_half_precision=True, float32 for False, auto for the store's features_dtype")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "Replace what an earlier export or the Python library wrote in a non-empty <dir>")
	cmd.Flags().BoolVar(&opts.Copy, "copy", false, "Copy the store's files instead of hard-linking them")
	return cmd
}

func exportTrakPyRun(ctx context.Context, opts *ExportTrakPyOptions) error {
	st, err := store.Open(opts.Config.SaveDir)
	if err != nil {
		return err
	}
	var dt npy.DType
	if opts.DType != "auto" {
		if dt, err = export.ParseDType(opts.DType); err != nil {
			return usageErrorf("--dtype: %v", err)
		}
	}
	sum, err := export.Export(ctx, st, export.Options{
		Dir: opts.Dir, ModelIDs: opts.ModelIDs, DType: dt,
		Force: opts.Force, Copy: opts.Copy, ToolVersion: version,
	})
	if err != nil {
		return err
	}
	printExportSummary(opts.IO, st, sum)
	return nil
}

// printExportSummary says on stderr what was written and how to open it.
func printExportSummary(io *IOStreams, st *store.Store, sum *export.Summary) {
	w := io.ErrOut
	half := sum.DType == npy.Float16
	dtName := "float32"
	if half {
		dtName = "float16"
	}
	fmt.Fprintf(w, "exported %s to %s for the Python trak library (%s arrays)\n", st.Dir, sum.Dir, dtName)
	for _, m := range sum.Models {
		state := "finalized"
		if !m.Finalized {
			state = "featurized, not finalized (finalize_features computes its features)"
		}
		if m.SkippedRows > 0 {
			state += fmt.Sprintf(", %d skipped bad examples (zero features)", m.SkippedRows)
		}
		fmt.Fprintf(w, "  model %d: %s\n", m.ID, state)
	}
	for _, e := range sum.Experiments {
		fmt.Fprintf(w, "  experiment %s: %d targets, scores from models %s\n", e.Name, e.NumTargets, joinInts(e.ModelIDs))
	}
	for _, l := range sum.Left {
		fmt.Fprintf(w, "  experiment %s left out: %s\n", l.Name, l.Reason)
	}
	count := map[string]int{}
	for _, f := range sum.Files {
		count[f.How]++
	}
	fmt.Fprintf(w, "  %d files: %d hard links to the store, %d copied, %d converted, %d written\n",
		len(sum.Files), count["linked"], count["copied"], count["converted"], count["written"])
	if sum.LinkErr != nil {
		fmt.Fprintf(w, "note: files were copied rather than hard-linked (%v)\n", sum.LinkErr)
	}
	if count["linked"] > 0 {
		fmt.Fprintln(w, "note: hard-linked files share their bytes with the store: the library writing into them changes the store too (give --copy to avoid it)")
	}
	if sum.Underflow > 0 {
		fmt.Fprintf(w, "note: %d non-zero values are below float16's smallest and became 0; --dtype float32 keeps them\n", sum.Underflow)
	}
	pyBool := "False"
	if half {
		pyBool = "True"
	}
	fmt.Fprintf(w, "open it with TRAKer(model, task, train_set_size=%d, proj_dim=%d, use_half_precision=%s, save_dir=%q, load_from_save_dir=True)\n",
		sum.Metadata.TrainSetSize, sum.Metadata.JLDimension, pyBool, sum.Dir)
	fmt.Fprintf(w, "and a projector of type %q (the library checks it against metadata.json)\n", sum.Metadata.JLMatrixType)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
