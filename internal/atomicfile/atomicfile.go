// Package atomicfile writes files so that a reader, or a process restarted
// after a crash, sees either the old content or the complete new content,
// never a partial file.
//
// Every write goes to a temporary file in the destination's directory, is
// fsynced, and is then moved into place (rename for replacement, link for
// create-if-absent); the directory is fsynced afterwards where the file system
// supports it.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	tmp, err := writeTemp(path, perm, func(f *os.File) error { return fill(f) })
	if err != nil {
		return err
	}
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
	tmp, err := writeTemp(path, perm, fill)
	if err != nil {
		return err
	}
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

// writeTemp writes a synced temporary file next to path and returns its name.
func writeTemp(path string, perm fs.FileMode, fill func(*os.File) error) (name string, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err = fill(f); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", path, err)
	}
	return tmp, nil
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
