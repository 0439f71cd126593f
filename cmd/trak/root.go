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

// usageError marks an error in how the command was called (the command
// line cannot be parsed, or a command's own flag has a value outside its
// range): a pointer to the command's help follows it and the exit code
// is 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// runError marks an error returned by trak's own code while a command ran
// (a missing setting, a missing file, a failed computation): it is printed
// alone and the exit code is 1, unless it is a usageError. Errors that
// cobra returns before running a command (unknown commands, wrong argument
// counts) carry no mark and are usage errors, whatever their wording.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// markRunErrors wraps the run functions of cmd and its subcommands so that
// the errors they return are told apart from cobra's usage errors.
func markRunErrors(cmd *cobra.Command) {
	mark := func(f func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
		if f == nil {
			return nil
		}
		return func(c *cobra.Command, args []string) error {
			err := f(c, args)
			if err == nil || errors.As(err, new(usageError)) || errors.As(err, new(handoff)) {
				return err
			}
			return runError{err}
		}
	}
	cmd.PersistentPreRunE = mark(cmd.PersistentPreRunE)
	cmd.PreRunE = mark(cmd.PreRunE)
	cmd.RunE = mark(cmd.RunE)
	for _, c := range cmd.Commands() {
		markRunErrors(c)
	}
}

// Main runs trak with args and returns the exit code.
func Main(args []string, io *IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return execute(ctx, newRootCmd(io), args, io)
}

// execute runs root with args, prints the error if any, and returns the
// exit code.
func execute(ctx context.Context, root *cobra.Command, args []string, io *IOStreams) int {
	// The help and completion commands are otherwise added during Execute,
	// after the run functions are marked.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	markRunErrors(root)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var h handoff
	switch {
	case errors.As(err, &h):
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
	case errors.As(err, new(usageError)) || !errors.As(err, new(runError)):
		// One line pointing at the help rather than the whole usage, which
		// would bury the message (as gh and kubectl do).
		fmt.Fprintf(io.ErrOut, "error: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return exitUsage
	default:
		fmt.Fprintf(io.ErrOut, "error: %v\n", err)
		return exitError
	}
}

// computesOnDevice reports whether --device places the work of the
// command named name: these commands are the ones handed off to trak-cuda.
func computesOnDevice(name string) bool {
	switch name {
	case "featurize", "score", "train", "demo", "lds":
		return true
	}
	return false
}

// handoff stops a command here so that Main runs it in trak-cuda.
type handoff struct{ bin string }

func (h handoff) Error() string { return "hand off to " + h.bin }

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

			Shell completion of commands, flags and their values (presets, experiment
			names, model ids from the store): see ` + "`trak completion --help`" + `.

			EXIT STATUS
			  0    success
			  1    an error: a setting missing or invalid (from a flag, TRAK_* or
			       the file), bad input, a missing file, a failed computation;
			       the message alone is printed
			  2    a usage error: unknown command or flag, wrong arguments, a flag
			       value that does not parse or is out of range (-k 0); a line
			       naming the command's --help follows the message
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
	var device string
	root.PersistentFlags().Var(newChoice(&device, deviceAuto, deviceAuto, deviceCPU, deviceCUDA), "device", "Where to compute: auto (a GPU when trak-cuda and a GPU are present), cpu, or cuda")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if q, _ := cmd.Flags().GetBool("quiet"); q {
			off := progress.Off
			io.Progress = &off
		}
		if !computesOnDevice(cmd.Name()) {
			return nil
		}
		if gpu.Built() {
			fmt.Fprintln(io.ErrOut, "note: the CUDA backend for the model is not implemented yet; computing on the CPU")
			return nil
		}
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
		newCmdStatus(io),
		newCmdExport(io, nil),
		newCmdTrain(io, nil),
		newCmdInspect(io, nil),
		newCmdTokenize(io, nil),
		newCmdPreprocess(io, nil),
		newCmdConfig(io),
		newCmdDemo(io),
		newCmdEval(io, nil),
		newCmdDoctor(io),
		newCmdVersion(io),
	)
	if err := registerCompletions(root); err != nil {
		panic(err) // a flag defined twice: a bug in trak, not in its input
	}
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
