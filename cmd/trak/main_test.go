package main

import (
	"runtime/debug"
	"testing"
)

// TestSetGCPercent: trak's collector target applies only when GOGC is
// unset.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	for _, tc := range []struct {
		gogc string
		want int
	}{{"", gcPercent}, {"100", 100}, {"off", 100}, {"50", 100}} {
		debug.SetGCPercent(100)
		setGCPercent(tc.gogc)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: GC percent %d, want %d", tc.gogc, got, tc.want)
		}
	}
}
