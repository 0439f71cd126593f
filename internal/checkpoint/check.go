package checkpoint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Expect describes a tensor a model needs: its name and shape.
type Expect struct {
	Name  string
	Shape []int
}

// MismatchError lists every difference between a checkpoint and the
// tensors a model expects. Check returns it.
type MismatchError struct {
	// Path is the checkpoint's path.
	Path string
	// Missing are expected tensors the file lacks, in the order expected.
	Missing []Expect
	// Unexpected are tensors of the file nobody expected, sorted by name,
	// with their shapes.
	Unexpected []Expect
	// Misshaped are tensors present under the expected name with another
	// shape, in the order expected; Shape is the file's, Want the model's.
	Misshaped []Misshaped
}

// Misshaped is a tensor whose shape in the file differs from the model's.
type Misshaped struct {
	Name  string
	Shape []int
	Want  []int
}

// Error lists all differences, one per line after a summary.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoint %s does not match the model:", e.Path)
	var counts []string
	if n := len(e.Missing); n > 0 {
		counts = append(counts, fmt.Sprintf("%d missing", n))
	}
	if n := len(e.Unexpected); n > 0 {
		counts = append(counts, fmt.Sprintf("%d unexpected", n))
	}
	if n := len(e.Misshaped); n > 0 {
		counts = append(counts, fmt.Sprintf("%d with the wrong shape", n))
	}
	b.WriteString(" " + strings.Join(counts, ", "))
	for _, m := range e.Missing {
		fmt.Fprintf(&b, "\n  missing:    %s %s", m.Name, FormatShape(m.Shape))
	}
	for _, u := range e.Unexpected {
		fmt.Fprintf(&b, "\n  unexpected: %s %s", u.Name, FormatShape(u.Shape))
	}
	for _, m := range e.Misshaped {
		fmt.Fprintf(&b, "\n  wrong shape: %s is %s, want %s", m.Name, FormatShape(m.Shape), FormatShape(m.Want))
	}
	return b.String()
}

// Check compares the tensors of f with want. It returns nil when f holds
// exactly the wanted tensors with the wanted shapes, and otherwise a
// *MismatchError listing all missing, unexpected and mis-shaped tensors.
// Element types are not compared: every type converts to float32.
func Check(f *File, want []Expect) error {
	e := &MismatchError{Path: f.Path}
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		if wanted[w.Name] {
			continue
		}
		wanted[w.Name] = true
		t, ok := f.Tensor(w.Name)
		switch {
		case !ok:
			e.Missing = append(e.Missing, Expect{Name: w.Name, Shape: slices.Clone(w.Shape)})
		case !slices.Equal(t.Shape, w.Shape):
			e.Misshaped = append(e.Misshaped, Misshaped{Name: w.Name, Shape: slices.Clone(t.Shape), Want: slices.Clone(w.Shape)})
		}
	}
	for _, name := range f.names {
		if !wanted[name] {
			e.Unexpected = append(e.Unexpected, Expect{Name: name, Shape: slices.Clone(f.tensors[name].Shape)})
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Misshaped) == 0 {
		return nil
	}
	return e
}

// FormatShape writes a shape as Python prints a tuple: "()", "(5,)",
// "(768, 512)".
func FormatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
