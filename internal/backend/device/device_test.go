package device_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/backend/device"
	"github.com/trak-dev/trak/internal/gpu"
)

func TestOpenCPU(t *testing.T) {
	b, err := device.Open("cpu", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := b.(*cpu.Backend)
	if !ok {
		t.Fatalf("Open(cpu) = %T, want *cpu.Backend", b)
	}
	if c.Threads() != 3 {
		t.Errorf("threads = %d, want 3", c.Threads())
	}
}

func TestOpenCUDA(t *testing.T) {
	if gpu.Built() {
		t.Skip("a CUDA build: the GPU backend's own tests cover it")
	}
	for _, name := range []string{"cuda", "cuda:1"} {
		_, err := device.Open(name, 0, "")
		if !errors.Is(err, gpu.ErrNotBuilt) {
			t.Errorf("Open(%q) error = %v, want gpu.ErrNotBuilt", name, err)
		} else if !strings.Contains(err.Error(), "trak-cuda") {
			t.Errorf("Open(%q) error %q does not name trak-cuda", name, err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, name := range []string{"", "auto", "gpu", "CPU", "cuda:", "cuda:-1", "cuda:x", "cudax"} {
		if b, err := device.Open(name, 0, ""); err == nil {
			t.Errorf("Open(%q) = %v, want an error", name, b)
		}
	}
}

// TestOpenGemmKernel: the CPU device runs the GEMM kernel it is given, and
// a name this CPU cannot run is refused with the ones it can.
func TestOpenGemmKernel(t *testing.T) {
	b, err := device.Open("cpu", 1, "generic")
	if err != nil || !strings.Contains(b.Name(), "generic gemm") {
		t.Fatalf("Open(cpu, generic) = %v, %v", b, err)
	}
	if _, err := device.Open("cpu", 1, "sse9"); err == nil || !strings.Contains(err.Error(), "available") {
		t.Errorf("Open(cpu, sse9) error = %v, want one listing the available kernels", err)
	}
}
