//go:build !amd64

package projection

import "github.com/trak-dev/trak/internal/philox"

// sjltScatterFast declines off amd64; sjltScatterGo runs.
func sjltScatterFast(partT, gT []float32, tab []uint32, rows, nz, ja, jb, lanes int, c0, c1 uint32) bool {
	return false
}

// sjltTransposeFast declines off amd64; sjltTranspose's loops run.
func sjltTransposeFast(dst []float32, lanes int, src []float32, stride, batch, rows int) bool {
	return false
}

// sjltPack8Fast declines off amd64; sjltPack8 runs.
func sjltPack8Fast(d []uint32, nz int, x *philox.Lanes8, b0, w0, b1, w1 uint32, two bool) bool {
	return false
}
