package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestFusedFMA: where the compiler is known to fuse float32 x*y + z
// (arm64), the start-up check confirms it, so the Generic kernel runs the
// hardware FMA; and the Generic kernel gives the same bits both ways on
// random products (tolerance 0: both compute fma32). Run it on arm64 with
// `GOARCH=arm64 go test -c` and qemu-aarch64 where there is no arm64
// machine.
func TestFusedFMA(t *testing.T) {
	t.Logf("GOARCH %s: compiler fuses %t, Generic kernel uses the fused form %t", runtime.GOARCH, compilerFuses, fusedFMA)
	if compilerFuses && !fusedFMA {
		t.Errorf("float32 x*y + z no longer compiles to one rounding on %s: the Generic kernel falls back to emulating it", runtime.GOARCH)
	}
	g, err := New(Generic, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 9))
	saved := fusedFMA
	defer func() { fusedFMA = saved }()
	for range 20 {
		o := newOperands(rng, rng.IntN(2) == 0, rng.IntN(2) == 0, 1+rng.IntN(40), 1+rng.IntN(40), 1+rng.IntN(600), rng.IntN(3), 1, 0, false)
		fusedFMA = false
		emulated := o.run(g)
		fusedFMA = compilerFuses
		if i := sameBits(o.run(g), emulated); i >= 0 {
			t.Fatalf("element %d differs between the fused and the emulated FMA", i)
		}
	}
}
