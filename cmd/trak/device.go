package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/gpu"
	"github.com/trak-dev/trak/internal/sysinfo"
)

// cudaBinary is the name of the -tags cuda build that `--device cuda`
// hands commands to.
const cudaBinary = "trak-cuda"

// The devices --device takes.
const (
	deviceAuto = "auto"
	deviceCPU  = "cpu"
	deviceCUDA = "cuda"
)

// exitCodeError carries the exit status of a command run in trak-cuda.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("trak-cuda exited with status %d", e.code) }

// findCUDABinary looks for trak-cuda next to this executable, then on PATH.
func findCUDABinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), cudaBinary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return exec.LookPath(cudaBinary)
}

// resolveDevice decides where a command runs. It returns the trak-cuda
// path when the command must be handed off, "" to run here on the CPU, and
// a note for stderr when auto falls back although a GPU seemed present.
func resolveDevice(device string) (handoff, note string, err error) {
	switch device {
	case deviceCPU:
		return "", "", nil
	case deviceCUDA, deviceAuto:
	default:
		return "", "", usageErrorf("--device must be auto, cpu or cuda, got %q", device)
	}
	// A process started by a hand-off runs the command itself, whatever it
	// finds, so that a misinstalled trak-cuda (a CPU build under that name)
	// cannot start itself again and again.
	if gpu.Built() || os.Getenv(config.EnvHandoff) != "" {
		return "", "", nil
	}
	nv, err := readNVIDIA()
	if err != nil {
		return "", "", err
	}
	bin, binErr := findCUDABinary()
	switch {
	case device == deviceCUDA && nv.Driver == "":
		return "", "", errors.New("--device cuda: no NVIDIA driver is loaded (/proc/driver/nvidia/version is missing): install the driver, or use --device cpu")
	case device == deviceCUDA && len(nv.Devices) == 0:
		return "", "", errors.New("--device cuda: the NVIDIA driver is loaded but no /dev/nvidiaN device is visible (container without GPU access?): use --device cpu")
	case device == deviceCUDA && binErr != nil:
		return "", "", fmt.Errorf("--device cuda needs %s, trak's CUDA build, next to trak or on PATH: %w; build it with `go build -tags cuda -o trak-cuda ./cmd/trak` on a machine with the CUDA toolkit", cudaBinary, gpu.ErrNotBuilt)
	case device == deviceCUDA:
		return bin, "", nil
	case nv.Driver != "" && len(nv.Devices) > 0 && binErr == nil:
		return bin, "", nil
	case nv.Driver != "" && binErr != nil:
		return "", "note: an NVIDIA GPU is present but trak-cuda is not installed; running on the CPU (--device cpu silences this)", nil
	}
	return "", "", nil
}

// runHandoff runs the same command line in trak-cuda, with the same
// streams, and returns its exit status as an error when it fails.
func runHandoff(bin string, args []string, io *IOStreams) error {
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = io.In, io.Out, io.ErrOut
	cmd.Env = append(os.Environ(), config.EnvHandoff+"=1")
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitCodeError{code: ee.ExitCode()}
	}
	return err
}

// readNVIDIA reports the NVIDIA driver and devices; binaries built with
// -tags trak_testhooks can fake them (testhooks_on.go).
func readNVIDIA() (sysinfo.NVIDIA, error) {
	if nv, ok, err := fakeNVIDIA(); ok {
		return nv, err
	}
	return sysinfo.ReadNVIDIA(), nil
}
