// Package device opens the compute backend a command asks for by name. It
// is the one place that knows every implementation of backend.Backend:
// internal/backend/cpu on the host and internal/gpu (built with the cuda
// tag, in trak-cuda) on an NVIDIA GPU.
//
// The factory is a package of its own because package backend cannot import
// its implementations (they import it); importing both here, rather than
// having them register themselves in a table filled by init functions,
// keeps the choice explicit: no global state, no blank imports to forget,
// and the compiler sees every backend a binary can open.
package device

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/gpu"
)

// The device names Open takes.
const (
	CPU  = "cpu"  // the host: backend/cpu
	CUDA = "cuda" // GPU 0; "cuda:N" names GPU N (internal/gpu, trak-cuda)
)

// Open returns the backend for device: "cpu" gives the CPU backend, whose
// kernels run on threads goroutines (all CPUs when threads ≤ 0) and whose
// matrix products run gemmKernel (internal/gemm's names; "" picks the
// fastest this CPU runs); "cuda" or
// "cuda:N" gives the CUDA backend on GPU 0 or N, which exists only in a
// binary built with the cuda tag (trak-cuda): elsewhere the error says how
// to get one. threads does not apply to the GPU. "auto" is not a device
// here: the command resolves it (to a hand-off to trak-cuda, or to "cpu")
// before it opens a backend.
func Open(device string, threads int, gemmKernel string) (backend.Backend, error) {
	switch {
	case device == CPU:
		b, err := cpu.NewKernel(threads, gemmKernel)
		if err != nil {
			return nil, fmt.Errorf("open device %s: %w", device, err)
		}
		return b, nil
	case device == CUDA || strings.HasPrefix(device, CUDA+":"):
		ordinal := 0
		if rest, ok := strings.CutPrefix(device, CUDA+":"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("device %q: the GPU number after %q must be a whole number ≥ 0", device, CUDA+":")
			}
			ordinal = n
		}
		b, err := gpu.New(ordinal)
		if err != nil {
			return nil, fmt.Errorf("open device %s: %w", device, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown device %q: want %s, %s or %s:N", device, CPU, CUDA, CUDA)
}
