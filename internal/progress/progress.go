// Package progress reports the progress of long steps on stderr: a live bar
// (schollz/progressbar) when stderr is a terminal, and plain periodic lines
// otherwise, so that logs of batch jobs stay readable. Both say what is
// counted, how fast it goes and how long is left; a line reads
//
//	featurize model 0: 30/100 rows (30%) in 37s, 1.2 s/row, 1m26s left
//
// and the bar shows the percentage, then "featurize model 0: 30/100 rows,
// 1.2 s/row, 1m26s left". A rate of at least one unit a second is given per
// second ("3.3 rows/s"), a slower one as seconds per unit ("12.3 s/row"), so
// that a slow step never shows as "0.0/s". The rate is the average since
// the step started, and the time left assumes it holds. The last line, once
// the step is done, gives the time it took and its rate.
//
// Func is the one shape in which every long step (featurize, finalize,
// score, training in the demo) is handed where to report; To makes the
// Func that reports on a writer.
package progress

import (
	"fmt"
	"io"
	"strings"
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

// maxLeft caps the time left shown.
const maxLeft = 100000 * time.Hour

// redescribe is how often the bar's text (count, rate, time left) is
// recomputed and redrawn.
const redescribe = 100 * time.Millisecond

// Reporter shows the progress of one step of known size.
type Reporter struct {
	mode  Mode
	w     io.Writer
	desc  string
	units string
	total int64
	done  int64
	start time.Time
	now   func() time.Time

	bar       *progressbar.ProgressBar
	described time.Time
	lastLine  time.Time
	lastTen   int64
}

// New starts reporting a step of total units, described by desc (e.g.
// "featurize model 0"), counted in units: a plural noun ("rows"), whose
// singular ("row", for rates given as seconds per unit) is made by dropping
// the final "s".
func New(w io.Writer, mode Mode, total int64, desc, units string) *Reporter {
	r := &Reporter{mode: mode, w: w, desc: desc, units: units, total: total, now: time.Now}
	r.start = r.now()
	r.lastLine = r.start
	if mode == Bar {
		r.described = r.start
		r.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			// The bar's own count, rate and time estimate leave out
			// the unit and round slow rates to "0 it/hr": the text
			// after the bar is barText instead.
			progressbar.OptionSetDescription(r.barText(r.start)),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			// Redraws happen when the percentage changes and when Add
			// redescribes, at most every redescribe.
			progressbar.OptionThrottle(0),
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
		// The text is redrawn after the count so that both agree; at the
		// end the bar clears itself and Finish prints the summary.
		if now := r.now(); r.done < r.total && now.Sub(r.described) >= redescribe {
			r.described = now
			r.bar.Describe(r.barText(now))
		}
	case Lines:
		now := r.now()
		ten := int64(0)
		if r.total > 0 {
			ten = r.done * 10 / r.total
		}
		if ten > r.lastTen || now.Sub(r.lastLine) >= Interval {
			r.lastTen, r.lastLine = ten, now
			if r.done < r.total {
				fmt.Fprintln(r.w, r.status(now, false))
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
		fmt.Fprintln(r.w, r.status(r.now(), true))
	}
}

// status is the report at time now; final leaves out the time left.
func (r *Reporter) status(now time.Time, final bool) string {
	return Status(r.desc, r.units, r.done, r.total, now.Sub(r.start), final)
}

// barText is the text after the bar, which shows the percentage itself:
// the terminal's width is shared with the bar.
func (r *Reporter) barText(now time.Time) string {
	return fmt.Sprintf("%s: %d/%d %s", r.desc, r.done, r.total, r.units) + speed(r.units, r.done, r.total, now.Sub(r.start), false)
}

// Status describes a step that has done done of total units in elapsed
// time: "desc: done/total units (pct%) in elapsed", then, once there is a
// rate, the rate and (unless final) the time left at that rate.
func Status(desc, units string, done, total int64, elapsed time.Duration, final bool) string {
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	return fmt.Sprintf("%s: %d/%d %s (%.0f%%) in %s", desc, done, total, units, pct, Duration(elapsed)) +
		speed(units, done, total, elapsed, final)
}

// speed is ", rate, time left", ", rate" when final or done, and "" before
// there is a rate.
func speed(units string, done, total int64, elapsed time.Duration, final bool) string {
	if done <= 0 || elapsed <= 0 {
		return ""
	}
	s := ", " + Rate(float64(done)/elapsed.Seconds(), units)
	if !final && done < total {
		// In float64 and capped: a first unit that took long, with many
		// to go, would overflow a Duration.
		left := time.Duration(min(float64(elapsed)/float64(done)*float64(total-done), float64(maxLeft)))
		s += ", " + Duration(left) + " left"
	}
	return s
}

// Rate formats perSecond units a second: "3.3 rows/s" from one a second
// up, "12.3 s/row" below, with one decimal under 100 and none above.
func Rate(perSecond float64, units string) string {
	if perSecond >= 1 {
		return number(perSecond) + " " + units + "/s"
	}
	return number(1/perSecond) + " s/" + singular(units)
}

func number(x float64) string {
	if x < 100 {
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.0f", x)
}

// singular drops the final "s" of a plural unit.
func singular(units string) string {
	if len(units) > 1 && strings.HasSuffix(units, "s") && !strings.HasSuffix(units, "ss") {
		return units[:len(units)-1]
	}
	return units
}

// Duration formats a time span for people: "4.2s" under ten seconds, "42s"
// under a minute, "3m07s" under an hour, "2h05m" above.
func Duration(d time.Duration) string {
	d = max(d, 0)
	if d < 9950*time.Millisecond {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	if s := d.Round(time.Second); s < time.Minute {
		return fmt.Sprintf("%ds", s/time.Second)
	} else if s < time.Hour {
		return fmt.Sprintf("%dm%02ds", s/time.Minute, s%time.Minute/time.Second)
	}
	m := d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", m/time.Hour, m%time.Hour/time.Minute)
}
