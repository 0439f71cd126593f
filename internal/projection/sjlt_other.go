//go:build !amd64

package projection

// sjltScatterFast declines off amd64; sjltScatterGo runs.
func sjltScatterFast(partT, gT []float32, tab []uint32, rows, nz, ja, jb, lanes int, c0, c1 uint32) bool {
	return false
}

// sjltTransposeFast declines off amd64; sjltTranspose's loops run.
func sjltTransposeFast(dst []float32, lanes int, src []float32, stride, batch, rows int) bool {
	return false
}
