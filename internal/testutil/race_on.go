//go:build race

package testutil

// RaceEnabled reports a build with the race detector. Under it tests run
// several times slower, so exhaustive loops shrink, and sync.Pool drops a
// share of what is put back on purpose, so allocation counts measure the
// detector rather than the code.
const RaceEnabled = true
