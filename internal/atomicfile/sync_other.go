//go:build !unix

package atomicfile

// Directory fsync is a Unix notion; elsewhere it is best effort.
func isSyncUnsupported(error) bool { return true }
