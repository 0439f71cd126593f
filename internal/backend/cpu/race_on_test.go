//go:build race

package cpu

// raceEnabled: the race detector slows the exhaustive tests down tenfold.
const raceEnabled = true
