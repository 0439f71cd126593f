//go:build cuda

// Package gpu is trak's CUDA compute backend, built with -tags cuda into the
// trak-cuda binary. It drives the GPU through the CUDA driver API
// (gorgonia.org/cu), loads its kernels as PTX compiled from kernels/*.cu
// (committed, so building needs no nvcc; the driver JIT-compiles them for
// the GPU at hand), and loads cuBLAS at run time from whichever
// libcublas.so the machine has, so one binary works across CUDA versions.
//
// What exists so far is the tool chain and its self-test (`trak-cuda
// doctor`): the projection kernel against the CPU's definition, bit for
// bit, and cuBLAS SGEMM against the CPU. The backend.Backend
// implementation that runs the CLIP model is the next step.
package gpu

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/projection"
)

//go:embed kernels/project.ptx
var projectPTX string

// Built reports whether this binary contains the CUDA backend.
func Built() bool { return true }

// New returns the CUDA backend on device ordinal.
func New(ordinal int) (backend.Backend, error) {
	return nil, errors.New("the CUDA compute backend for the CLIP model is not implemented yet: trak-cuda runs its self-test (trak-cuda doctor); use --device cpu for featurize")
}

// Device is an initialised GPU with trak's kernels loaded.
type Device struct {
	dev  cu.Device
	ctx  cu.CUContext
	mod  cu.Module
	Name string
	CC   [2]int
	Mem  int64
}

// Open initialises device ordinal and loads the kernels.
func Open(ordinal int) (*Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("count CUDA devices: %w", err)
	}
	if ordinal >= n {
		return nil, fmt.Errorf("CUDA device %d requested, %d present", ordinal, n)
	}
	d := &Device{}
	if d.dev, err = cu.GetDevice(ordinal); err != nil {
		return nil, err
	}
	if d.Name, err = d.dev.Name(); err != nil {
		return nil, err
	}
	if d.CC[0], d.CC[1], err = d.dev.ComputeCapability(); err != nil {
		return nil, err
	}
	if d.Mem, err = d.dev.TotalMem(); err != nil {
		return nil, err
	}
	if d.ctx, err = d.dev.MakeContext(cu.SchedAuto); err != nil {
		return nil, fmt.Errorf("create CUDA context: %w", err)
	}
	if d.mod, err = cu.LoadData(projectPTX); err != nil {
		return nil, fmt.Errorf("load the projection kernels (PTX): %w", err)
	}
	return d, nil
}

// RademacherBlock returns rows [row0, row0+rows) × k of P computed on the
// GPU, row-major.
// Only the rademacher kind is implemented on the GPU: another kind (normal,
// sjlt, none) is refused rather than silently computed as rademacher.
func (d *Device) RademacherBlock(p *projection.Projector, row0 uint64, rows int) ([]float32, error) {
	if p.Kind() != projection.Rademacher {
		return nil, fmt.Errorf("the GPU generates only projector %q entries, not %q: use --device cpu", projection.Rademacher, p.Kind())
	}
	k := p.Dim()
	fn, err := d.mod.Function("rademacher_block")
	if err != nil {
		return nil, err
	}
	bytes := int64(rows * k * 4)
	out, err := cu.MemAlloc(bytes)
	if err != nil {
		return nil, err
	}
	defer cu.MemFree(out)
	key := p.Key()
	ld, nrows, kk := int32(k), int32(rows), int32(k)
	scale := float32(1 / math.Sqrt(float64(k)))
	args := []unsafe.Pointer{
		unsafe.Pointer(&out), unsafe.Pointer(&ld), unsafe.Pointer(&key[0]), unsafe.Pointer(&key[1]),
		unsafe.Pointer(&row0), unsafe.Pointer(&nrows), unsafe.Pointer(&kk), unsafe.Pointer(&scale),
	}
	threads := rows * ((k + 127) / 128)
	if err := fn.LaunchAndSync((threads+255)/256, 1, 1, 256, 1, 1, 0, cu.Stream{}, args); err != nil {
		return nil, fmt.Errorf("launch rademacher_block: %w", err)
	}
	host := make([]float32, rows*k)
	if err := cu.MemcpyDtoH(unsafe.Pointer(&host[0]), out, bytes); err != nil {
		return nil, err
	}
	return host, nil
}

