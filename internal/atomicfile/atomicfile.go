// Package atomicfile writes files so that a reader, or a process restarted
// after a crash, sees either the old content or the complete new content,
// never a partial file.
//
// Every write goes to a temporary file in the destination's directory, is
// fsynced, and is then moved into place (rename for replacement, link for
// create-if-absent); the directory is fsynced afterwards where the file system
// supports it.
//
// A temporary file is named ".<name>.tmp-<digits>" and, where advisory locks
// exist (Unix), is locked (flock) by its writer from its creation until it
// has been moved into place or removed. A process killed in between leaves
// the file behind unlocked, which is how RemoveStale tells an orphan from a
// file another process is still writing.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with the bytes fill writes.
func Write(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	tmp, held, err := writeTemp(path, perm, func(f *os.File) error { return fill(f) })
	if err != nil {
		return err
	}
	// The lock is held until the temporary name is gone, so that a
	// concurrent RemoveStale never removes it before the rename.
	defer held.Close()
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// CreateNew atomically creates path with the content fill gives the open
// file, unless path already exists, in which case it returns an error that
// wraps fs.ErrExist and leaves the existing file untouched. When several
// processes race to create the same path, exactly one succeeds and the others
// see fs.ErrExist; none ever sees a partly written file.
func CreateNew(path string, perm fs.FileMode, fill func(*os.File) error) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("create %s: %w", path, fs.ErrExist)
	}
	tmp, held, err := writeTemp(path, perm, fill)
	if err != nil {
		return err
	}
	// Deferred calls run last-in first-out: the temporary name is removed
	// before its lock is released (see Write).
	defer held.Close()
	defer os.Remove(tmp)
	// link(2) fails with EEXIST instead of replacing, which rename(2) would do.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes a synced temporary file next to path and returns its
// name and the locked descriptor that holds it; the caller closes held, which
// releases the lock, once the temporary name is gone.
func writeTemp(path string, perm fs.FileMode, fill func(*os.File) error) (name string, held *os.File, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := createLockedTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return "", nil, fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			f.Close()
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err = fill(f); err != nil {
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return "", nil, fmt.Errorf("sync %s: %w", path, err)
	}
	return tmp, f, nil
}

// tempInfix separates a temporary file's destination name from the random
// digits os.CreateTemp appends.
const tempInfix = ".tmp-"

// createLockedTemp creates a temporary file and locks it. A RemoveStale in
// another process can remove the file in the instant between its creation
// and the lock; the file is then created again.
func createLockedTemp(dir, pattern string) (*os.File, error) {
	for {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, err
		}
		removed, err := lockTemp(f)
		if err == nil && !removed {
			return f, nil
		}
		f.Close()
		if err != nil {
			os.Remove(f.Name())
			return nil, err
		}
	}
}

// IsTemp reports whether name (a base name) has the form of this package's
// temporary files, ".<name>.tmp-<digits>".
func IsTemp(name string) bool {
	i := strings.LastIndex(name, tempInfix)
	if !strings.HasPrefix(name, ".") || i < 1 {
		return false
	}
	digits := name[i+len(tempInfix):]
	if digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RemoveStale removes the temporary files in dir that writers killed before
// they finished left behind, and returns their paths. A temporary file whose
// writer is alive is locked and stays; where locks are unavailable (not
// Unix, or a file system without flock) nothing is removed, since an orphan
// cannot be told from a file being written. A missing dir is not an error.
func RemoveStale(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsTemp(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		ok, err := removeIfOrphan(path)
		if err != nil {
			return removed, fmt.Errorf("remove stale temporary file %s: %w", path, err)
		}
		if ok {
			removed = append(removed, path)
		}
	}
	return removed, nil
}

// syncDir makes a rename or link in dir durable. File systems that cannot
// fsync a directory report EINVAL or ENOTSUP; that is not an error here.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isSyncUnsupported(err) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
