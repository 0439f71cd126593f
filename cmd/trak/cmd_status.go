package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/store"
)

func newCmdStatus(ios *IOStreams) *cobra.Command {
	var format string
	var kf *keyFlags
	cmd := &cobra.Command{
		Use:   "status [flags]",
		Short: "Show what a store holds: checkpoints, rows done, experiments",
		Long: heredoc(`
			Show what a store holds: its train set and projection; for each model id
			its checkpoint, how many train rows are featurized and skipped (bad
			examples), and whether it is finalized (with which λ); for each
			experiment its targets, whether and when it was scored, from which model
			ids, and whether the scores still match the store.

			It reads the store only, so it is safe to run while featurize processes
			(shards of a cluster job, say) are writing to it.
		`),
		Example: examples(`
			$ trak status --save-dir store
			$ watch -n 60 trak status --config run.yaml
			$ trak status --save-dir store --format json | jq '.models[] | .rows_featurized'
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := kf.load()
			if err != nil {
				return err
			}
			if err := require("save_dir", c.SaveDir); err != nil {
				return err
			}
			st, err := store.Open(c.SaveDir)
			if err != nil {
				return err
			}
			report, err := st.Status()
			if err != nil {
				return err
			}
			if format == formatJSON {
				return writeJSON(ios.Out, report)
			}
			return writeStatus(ios.Out, report)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir")
	addFormatFlag(cmd, &format)
	return cmd
}

// writeStatus prints a store's status as aligned text.
func writeStatus(out io.Writer, s store.Status) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "store\t%s\n", s.Dir)
	fmt.Fprintf(w, "task\t%s, %d train rows from %s\n", s.Task, s.TrainSize, s.TrainData)
	if s.S != 0 {
		fmt.Fprintf(w, "projection\t%s, k = %d, s = %d, seed %d\n", s.Projector, s.K, s.S, s.Seed)
	} else {
		fmt.Fprintf(w, "projection\t%s, k = %d, seed %d\n", s.Projector, s.K, s.Seed)
	}
	w.Flush()
	fmt.Fprintln(out)
	if len(s.Models) == 0 {
		fmt.Fprintln(out, "no model ids yet: run trak featurize")
	} else {
		fmt.Fprintln(w, "MODEL\tFEATURIZED\tSKIPPED\tFINALIZED\tCHECKPOINT")
		for _, m := range s.Models {
			fin := "no"
			if m.Finalized {
				fin = fmt.Sprintf("λ = %g (%s)", m.Lambda, m.Form)
			}
			fmt.Fprintf(w, "%d\t%d/%d\t%d\t%s\t%s\n", m.ModelID, m.Featurized+m.Skipped, m.Total, m.Skipped, fin, m.Checkpoint)
			if m.Problem != "" {
				fmt.Fprintf(w, "\t  problem: %s\n", m.Problem)
			}
		}
		w.Flush()
	}
	if len(s.Experiments) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	fmt.Fprintln(w, "EXPERIMENT\tTARGETS\tSCORED\tMODELS\tTARGETS FILE")
	for _, e := range s.Experiments {
		scored := "no"
		if e.Scored {
			scored = e.ScoredAt
			if scored == "" {
				scored = "yes"
			}
			if e.Stale != "" {
				scored += " (stale)"
			}
		}
		ids := make([]string, len(e.ModelIDs))
		for i, id := range e.ModelIDs {
			ids[i] = strconv.Itoa(id)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", e.Name, e.NumTargets, scored, strings.Join(ids, ","), e.Targets)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, e := range s.Experiments {
		if e.Stale != "" {
			fmt.Fprintf(out, "\n%s: %s\n", e.Name, e.Stale)
		}
	}
	return nil
}
