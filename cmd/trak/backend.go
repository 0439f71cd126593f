package main

import (
	"fmt"
	"os"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/device"
	"github.com/trak-dev/trak/internal/config"
)

// computeDevice is the device a computing command (featurize, score,
// train, demo) opens its backend on. --device chooses between computing in
// this process and handing the command to trak-cuda (root.go); the model's
// CUDA backend is not implemented yet, so the process that computes uses
// the host.
const computeDevice = device.CPU

// openBackend opens the compute backend a command runs its model on, with
// threads goroutines (every core when threads ≤ 0). It is the one place
// that chooses it; the packages below take the backend they are given.
// TRAK_GEMM_KERNEL forces the CPU's GEMM kernel (speed only: every kernel
// computes the same bits).
func openBackend(threads int) (backend.Backend, error) {
	kernel := os.Getenv(config.EnvGemmKernel)
	b, err := device.Open(computeDevice, threads, kernel)
	if err != nil && kernel != "" {
		return nil, fmt.Errorf("%s=%s: %w", config.EnvGemmKernel, kernel, err)
	}
	return b, err
}
