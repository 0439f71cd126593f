//go:build unix

package npy

import (
	"os"

	"golang.org/x/sys/unix"
)

const mmapSupported = true

// mapFile maps the first size bytes of f, shared so that writes reach the
// file and other processes see them.
func mapFile(f *os.File, size int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(int(f.Fd()), 0, size, prot, unix.MAP_SHARED)
}

func unmap(b []byte) error { return unix.Munmap(b) }

func syncMapping(b []byte) error { return unix.Msync(b, unix.MS_SYNC) }
