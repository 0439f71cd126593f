package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/gpu"
	"github.com/trak-dev/trak/internal/progress"
)

// Exit codes, documented in `trak --help`.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitCancelled = 130
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks an error in how the command was called; the usage is
// printed after it and the exit code is 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Main runs trak with args and returns the exit code.
func Main(args []string, io *IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(io)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	switch {
	case errors.As(err, new(handoff)):
		var h handoff
		errors.As(err, &h)
		if herr := runHandoff(h.bin, args, io); herr != nil {
			var ec exitCodeError
			if errors.As(herr, &ec) {
				return ec.code
			}
			fmt.Fprintf(io.ErrOut, "error: %v\n", herr)
			return exitError
		}
		return exitOK
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(io.ErrOut, "interrupted: finished work is saved; run the same command again to continue")
		return exitCancelled
	case errors.As(err, new(usageError)) || isCobraUsageError(err):
		fmt.Fprintf(io.ErrOut, "error: %v\n\n", err)
		fmt.Fprint(io.ErrOut, cmd.UsageString())
		return exitUsage
	default:
		fmt.Fprintf(io.ErrOut, "error: %v\n", err)
		return exitError
	}
}

// computes lists the commands whose work --device places.
var computes = map[string]bool{"featurize": true, "score": true, "train": true, "demo": true}

// handoff stops a command here so that Main runs it in trak-cuda.
type handoff struct{ bin string }

func (h handoff) Error() string { return "hand off to " + h.bin }

// isCobraUsageError recognises cobra's own argument and flag errors, which
// it returns unwrapped.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCmd(io *IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "trak <command> [flags]",
		Short: "Attribute a model's behaviour to its training examples with TRAK",
		Long: heredoc(`
			trak computes TRAK data-attribution scores (Park et al., ICML 2023): for
			every target example and every training example, how much the training
			example moved the model's output on the target.

			The pipeline, one command per step, each resumable after an interruption:

			  trak featurize   projected gradients of the train set, per checkpoint
			  trak finalize    the after-kernel X (XᵀX + λI)⁻¹ of each checkpoint
			  trak score       scores of target examples against the train set
			  trak top         the most helpful (and harmful) train examples per target

			Settings come from a YAML file (--config), TRAK_* environment variables
			and flags; flags win over the environment, which wins over the file.
			` + "`trak config keys`" + ` lists every key.

			EXIT STATUS
			  0    success
			  1    an error (bad input, missing file, failed computation)
			  2    a usage error (unknown flag, bad argument)
			  130  interrupted (Ctrl-C or SIGTERM); finished work is kept
		`),
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
	}
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetIn(io.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().Bool("quiet", false, "Show no progress, only errors and results")
	root.PersistentFlags().String("device", "auto", "Where to compute: auto (a GPU when trak-cuda and a GPU are present), cpu, or cuda")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if q, _ := cmd.Flags().GetBool("quiet"); q {
			off := progress.Off
			io.Progress = &off
		}
		if !computes[cmd.Name()] {
			return nil
		}
		if gpu.Built() {
			fmt.Fprintln(io.ErrOut, "note: the CUDA backend for the model is not implemented yet; computing on the CPU")
			return nil
		}
		device, _ := cmd.Flags().GetString("device")
		bin, note, err := resolveDevice(device)
		if err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintln(io.ErrOut, note)
		}
		if bin != "" {
			fmt.Fprintf(io.ErrOut, "running on the GPU through %s\n", bin)
			return handoff{bin: bin}
		}
		return nil
	}
	root.AddCommand(
		newCmdFeaturize(io, nil),
		newCmdFinalize(io, nil),
		newCmdScore(io, nil),
		newCmdTop(io, nil),
		newCmdTrain(io, nil),
		newCmdInspect(io, nil),
		newCmdTokenize(io, nil),
		newCmdPreprocess(io, nil),
		newCmdConfig(io),
		newCmdDemo(io),
		newCmdDoctor(io),
		newCmdVersion(io),
	)
	return root
}

// heredoc removes the common indentation of a multi-line help text.
func heredoc(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent {
			lines[i] = l[indent:]
		} else {
			lines[i] = strings.TrimLeft(l, "\t ")
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// examples formats an Example section: dedented, then indented by two
// spaces as cobra's help expects.
func examples(s string) string {
	lines := strings.Split(strings.TrimRight(heredoc(s), "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n")
}
