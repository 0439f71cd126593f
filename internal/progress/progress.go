// Package progress reports the progress of long steps on stderr: a live bar
// (schollz/progressbar) when stderr is a terminal, and plain periodic lines
// otherwise, so that logs of batch jobs stay readable.
package progress

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Mode chooses how progress is shown.
type Mode int

const (
	// Bar redraws a bar in place; for terminals.
	Bar Mode = iota
	// Lines prints a line at each tenth of the work, and at most every
	// Interval; for logs and pipes.
	Lines
	// Off shows nothing.
	Off
)

// Interval is the shortest time between two plain progress lines, unless a
// tenth of the work has passed since the last one.
const Interval = 10 * time.Second

// Reporter shows the progress of one step of known size.
type Reporter struct {
	mode  Mode
	w     io.Writer
	desc  string
	total int64
	done  int64
	start time.Time
	now   func() time.Time

	bar      *progressbar.ProgressBar
	lastLine time.Time
	lastTen  int64
}

// New starts reporting a step of total units, described by desc (e.g.
// "featurize model 0"), counted in units ("rows").
func New(w io.Writer, mode Mode, total int64, desc, units string) *Reporter {
	r := &Reporter{mode: mode, w: w, desc: desc, total: total, now: time.Now}
	r.start = r.now()
	r.lastLine = r.start
	if mode == Bar {
		r.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(units),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionFullWidth(),
		)
	}
	return r
}

// Add records n more units done.
func (r *Reporter) Add(n int) {
	r.done += int64(n)
	switch r.mode {
	case Bar:
		_ = r.bar.Add(n) // a failed redraw must not fail the computation
	case Lines:
		now := r.now()
		ten := int64(0)
		if r.total > 0 {
			ten = r.done * 10 / r.total
		}
		if ten > r.lastTen || now.Sub(r.lastLine) >= Interval {
			r.lastTen, r.lastLine = ten, now
			if r.done < r.total {
				r.line(now)
			}
		}
	}
}

// Finish ends the report with a summary line: units done, time, rate.
func (r *Reporter) Finish() {
	if r.mode == Bar {
		_ = r.bar.Finish()
	}
	if r.mode != Off {
		r.line(r.now())
	}
}

func (r *Reporter) line(now time.Time) {
	pct := 100.0
	if r.total > 0 {
		pct = 100 * float64(r.done) / float64(r.total)
	}
	elapsed := now.Sub(r.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(r.done) / elapsed.Seconds()
	}
	fmt.Fprintf(r.w, "%s: %d/%d (%.0f%%) in %s, %.1f/s\n", r.desc, r.done, r.total, pct, elapsed.Round(10*time.Millisecond), rate)
}
