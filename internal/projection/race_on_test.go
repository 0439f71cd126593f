//go:build race

package projection

// raceEnabled reports a race-detector build. Under it sync.Pool drops a
// share of what is put back on purpose (to shake out code that relies on
// reuse), so internal/gemm's pooled packing buffers are allocated again at
// random and the allocation counts below measure the detector, not the
// Accumulator.
const raceEnabled = true
