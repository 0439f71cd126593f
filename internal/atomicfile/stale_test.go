//go:build unix

package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".grads.npy.tmp-123":        true,
		".meta.json.tmp-9":          true,
		"..val.npy.partial.tmp-42":  true,
		"grads.npy.tmp-123":         false, // not hidden: not ours
		".grads.npy.tmp-":           false,
		".grads.npy.tmp-12a":        false,
		".grads.npy":                false,
		".tmp-1":                    false,
		".experiments.lock":         false,
		".features.npy.partial":     false,
		".skipped.tsv.tmp-0.tmp-77": true,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestRemoveStale: a temporary file that a killed writer left (unlocked) is
// removed; one a live writer holds, and every other file, stay.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	orphan := filepath.Join(dir, ".grads.npy.tmp-123")
	other := filepath.Join(dir, "grads.npy")
	for _, p := range []string{orphan, other, filepath.Join(dir, ".experiments.lock")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	live, err := createLockedTemp(dir, ".meta.json"+tempInfix+"*")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	removed, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{orphan}) {
		t.Errorf("removed %v, want only %s", removed, orphan)
	}
	for _, p := range []string{live.Name(), other, filepath.Join(dir, ".experiments.lock")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	live.Close()
	if removed, _ := RemoveStale(dir); len(removed) != 1 || removed[0] != live.Name() {
		t.Errorf("after its writer let go, removed %v, want %s", removed, live.Name())
	}
	if removed, err := RemoveStale(filepath.Join(dir, "missing")); err != nil || removed != nil {
		t.Errorf("missing dir: %v, %v", removed, err)
	}
}

// TestRemoveStaleNeverBreaksAWriter runs writers and RemoveStale at the
// same time: every write must succeed, whatever the interleaving.
func TestRemoveStaleNeverBreaksAWriter(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := RemoveStale(dir); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 200 {
				path := filepath.Join(dir, fmt.Sprintf("f%d", w))
				if err := WriteFile(path, []byte("content"), 0o644); err != nil {
					t.Errorf("write %d: %v", i, err)
					return
				}
				if err := CreateNew(filepath.Join(dir, fmt.Sprintf("n%d-%d", w, i)), 0o644, func(*os.File) error { return nil }); err != nil {
					t.Errorf("create %d: %v", i, err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	assertNoTemp(t, dir)
}
