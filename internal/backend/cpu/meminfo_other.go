//go:build !linux

package cpu

import "github.com/trak-dev/trak/internal/backend"

// memInfo reports zeros: the machine's memory is only read on Linux.
func memInfo() backend.MemInfo { return backend.MemInfo{} }
