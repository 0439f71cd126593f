//go:build unix

package checkpoint

import (
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file at path read-only. The mapping outlives the
// descriptor, which is closed before returning. The file must not be
// truncated while it is mapped.
func mapFile(path string) ([]byte, func([]byte) error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, pathless(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, errors.New("not a regular file")
	}
	size := st.Size()
	if size == 0 {
		return nil, nil, errors.New("empty file")
	}
	if size > math.MaxInt {
		return nil, nil, fmt.Errorf("file of %d bytes is too large to map", size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	return data, unix.Munmap, nil
}

// releasePages drops the pages of b, which lies in a read-only file mapping,
// from the process's resident set; reading them again faults them back in
// from the page cache, unchanged.
func releasePages(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }
