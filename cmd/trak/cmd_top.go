package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tasks"
)

// TopOptions is what `trak top` runs with.
type TopOptions struct {
	IO        *IOStreams
	Config    config.Config
	K         int
	Opponents bool
	Format    string // tsv or json
	Targets   []int  // empty: all
	Header    bool
}

func newCmdTop(io *IOStreams, runF func(context.Context, *TopOptions) error) *cobra.Command {
	opts := &TopOptions{IO: io}
	var kf *keyFlags
	cmd := &cobra.Command{
		Use:   "top --exp <name> [flags]",
		Short: "Print the most influential train examples of each target",
		Long: heredoc(`
			Print, for each target of an experiment, the k train examples with the
			highest scores (proponents: they pushed the model's output on the target
			up) or, with --opponents, the lowest (they pushed it down).

			Output is tab-separated, one line per (target, rank), ready for cut, sort
			and awk, with the columns

			  target  target_<info>...  rank  train_index  train_<info>...  score

			where the <info> columns describe an example: for CLIP its image path and
			caption (target_image, target_caption, train_image, train_caption), for
			logreg its label. A header line is
			printed when stdout is a terminal, or with --header. --format json prints
			one JSON document instead.
		`),
		Example: examples(`
			$ trak top --config run.yaml --exp val -k 5
			$ trak top --save-dir store --exp val --opponents --target 3 --format json
			$ trak top --save-dir store --exp val -k 1 | cut -f4 | sort -n | uniq -c
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
			if opts.K < 1 {
				return usageErrorf("-k must be at least 1, got %d", opts.K)
			}
			if opts.Format != "tsv" && opts.Format != "json" {
				return usageErrorf("--format must be tsv or json, got %q", opts.Format)
			}
			if !cmd.Flags().Changed("header") {
				opts.Header = io.OutTTY
			}
			opts.Config = c
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return topRun(cmd.Context(), opts)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir", "exp")
	cmd.Flags().IntVarP(&opts.K, "k", "k", 10, "Number of train examples per target")
	cmd.Flags().BoolVar(&opts.Opponents, "opponents", false, "List the lowest scores (examples that worked against the target)")
	cmd.Flags().StringVar(&opts.Format, "format", "tsv", "Output `format`: tsv or json")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"tsv", "json"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.Flags().IntSliceVar(&opts.Targets, "target", nil, "Only these target `indices` (repeatable)")
	cmd.Flags().BoolVar(&opts.Header, "header", false, "Print a header line (default: when stdout is a terminal)")
	return cmd
}

type topTarget struct {
	Target     int               `json:"target"`
	TargetDesc map[string]string `json:"target_info,omitempty"`
	Examples   []topTrain        `json:"examples"`
	targetCols []string
}

type topTrain struct {
	Rank       int               `json:"rank"`
	TrainIndex int               `json:"train_index"`
	TrainDesc  map[string]string `json:"train_info,omitempty"`
	Score      float64           `json:"score"`
	trainCols  []string
}

func topRun(_ context.Context, opts *TopOptions) error {
	st, err := store.Open(opts.Config.SaveDir)
	if err != nil {
		return err
	}
	exps, err := st.Experiments()
	if err != nil {
		return err
	}
	exp, ok := exps[opts.Config.Exp]
	if !ok || !exp.Scored {
		return fmt.Errorf("experiment %q has no scores in %s: run `trak score --exp %s` first", opts.Config.Exp, st.Dir, opts.Config.Exp)
	}
	if err := checkScoresFresh(st, opts.Config.Exp, exp, opts.IO); err != nil {
		return err
	}
	f, err := score.OpenScores(st, opts.Config.Exp, exp)
	if err != nil {
		return err
	}
	defer f.Close()
	n, t := st.Meta.TrainSize, exp.NumTargets
	targets := opts.Targets
	if len(targets) == 0 {
		for i := range t {
			targets = append(targets, i)
		}
	}
	for _, j := range targets {
		if j < 0 || j >= t {
			return usageErrorf("--target %d: the experiment has targets 0..%d", j, t-1)
		}
	}
	columns, trainDesc, targetDesc := describers(st, exp, opts.IO)
	asMap := func(vals []string) map[string]string {
		m := map[string]string{}
		for i, c := range columns {
			m[c] = vals[i]
		}
		return m
	}
	var out []topTarget
	for _, j := range targets {
		tv := targetDesc(j)
		tt := topTarget{Target: j, TargetDesc: asMap(tv), targetCols: tv}
		for r, e := range score.Top(f.Float32s(), n, t, j, opts.K, opts.Opponents) {
			dv := trainDesc(e.Row)
			tt.Examples = append(tt.Examples, topTrain{Rank: r + 1, TrainIndex: e.Row, TrainDesc: asMap(dv), trainCols: dv, Score: e.Score})
		}
		out = append(out, tt)
	}
	if opts.Format == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := opts.IO.Out
	var tw *tabwriter.Writer
	if opts.IO.OutTTY {
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		w = tw
	}
	prefixed := func(prefix string) string {
		var b strings.Builder
		for _, c := range columns {
			b.WriteString("\t" + prefix + c)
		}
		return b.String()
	}
	if opts.Header {
		fmt.Fprintf(w, "target%s\trank\ttrain_index%s\tscore\n", prefixed("target_"), prefixed("train_"))
	}
	for _, tt := range out {
		for _, e := range tt.Examples {
			fmt.Fprintf(w, "%d%s\t%d\t%d%s\t%s\n", tt.Target, tsvFields(tt.targetCols), e.Rank, e.TrainIndex, tsvFields(e.trainCols), strconv.FormatFloat(e.Score, 'g', 7, 64))
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// checkScoresFresh refuses scores whose inputs changed since they were
// computed (store.CheckScores), and targets that changed since, whose
// descriptions would not match the scores. It notes, without failing,
// scores from before inputs were recorded, and models finalized since that
// the scores do not include.
func checkScoresFresh(st *store.Store, name string, exp store.Experiment, io *IOStreams) error {
	legacy, err := st.CheckScores(name, exp)
	if err != nil {
		return err
	}
	if legacy {
		fmt.Fprintf(io.ErrOut, "note: scores/%s.npy was computed by an older trak that did not record its inputs, so whether they changed since cannot be checked: run `trak score --exp %s` again to have them recorded\n", name, name)
	}
	if fp, err := targetsFingerprint(st, exp); err == nil && exp.TargetsFingerprint != "" && fp != exp.TargetsFingerprint {
		return fmt.Errorf("the targets %s changed since scores/%s.npy was computed (their fingerprint differs), so the targets' descriptions would not match the scores: restore them, or score the new targets under a new --exp name",
			exp.Targets, name)
	}
	ids, err := st.ModelIDs()
	if err != nil {
		return err
	}
	var since []int
	for _, id := range ids {
		if slices.Contains(exp.ModelIDs, id) {
			continue
		}
		if m, err := st.ModelMeta(id); err == nil && m.Finalized {
			since = append(since, id)
		}
	}
	if len(since) > 0 {
		fmt.Fprintf(io.ErrOut, "note: model ids %v were finalized after scores/%s.npy was computed and are not in them: run `trak score --exp %s` again to include them\n", since, name, name)
	}
	return nil
}

// targetsFingerprint computes the fingerprint score recorded for the
// targets at path, read as the store reads data sets; an error means they
// cannot be read (describers then says so).
func targetsFingerprint(st *store.Store, exp store.Experiment) (string, error) {
	t, err := tasks.Lookup(st.Meta.Task)
	if err != nil {
		return "", err
	}
	return t.Fingerprint(exp.Targets, exp.TargetColumns(st.Meta.DataColumns))
}

// describers returns the description columns and functions for train and
// target examples. Descriptions are a convenience: when the data files are
// gone, the columns stay empty and a note says why.
func describers(st *store.Store, exp store.Experiment, io *IOStreams) ([]string, func(int) []string, func(int) []string) {
	describe := func(path string, cols map[string]string) ([]string, func(int) []string, error) {
		t, err := tasks.Lookup(st.Meta.Task)
		if err != nil {
			return nil, nil, err
		}
		return t.Describe(path, cols)
	}
	columns, train, err := describe(st.Meta.TrainData, st.Meta.DataColumns)
	if err != nil {
		fmt.Fprintf(io.ErrOut, "note: no train descriptions: %v\n", err)
		columns = []string{"desc"}
	}
	none := func(int) []string { return make([]string, len(columns)) }
	if train == nil {
		train = none
	}
	_, target, err := describe(exp.Targets, exp.TargetColumns(st.Meta.DataColumns))
	if err != nil {
		fmt.Fprintf(io.ErrOut, "note: no target descriptions: %v\n", err)
		target = none
	}
	return columns, train, target
}

// tsvFields joins values as extra TSV fields, with tabs and newlines inside
// them replaced by spaces so that every line keeps its columns.
func tsvFields(vals []string) string {
	var b strings.Builder
	r := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
	for _, v := range vals {
		b.WriteString("\t" + r.Replace(v))
	}
	return b.String()
}
