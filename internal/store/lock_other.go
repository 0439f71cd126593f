//go:build !unix

package store

// lockFile is a no-op where advisory locks are unavailable; concurrent
// `trak score` runs on one store are then unsupported.
func lockFile(string) (func(), error) { return func() {}, nil }
