package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/pipeline"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
)

// FinalizeOptions is what `trak finalize` runs with.
type FinalizeOptions struct {
	IO       *IOStreams
	Config   config.Config
	ModelIDs []int // empty: every model id in the store
}

func newCmdFinalize(io *IOStreams, runF func(context.Context, *FinalizeOptions) error) *cobra.Command {
	opts := &FinalizeOptions{IO: io}
	var kf *keyFlags
	cmd := &cobra.Command{
		Use:   "finalize [flags]",
		Short: "Compute the after-kernel features of every featurized checkpoint",
		Long: heredoc(`
			For each checkpoint m with train features X (N × k), compute
			K = X (XᵀX + λI)⁻¹ in float64 with a Cholesky factorisation and store it
			as <save_dir>/<m>/features.npy. When k > N the same matrix is computed as
			(XXᵀ + λI)⁻¹ X, an N × N system, so exact gradients (projector none) work on
			small models.

			By default λ is lambda_rel (0.01) times the mean non-zero eigenvalue of the
			checkpoint's Gram matrix XᵀX, so it scales with the features; setting lambda
			uses that absolute value instead. λ > 0 matters most when k ≥ N, where
			λ = 0 makes the scores fit noise. A singular system stops finalize with an
			error that suggests a value. A checkpoint already finalized with the same
			settings is skipped, unless its features.npy is missing or damaged or its
			train features changed since: it is then finalized again. Scores made before
			λ changed are refused by trak top until trak score runs again.
		`),
		Example: examples(`
			$ trak finalize --config run.yaml
			$ trak finalize --save-dir store --lambda 1e-3 --model-id 0 --model-id 2
			$ trak finalize --save-dir store --lambda-rel 0.1
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
			opts.Config = c
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return finalizeRun(cmd.Context(), opts)
		},
	}
	kf = bindKeyFlags(cmd, "save_dir", "lambda", "lambda_rel")
	cmd.Flags().IntSliceVar(&opts.ModelIDs, "model-id", nil, "Finalize only these model `ids` (repeatable; default all)")
	return cmd
}

func finalizeRun(ctx context.Context, opts *FinalizeOptions) error {
	st, err := store.Open(opts.Config.SaveDir)
	if err != nil {
		return err
	}
	if _, err := pipeline.StoreProjector(st, opts.Config); err != nil {
		return err
	}
	ids, err := st.ModelIDs()
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("store %s has no featurized checkpoints: run `trak featurize` first", st.Dir)
	}
	if len(opts.ModelIDs) > 0 {
		for _, id := range opts.ModelIDs {
			if !slices.Contains(ids, id) {
				return fmt.Errorf("model id %d is not in store %s (it has %v)", id, st.Dir, ids)
			}
		}
		ids = opts.ModelIDs
	}
	// Finalize is linear algebra on the stored features: no model, no
	// backend.
	ridge := pipeline.RidgeOf(opts.Config)
	used := func(o score.FinalizeOutcome) string {
		if ridge.Rel == 0 {
			return ridge.String()
		}
		return fmt.Sprintf("lambda %.3g from %v", o.Lambda, ridge)
	}
	_, err = pipeline.Finalize(ctx, st, ids, opts.IO.settings(opts.Config, nil), func(id int, o score.FinalizeOutcome) {
		switch {
		case o.Reused:
			fmt.Fprintf(opts.IO.ErrOut, "model %d: already finalized with %s\n", id, used(o))
		case o.Redone != "":
			fmt.Fprintf(opts.IO.ErrOut, "model %d: finalized again (%s form, %s): %s\n", id, o.Form, used(o), o.Redone)
		default:
			fmt.Fprintf(opts.IO.ErrOut, "model %d: finalized (%s form, %s)\n", id, o.Form, used(o))
		}
		if o.Form == score.Dual && o.Lambda == 0 {
			fmt.Fprintf(opts.IO.ErrOut, "WARNING: model %d has more feature dimensions than train rows and lambda 0: its kernel fits the noise in the features, and trak's measurements found such scores near random; use the default lambda_rel (unset lambda) or lambda > 0\n", id)
		}
	})
	return err
}
