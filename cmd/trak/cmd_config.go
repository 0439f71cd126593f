package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/trak-dev/trak/internal/config"
)

func newCmdConfig(io *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Show configuration keys and the merged configuration",
		// Runnable so that a mistyped subcommand is a usage error: cobra
		// shows the help and exits 0 for a command group that cannot run.
		Args:                       cobra.ArbitraryArgs,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					return usageErrorf("unknown command %q for %q; did you mean %s?", args[0], cmd.CommandPath(), orList(s))
				}
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "keys",
		Short: "List every config key with its default and environment variable",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			tw := tabwriter.NewWriter(io.Out, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tDEFAULT\tENVIRONMENT\tMEANING")
			for _, k := range config.Keys {
				def := fmt.Sprint(k.Default)
				if def == "" {
					def = `""`
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, def, config.EnvName(k.Name), k.Doc)
			}
			return tw.Flush()
		},
	})
	var kf *keyFlags
	var format string
	show := &cobra.Command{
		Use:   "show [flags]",
		Short: "Print the configuration a command would run with",
		Long: heredoc(`
			Merge defaults, the --config file, TRAK_* variables and flags exactly as
			the other commands do, check the result, and print it as YAML, or with
			--format json as one JSON object of the same keys and nesting. Either
			output is a valid --config file.
		`),
		Example: examples(`
			$ TRAK_PROJECTOR_DIM=512 trak config show --config run.yaml
			$ trak config show --config run.yaml --format json | jq .projector.dim
		`),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := kf.load()
			if err != nil {
				return err
			}
			if format == formatJSON {
				return writeConfigJSON(io.Out, c)
			}
			_, err = fmt.Fprint(io.Out, c.YAML())
			return err
		},
	}
	addFormatFlag(show, &format)
	keys := make([]string, 0, len(config.Keys))
	for _, k := range config.Keys {
		keys = append(keys, k.Name)
	}
	kf = bindKeyFlags(show, keys...)
	cmd.AddCommand(show)
	return cmd
}

// writeConfigJSON prints c as JSON. It is made from c.YAML(), the one place
// that lists every key with its section, so the two forms always carry the
// same keys.
func writeConfigJSON(w io.Writer, c config.Config) error {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(c.YAML()), &doc); err != nil {
		return fmt.Errorf("config show: the YAML form does not parse back (a bug in trak): %w", err)
	}
	return writeJSON(w, doc)
}
