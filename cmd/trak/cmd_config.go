package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
)

func newCmdConfig(io *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Show configuration keys and the merged configuration",
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
	show := &cobra.Command{
		Use:   "show [flags]",
		Short: "Print the configuration a command would run with",
		Long: heredoc(`
			Merge defaults, the --config file, TRAK_* variables and flags exactly as
			the other commands do, check the result, and print it as YAML.
		`),
		Example: "  $ TRAK_PROJECTOR_DIM=512 trak config show --config run.yaml",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := kf.load()
			if err != nil {
				return err
			}
			fmt.Fprint(io.Out, c.YAML())
			return nil
		},
	}
	keys := make([]string, 0, len(config.Keys))
	for _, k := range config.Keys {
		keys = append(keys, k.Name)
	}
	kf = bindKeyFlags(show, keys...)
	cmd.AddCommand(show)
	return cmd
}
