package main

import (
	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/device"
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
	return device.Open(computeDevice, threads)
}
