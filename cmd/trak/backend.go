package main

import (
	"fmt"
	"os"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/device"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/gemm"
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
func openBackend(threads int) (backend.Backend, error) {
	kernel, _, err := gemmKernel()
	if err != nil {
		return nil, err
	}
	return device.Open(computeDevice, threads, string(kernel))
}

// gemmKernel returns the CPU's GEMM kernel: the one TRAK_GEMM_KERNEL names
// (forced is then true), or the fastest this CPU runs. Forcing one changes
// speed only: every kernel computes the same bits.
func gemmKernel() (kernel gemm.Kernel, forced bool, err error) {
	name := os.Getenv(config.EnvGemmKernel)
	kernel, err = gemm.ParseKernel(name)
	if err != nil {
		return "", false, fmt.Errorf("%s=%s: %w", config.EnvGemmKernel, name, err)
	}
	return kernel, name != "", nil
}
