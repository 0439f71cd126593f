package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tasks"
)

// Shell completion of flag values. Cobra provides `trak completion
// bash|zsh|fish|powershell` and the hidden __complete command the scripts
// call; this file says what each flag's values are. Flags are matched by
// name, so a command that gains one of these flags completes it too.

// keyChoices returns the values of a config key that takes one of a few
// words, by its flag name; config.Load accepts exactly these (tested).
// preprocess's --on-bad-example and --image-mode and demo's --task take the
// same values.
func keyChoices(flag string) []string {
	switch flag {
	case "task":
		return tasks.Names()
	case "projector-type":
		return []string{"rademacher", "normal", "none"}
	case "features-dtype":
		return []string{"float32", "float16"}
	case "on-bad-example":
		return []string{"fail", "skip"}
	case "image-mode":
		return []string{"auto", "native", "rgb"}
	case "data-format":
		return []string{"csv", "tsv", "webdataset", "folder"}
	}
	return nil
}

// registerCompletions attaches a completion function to every flag of cmd
// and its subcommands that has known values.
func registerCompletions(cmd *cobra.Command) error {
	var errs []error
	seen := map[*pflag.Flag]bool{}
	visit := func(f *pflag.Flag) {
		if seen[f] {
			return
		}
		seen[f] = true
		fn := flagCompletion(f)
		if fn == nil {
			return
		}
		if _, ok := cmd.GetFlagCompletionFunc(f.Name); ok {
			return // the command registered its own
		}
		if err := cmd.RegisterFlagCompletionFunc(f.Name, fn); err != nil {
			errs = append(errs, err)
		}
	}
	cmd.PersistentFlags().VisitAll(visit)
	cmd.Flags().VisitAll(visit)
	for _, c := range cmd.Commands() {
		if err := registerCompletions(c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("register completions of %s: %v", cmd.CommandPath(), errs)
	}
	return nil
}

// flagCompletion returns how to complete f's value, or nil to leave it to
// the shell's default (file names).
func flagCompletion(f *pflag.Flag) cobra.CompletionFunc {
	if v, ok := f.Value.(*choiceValue); ok {
		return cobra.FixedCompletions(v.choices, cobra.ShellCompDirectiveNoFileComp)
	}
	if choices := keyChoices(f.Name); choices != nil {
		return cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp)
	}
	switch f.Name {
	case "model-config":
		return completeModelConfig
	case "exp":
		return completeExp
	case "model-id":
		return completeModelID
	case "config":
		return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []cobra.Completion{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
		}
	case "save-dir", "dir", "vocab-dir", "write-data":
		return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		}
	}
	return nil
}

// completeModelConfig offers the preset names, or JSON files once what is
// typed matches no preset (it is then a path).
func completeModelConfig(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, name := range clip.PresetNames() {
		if strings.HasPrefix(name, toComplete) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return []cobra.Completion{"json"}, cobra.ShellCompDirectiveFilterFileExt
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeExp offers the experiments of the store that the command line so
// far points at.
func completeExp(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	st := completionStore(cmd)
	if st == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	exps, err := st.Experiments()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for name, e := range exps {
		desc := fmt.Sprintf("%d targets, not scored", e.NumTargets)
		if e.Scored {
			desc = fmt.Sprintf("%d targets, scored", e.NumTargets)
		}
		out = append(out, cobra.CompletionWithDesc(name, desc))
	}
	slices.Sort(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeModelID offers the model ids registered in the store.
func completeModelID(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	st := completionStore(cmd)
	if st == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ids, err := st.ModelIDs()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, id := range ids {
		desc := "featurizing"
		if m, err := st.ModelMeta(id); err == nil {
			switch {
			case m.Finalized:
				desc = "finalized"
			case m.Featurized:
				desc = "featurized"
			}
			desc += ", " + filepath.Base(m.Checkpoint)
		}
		out = append(out, cobra.CompletionWithDesc(strconv.Itoa(id), desc))
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// completionStore opens the store that save_dir names, merged as the
// command would merge it: --save-dir or --config given earlier on the
// command line, or TRAK_SAVE_DIR. It returns nil when there is none;
// completion never reports errors.
func completionStore(cmd *cobra.Command) *store.Store {
	src := config.Sources{Flags: map[string]*pflag.Flag{}}
	if f := cmd.Flags().Lookup(flagName("save_dir")); f != nil {
		src.Flags["save_dir"] = f
	}
	if f := cmd.Flags().Lookup("config"); f != nil {
		src.File = f.Value.String()
	}
	c, err := config.Load(src)
	if err != nil || c.SaveDir == "" {
		return nil
	}
	st, err := store.Open(c.SaveDir)
	if err != nil {
		return nil
	}
	return st
}
