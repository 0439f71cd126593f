//go:build !linux

package npy

import "os"

// reserve sizes f to size bytes; the data is sparse until written.
func reserve(f *os.File, size int64) error { return f.Truncate(size) }
