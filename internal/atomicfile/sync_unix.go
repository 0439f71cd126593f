//go:build unix

package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

func isSyncUnsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP)
}
