package cpu

import (
	"fmt"
	"slices"

	"github.com/trak-dev/trak/internal/backend"
)

// panicf panics with "backend: op: " and the formatted message.
func panicf(op, format string, args ...any) {
	panic("backend: " + op + ": " + fmt.Sprintf(format, args...))
}

// shapeLen returns the product of shape, panicking on a negative dimension.
func shapeLen(op string, shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panicf(op, "negative dimension in shape %v", shape)
		}
		n *= d
	}
	return n
}

// data returns t's elements, panicking unless t is a live tensor of this
// backend.
func data(op, name string, t *backend.Tensor) []float32 {
	if t == nil {
		panicf(op, "%s is nil", name)
	}
	s, ok := t.Storage.([]float32)
	if !ok {
		panicf(op, "%s %v has storage of type %T, not []float32 (freed, or from another backend)", name, t, t.Storage)
	}
	if len(s) != t.Len() {
		panicf(op, "%s %v has %d elements of storage", name, t, len(s))
	}
	return s
}

// matrix returns t's rows (product of all but the last dimension) and
// columns (the last dimension).
func matrix(t *backend.Tensor) (rows, cols int) {
	if len(t.Shape) == 0 {
		return 1, 1
	}
	rows = 1
	for _, d := range t.Shape[:len(t.Shape)-1] {
		rows *= d
	}
	return rows, t.Shape[len(t.Shape)-1]
}

// sameLen panics unless a and b have as many elements.
func sameLen(op, an string, a *backend.Tensor, bn string, b *backend.Tensor) {
	if a.Len() != b.Len() {
		panicf(op, "%s %v and %s %v differ in length", an, a, bn, b)
	}
}

// sameMatrix panics unless a and b have the same rows and columns, and
// returns them.
func sameMatrix(op, an string, a *backend.Tensor, bn string, b *backend.Tensor) (rows, cols int) {
	ar, ac := matrix(a)
	br, bc := matrix(b)
	if ar != br || ac != bc {
		panicf(op, "%s %v (%d×%d) and %s %v (%d×%d) differ in rows × columns", an, a, ar, ac, bn, b, br, bc)
	}
	return ar, ac
}

// vector panics unless t has n elements.
func vector(op, name string, t *backend.Tensor, n int, what string) {
	if t.Len() != n {
		panicf(op, "%s %v has %d elements, want %d (%s)", name, t, t.Len(), n, what)
	}
}

// rank panics unless t has r dimensions.
func rank(op, name string, t *backend.Tensor, r int, want string) {
	if len(t.Shape) != r {
		panicf(op, "%s %v is not %s", name, t, want)
	}
}

// shapeIs panics unless t has exactly shape.
func shapeIs(op, name string, t *backend.Tensor, shape []int, want string) {
	if !slices.Equal(t.Shape, shape) {
		panicf(op, "%s %v, want %v %s", name, t, shape, want)
	}
}
