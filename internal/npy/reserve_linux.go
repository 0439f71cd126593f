//go:build linux

package npy

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// reserve sizes f to size bytes and allocates its blocks. Writing to a page
// of a sparse file through a mapping when the disk is full kills the process
// with SIGBUS; allocating now turns that into an ordinary error.
func reserve(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Errorf("not enough free disk space for %d bytes: free some space or use a save_dir on another disk", size)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
		return f.Truncate(size) // the file system cannot preallocate
	default:
		return err
	}
}
