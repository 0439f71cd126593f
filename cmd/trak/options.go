package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/tasks"
)

// keyFlags binds command-line flags to config keys for one command.
type keyFlags struct {
	cmd  *cobra.Command
	file string
	keys map[string]string // config key → flag name
}

// bindKeyFlags adds --config and one flag per config key to cmd. A key's
// flag is the key with '_' and '.' written as '-' (save_dir → --save-dir);
// its help is the key's documentation and names the environment variable
// that sets the same key.
func bindKeyFlags(cmd *cobra.Command, keys ...string) *keyFlags {
	kf := &keyFlags{cmd: cmd, keys: map[string]string{}}
	cmd.Flags().StringVar(&kf.file, "config", "", "YAML config `file` (trak config keys lists its keys)")
	for _, key := range keys {
		k, ok := config.Lookup(key)
		if !ok {
			panic("bindKeyFlags: unknown key " + key)
		}
		name := flagName(key)
		usage := fmt.Sprintf("%s (env %s)", strings.ToUpper(k.Doc[:1])+k.Doc[1:], config.EnvName(key))
		switch k.Default.(type) {
		case string:
			cmd.Flags().String(name, "", usage)
		case int:
			cmd.Flags().Int(name, 0, usage)
		case float64:
			cmd.Flags().Float64(name, 0, usage)
		case bool:
			cmd.Flags().Bool(name, false, usage)
		default:
			panic("bindKeyFlags: no flag type for key " + key)
		}
		kf.keys[key] = name
	}
	return kf
}

// load merges the configuration; call it from RunE, after flag parsing.
func (kf *keyFlags) load() (config.Config, error) {
	flags := map[string]*pflag.Flag{}
	for key, name := range kf.keys {
		flags[key] = kf.cmd.Flags().Lookup(name)
	}
	return config.Load(config.Sources{File: kf.file, Flags: flags, Tasks: tasks.Names()})
}

// require reports the first of the named settings that is empty. It is an
// error of the configuration, not a usage error: the setting may belong in
// the --config file or the environment as well as on the command line, and
// the message names all three, so no usage follows it.
func require(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			key := pairs[i]
			return fmt.Errorf("%s is not set: give --%s, set it in the --config file, or export %s", key, flagName(key), config.EnvName(key))
		}
	}
	return nil
}

func flagName(key string) string {
	b := []byte(key)
	for i, c := range b {
		if c == '_' || c == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}
