package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.json")
	for _, content := range []string{"first", "second, longer", "3"} {
		if err := WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("content %q, %v; want %q", got, err, content)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	assertNoTemp(t, filepath.Dir(path))
}

// TestFailedWriteKeepsOld: a write that fails halfway leaves the old
// content and no temporary file.
func TestFailedWriteKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.json")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := Write(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("partial new content"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the fill error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("content %q after a failed write, want the old one", got)
	}
	assertNoTemp(t, filepath.Dir(path))
}

func TestCreateNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grads.npy")
	fill := func(s string) func(*os.File) error {
		return func(f *os.File) error { _, err := f.WriteString(s); return err }
	}
	if err := CreateNew(path, 0o644, fill("a")); err != nil {
		t.Fatal(err)
	}
	if err := CreateNew(path, 0o644, fill("b")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second create: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "a" {
		t.Errorf("content %q, want the first creator's", got)
	}
	assertNoTemp(t, filepath.Dir(path))
}

// TestCreateNewRace: of many concurrent creators exactly one wins, and the
// file holds its complete content.
func TestCreateNewRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.json")
	var wins atomic.Int32
	var wg sync.WaitGroup
	content := make([]byte, 1<<16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := CreateNew(path, 0o644, func(f *os.File) error {
				b := append([]byte(nil), content...)
				b[0] = byte(i)
				_, err := f.Write(b)
				return err
			})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, fs.ErrExist):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d creators won, want 1", wins.Load())
	}
	if got, _ := os.ReadFile(path); len(got) != len(content) {
		t.Errorf("file has %d bytes, want %d", len(got), len(content))
	}
	assertNoTemp(t, filepath.Dir(path))
}

func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "f")
	if err := WriteFile(path, nil, 0o644); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if matched, _ := filepath.Match(".*.tmp-*", e.Name()); matched {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
