//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive advisory lock (flock) on path, creating it,
// and returns the function that releases it. Release removes the file, so
// that no lock file is left in the store after a run.
//
// Removing a lock file is safe only with the check below. Without it, a
// process B that opened the file before the holder A removed it would get
// its lock on the removed file after A lets go, while a process C that opens
// the path afterwards creates a new file and locks that one: B and C would
// both hold "the" lock. So after taking the lock a process checks that the
// path still names the file it locked, and otherwise starts over on the
// current file; and the holder removes the file before releasing the lock,
// so a locked file that still has its name is the one everybody locks.
func lockFile(path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		fd := int(f.Fd())
		if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		var held, named unix.Stat_t
		if err := unix.Fstat(fd, &held); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		err = unix.Stat(path, &named)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err != nil || held.Dev != named.Dev || held.Ino != named.Ino {
			f.Close() // the previous holder removed it: lock the current file
			continue
		}
		return func() {
			os.Remove(path)
			unix.Flock(fd, unix.LOCK_UN)
			f.Close()
		}, nil
	}
}
