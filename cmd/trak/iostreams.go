package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/pipeline"
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

// progress returns where long steps report their progress: ErrOut, in
// the streams' mode.
func (s *IOStreams) progress() progress.Func {
	return progress.To(s.ErrOut, s.progressMode())
}

// settings are the pipeline's settings of a command run with config c,
// whose model (if its task has one) runs on b.
func (s *IOStreams) settings(c config.Config, b backend.Backend) pipeline.Settings {
	return pipeline.Settings{Config: c, Progress: s.progress(), Version: version, Backend: b}
}
