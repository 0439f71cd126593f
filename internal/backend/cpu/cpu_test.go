package cpu_test

import (
	"fmt"
	"testing"

	"github.com/trak-dev/trak/internal/backend/backendtest"
	"github.com/trak-dev/trak/internal/backend/cpu"
)

func TestCPU(t *testing.T) { backendtest.Run(t, cpu.New(2)) }

// TestThreadsBitwise checks that every output is bitwise identical
// whatever the number of threads (the inputs are large enough for every
// kernel to be split).
func TestThreadsBitwise(t *testing.T) {
	want := backendtest.Outputs(cpu.New(1))
	for _, n := range []int{2, 3, 8} {
		t.Run(fmt.Sprintf("threads=%d", n), func(t *testing.T) {
			backendtest.SameOutputs(t, want, backendtest.Outputs(cpu.New(n)))
		})
	}
}

func TestName(t *testing.T) {
	if got, want := cpu.New(3).Name(), "cpu (gonum blas32, 3 threads)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if cpu.New(0).Threads() < 1 {
		t.Errorf("New(0) has %d threads", cpu.New(0).Threads())
	}
}

func BenchmarkGemmLinear(b *testing.B) {
	backendtest.BenchGemm(b, cpu.New(0), backendtest.GemmLinear)
}

func BenchmarkGemmLinearT(b *testing.B) {
	backendtest.BenchGemm(b, cpu.New(0), backendtest.GemmLinearT)
}

func BenchmarkGemmPerExampleWeight(b *testing.B) {
	backendtest.BenchGemm(b, cpu.New(0), backendtest.GemmPerExampleWeight)
}

func BenchmarkGemmAttention(b *testing.B) {
	backendtest.BenchGemm(b, cpu.New(0), backendtest.GemmAttention)
}

func BenchmarkRowOps(b *testing.B) { backendtest.BenchRowOps(b, cpu.New(0)) }
