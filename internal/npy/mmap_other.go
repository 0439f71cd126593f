//go:build !unix

package npy

import "os"

// The store maps its arrays with mmap(2); without it, Create and Open fail
// up front rather than falling back to copies that would not be shared
// between processes.
const mmapSupported = false

func mapFile(*os.File, int, bool) ([]byte, error) { return nil, errNoMmap }

func unmap([]byte) error { return errNoMmap }

func syncMapping([]byte) error { return errNoMmap }
