//go:build race

package gemm

// raceEnabled shrinks the long randomized loops under -race, where they run
// ten times slower and add nothing the detector could find.
const raceEnabled = true
