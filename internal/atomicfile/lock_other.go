//go:build !unix

package atomicfile

import "os"

// lockTemp does nothing where advisory locks are unavailable.
func lockTemp(*os.File) (bool, error) { return false, nil }

// removeIfOrphan removes nothing: without locks an orphan cannot be told
// from a file another process is writing.
func removeIfOrphan(string) (bool, error) { return false, nil }
