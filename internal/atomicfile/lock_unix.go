//go:build unix

package atomicfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockTemp takes the writer's lock on a new temporary file. removed is true
// when a RemoveStale got to the file between its creation and the lock (the
// lock is then on a file that has no name any more). A file system without
// flock gives an error that is ignored: the file is written unlocked, and
// RemoveStale on such a file system removes nothing.
func lockTemp(f *os.File) (removed bool, err error) {
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return false, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	return st.Nlink == 0, nil
}

// removeIfOrphan removes the temporary file at path if no process holds its
// lock, and reports whether it did.
func removeIfOrphan(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		// EWOULDBLOCK: a live writer holds it. Any other error: locks do
		// not work here, so whether it is an orphan cannot be told.
		return false, nil
	}
	// The writer may have finished (renamed or removed the name) between
	// the Open and the lock, and another file may now have the name: remove
	// the name only if it is still the file that is locked.
	var held, named unix.Stat_t
	if err := unix.Fstat(fd, &held); err != nil {
		return false, err
	}
	if err := unix.Lstat(path, &named); err != nil {
		return false, nil
	}
	if held.Dev != named.Dev || held.Ino != named.Ino {
		return false, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
}
