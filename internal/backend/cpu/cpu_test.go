package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/backend/backendtest"
	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/gemm"
)

// TestCPU runs the conformance suite on every GEMM kernel this CPU runs
// (gemm.Available: the generic one everywhere, avx2 and avx512 where the
// CPU has them), each forced as TRAK_GEMM_KERNEL would force it.
func TestCPU(t *testing.T) {
	for _, k := range gemm.Available() {
		t.Run(string(k), func(t *testing.T) {
			be, err := cpu.NewKernel(2, string(k))
			if err != nil {
				t.Fatal(err)
			}
			backendtest.Run(t, be)
		})
	}
}

// TestKernelsBitwise: every GEMM kernel gives every output of the suite's
// workload bit for bit (internal/gemm's numeric contract), so which one a
// machine picks never changes a feature.
func TestKernelsBitwise(t *testing.T) {
	want := backendtest.Outputs(cpu.New(2))
	for _, k := range gemm.Available() {
		t.Run(string(k), func(t *testing.T) {
			be, err := cpu.NewKernel(2, string(k))
			if err != nil {
				t.Fatal(err)
			}
			backendtest.SameOutputs(t, want, backendtest.Outputs(be))
		})
	}
	if _, err := cpu.NewKernel(2, "sse9"); err == nil || !strings.Contains(err.Error(), "generic") {
		t.Errorf("unknown kernel: error %v, want one listing the available kernels", err)
	}
}

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
	if got, want := cpu.New(3).Name(), fmt.Sprintf("cpu (%s gemm, 3 threads)", gemm.Best()); got != want {
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

// TestGemmRowsIndependentOfBatch: a row of a product with a shared weight
// (a linear layer) has the same bits whatever the number of rows beside it,
// for both layouts of the weight; featurize relies on it for results that
// do not depend on the batch.
func TestGemmRowsIndependentOfBatch(t *testing.T) {
	be := cpu.New(2)
	rng := rand.New(rand.NewPCG(4, 4))
	const k, n = 37, 29
	rows := make([]float32, 70*k)
	for i := range rows {
		rows[i] = float32(rng.NormFloat64())
	}
	w := make([]float32, k*n)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for _, tB := range []bool{false, true} {
		wt := be.Upload(w, n, k)
		if !tB {
			wt = be.Upload(w, k, n)
		}
		var ref []float32
		for _, m := range []int{1, 2, 31, 32, 33, 70} {
			c := be.New(m, n)
			be.Gemm(false, tB, 1, be.Upload(rows[:m*k], m, k), wt, 0, c)
			got := make([]float32, m*n)
			be.Download(got, c)
			if ref == nil {
				ref = got[:n]
				continue
			}
			for j := range n {
				if math.Float32bits(got[j]) != math.Float32bits(ref[j]) {
					t.Fatalf("tB=%t: row 0 with %d rows differs from row 0 alone at column %d", tB, m, j)
				}
			}
		}
	}
}
