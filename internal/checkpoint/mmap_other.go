//go:build !unix

package checkpoint

import (
	"errors"
	"os"
)

// mapFile reads the whole file into memory where mmap(2) is not available.
func mapFile(path string) ([]byte, func([]byte) error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, pathless(err)
	}
	if len(data) == 0 {
		return nil, nil, errors.New("empty file")
	}
	return data, nil, nil
}

// releasePages is never called here: files are read, not mapped.
func releasePages([]byte) error { return nil }