// Doctor prints the device, driver and cuBLAS facts and runs the
// self-test: projection entries bit for bit against the CPU, and SGEMM
// against a float64 CPU product, with achieved GFLOP/s and GB/s.
func Doctor(w io.Writer) error {
	fmt.Fprintf(w, "cuda driver version   %d\n", cu.Version())
	d, err := Open(0)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "device 0              %s, compute capability %d.%d, %.1f GB\n", d.Name, d.CC[0], d.CC[1], float64(d.Mem)/1e9)

	// Projection: the GPU's entries must equal projection.Entry exactly.
	start := time.Now()
	const rows, k = 1024, 2048
	p, err := projection.New(projection.Spec{Kind: projection.Rademacher, Dim: k, Seed: 7, ModelID: 3, NumParams: 1 << 40}, 1)
	if err != nil {
		return err
	}
	row0 := uint64(1)<<32 - 100 // across the 32-bit boundary of the row counter
	got, err := d.RademacherBlock(p, row0, rows)
	if err != nil {
		return err
	}
	mismatch := 0
	for i := range rows {
		for c := range k {
			if math.Float32bits(got[i*k+c]) != math.Float32bits(p.Entry(int64(row0)+int64(i), c)) {
				mismatch++
			}
		}
	}
	fmt.Fprintf(w, "projection kernel     %d × %d entries, %d differ from the CPU (%s)\n", rows, k, mismatch, time.Since(start).Round(time.Millisecond))
	if mismatch > 0 {
		return fmt.Errorf("self-test: %d projection entries differ from the CPU's", mismatch)
	}

	blas, err := loadCublas()
	if err != nil {
		fmt.Fprintf(w, "cublas                not loaded: %v\n", err)
		return err
	}
	fmt.Fprintf(w, "cublas                %s, version %d\n", blas.path, blas.version)
	return sgemmSelfTest(w, blas)
}

// sgemmSelfTest multiplies random matrices with cuBLAS and compares with a
// float64 product: |error| ≤ k·2⁻²³·Σ|a||b| per element (float32
// accumulation bound with a factor-2 margin), then times a large SGEMM.
func sgemmSelfTest(w io.Writer, b *cublas) error {
	rng := rand.New(rand.NewPCG(1, 1))
	const m, n, k = 96, 80, 130
	a, bb := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range bb {
		bb[i] = float32(rng.NormFloat64())
	}
	c, err := b.sgemm(m, n, k, a, bb)
	if err != nil {
		return err
	}
	worst := 0.0
	for i := range m {
		for j := range n {
			var s, bound float64
			for l := range k {
				s += float64(a[i*k+l]) * float64(bb[l*n+j])
				bound += math.Abs(float64(a[i*k+l]) * float64(bb[l*n+j]))
			}
			bound *= k * math.Pow(2, -23)
			worst = math.Max(worst, math.Abs(float64(c[i*n+j])-s)/bound)
		}
	}
	fmt.Fprintf(w, "sgemm %d×%d×%d        largest error / bound %.3g\n", m, n, k, worst)
	if worst > 1 {
		return fmt.Errorf("self-test: cuBLAS SGEMM differs from the CPU beyond its bound")
	}
	// Batched: the per-example weight gradients' shape, 7 × (33×17)·(17×29).
	const batch, bm, bn, bk = 7, 33, 29, 17
	ba, bb2 := make([]float32, batch*bm*bk), make([]float32, batch*bk*bn)
	for i := range ba {
		ba[i] = float32(rng.NormFloat64())
	}
	for i := range bb2 {
		bb2[i] = float32(rng.NormFloat64())
	}
	bc, err := b.sgemmBatched(batch, bm, bn, bk, ba, bb2)
	if err != nil {
		return err
	}
	worst = 0
	for t := range batch {
		for i := range bm {
			for j := range bn {
				var s, bound float64
				for l := range bk {
					x := float64(ba[t*bm*bk+i*bk+l]) * float64(bb2[t*bk*bn+l*bn+j])
					s += x
					bound += math.Abs(x)
				}
				bound *= bk * math.Pow(2, -23)
				worst = math.Max(worst, math.Abs(float64(bc[t*bm*bn+i*bn+j])-s)/bound)
			}
		}
	}
	fmt.Fprintf(w, "batched sgemm %d×(%d×%d×%d) largest error / bound %.3g\n", batch, bm, bn, bk, worst)
	if worst > 1 {
		return fmt.Errorf("self-test: cuBLAS batched SGEMM differs from the CPU beyond its bound")
	}
	gflops, gbs, err := b.benchmark(4096)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "sgemm 4096³           %.0f GFLOP/s; host→device copy %.1f GB/s\n", gflops, gbs)
	return nil
}
