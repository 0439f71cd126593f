//go:build !cuda

// Package gpu is trak's CUDA compute backend: with the cuda build tag it is
// the implementation of backend.Backend on an NVIDIA GPU, in the role that
// internal/backend/cpu has on the host, and programs open it through
// internal/backend/device. This file is the stub of a build without the
// cuda tag: the default trak binary never links CUDA (a
// binary that does cannot even start on a machine without a GPU), and
// `trak --device cuda` hands the command to trak-cuda, the -tags cuda build.
package gpu

import (
	"io"

	"github.com/trak-dev/trak/internal/backend"
)

// Built reports whether this binary contains the CUDA backend.
func Built() bool { return false }

// New returns the CUDA backend on device ordinal; here, ErrNotBuilt.
func New(ordinal int) (backend.Backend, error) { return nil, ErrNotBuilt }

// Doctor reports on the GPU; a build without CUDA has nothing to add.
func Doctor(io.Writer) error { return nil }
