package tasks

import (
	"slices"
	"testing"
)

// TestRegistry: every listed task is found by its name, and an unknown
// name is refused naming the known ones.
func TestRegistry(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"clip", "logreg"}) {
		t.Errorf("Names() = %v", got)
	}
	for _, name := range Names() {
		task, err := Lookup(name)
		if err != nil || task.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, task, err)
		}
	}
	if _, err := Lookup("resnet"); err == nil {
		t.Error("Lookup of an unknown task succeeded")
	}
}
