//go:build !amd64

package projection

// fillRademacherFast declines off amd64; fillRademacher's portable path runs.
func (p *Projector) fillRademacherFast(dst []float32, ld int, row0 int64, rows, group, width int) bool {
	return false
}
