package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/trak-dev/trak/internal/progress"
)

// IOStreams are the streams a command reads and writes: data goes to Out,
// messages and progress to ErrOut, so that `trak top | sort` sees data only.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY and ErrTTY say whether Out and ErrOut are terminals.
	OutTTY, ErrTTY bool
	// Progress overrides how progress is shown; nil means "bar on a
	// terminal, lines otherwise".
	Progress *progress.Mode
}

func systemIO() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// progressMode picks how progress is shown on ErrOut.
func (s *IOStreams) progressMode() progress.Mode {
	if s.Progress != nil {
		return *s.Progress
	}
	if s.ErrTTY {
		return progress.Bar
	}
	return progress.Lines
}

// progressFor returns a featurize/finalize progress callback that reports
// under desc.
func (s *IOStreams) progressFor(desc, units string) func(total int) func(int) {
	return func(total int) func(int) {
		if total <= 0 {
			return func(int) {}
		}
		r := progress.New(s.ErrOut, s.progressMode(), int64(total), desc, units)
		done := 0
		return func(n int) {
			r.Add(n)
			done += n
			if done >= total {
				r.Finish()
			}
		}
	}
}
