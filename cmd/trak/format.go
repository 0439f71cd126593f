package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Output formats of the reporting commands (inspect, doctor, config show,
// version). The JSON shapes are documented in the README's "Output formats"
// section; their field names are part of trak's interface and only grow.
const (
	formatText = "text"
	formatJSON = "json"
)

// choiceValue is a string flag that takes one of a fixed set of values. An
// other value fails flag parsing, so it is a usage error before the command
// runs, and the set is what shell completion offers.
type choiceValue struct {
	value   *string
	choices []string
}

func newChoice(dst *string, def string, choices ...string) *choiceValue {
	*dst = def
	return &choiceValue{value: dst, choices: choices}
}

func (v *choiceValue) String() string { return *v.value }

// Type is "string" so that cobra's GetString reads the flag as usual.
func (v *choiceValue) Type() string { return "string" }

func (v *choiceValue) Set(s string) error {
	if !slices.Contains(v.choices, s) {
		return fmt.Errorf("want %s", orList(v.choices))
	}
	*v.value = s
	return nil
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// addFormatFlag adds the --format flag shared by the reporting commands.
func addFormatFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().Var(newChoice(dst, formatText, formatText, formatJSON), "format",
		"Output format: text, or json (one document; the README lists its fields)")
}

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
