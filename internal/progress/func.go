package progress

import "io"

// Func is how a long-running step reports its progress, the one shape every
// package takes: it starts the report of a step of total units described by
// desc ("featurize model 0"), counted in units (a plural noun: "rows",
// "steps"), and returns the function that records n more units done. The
// report finishes when total units are done. A nil Func reports nothing;
// callers go through Start so they need not check.
type Func func(desc, units string, total int) (add func(n int))

// Start starts a report with f, or returns a function that does nothing when
// f is nil.
func (f Func) Start(desc, units string, total int) (add func(n int)) {
	if f == nil {
		return func(int) {}
	}
	return f(desc, units, total)
}

// To returns the Func that reports on w in mode, one Reporter per step. A
// step of no units shows nothing: there is nothing to wait for.
func To(w io.Writer, mode Mode) Func {
	return func(desc, units string, total int) func(int) {
		if total <= 0 {
			return func(int) {}
		}
		r := New(w, mode, int64(total), desc, units)
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
