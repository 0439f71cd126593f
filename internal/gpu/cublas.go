//go:build cuda

package gpu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef int (*create_fn)(void **);
typedef int (*version_fn)(void *, int *);
typedef int (*sgemm_fn)(void *, int, int, int, int, int, const float *, const void *, int, const void *, int, const float *, void *, int);
typedef int (*sgemm_batched_fn)(void *, int, int, int, int, int, const float *, const void *, int, long long, const void *, int, long long, const float *, void *, int, long long, int);

static int trak_create(void *f, void **h) { return ((create_fn)f)(h); }
static int trak_version(void *f, void *h, int *v) { return ((version_fn)f)(h, v); }
// Device addresses travel as integers: they are not Go memory.
static int trak_sgemm(void *f, void *h, int m, int n, int k, float alpha, unsigned long long a, unsigned long long b, float beta, unsigned long long c) {
	// Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: swap the operands.
	return ((sgemm_fn)f)(h, 0, 0, n, m, k, &alpha, (const void *)b, n, (const void *)a, k, &beta, (void *)c, n);
}
// Batched row-major C[i] = A[i]·B[i] over batch strided matrices.
static int trak_sgemm_batched(void *f, void *h, int m, int n, int k, float alpha, unsigned long long a, unsigned long long b, float beta, unsigned long long c, int batch) {
	return ((sgemm_batched_fn)f)(h, 0, 0, n, m, k, &alpha, (const void *)b, n, (long long)k * n,
		(const void *)a, k, (long long)m * k, &beta, (void *)c, n, (long long)m * n, batch);
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"gorgonia.org/cu"
)

// cublas is a cuBLAS library loaded with dlopen.
type cublas struct {
	path    string
	version int
	handle  unsafe.Pointer
	sgemmFn unsafe.Pointer
	batched unsafe.Pointer // cublasSgemmStridedBatched, nil if absent
}

// cublasCandidates lists where libcublas may be: $TRAK_CUBLAS first, then
// the loader's search path by soname, then the usual install locations,
// including the wheels PyTorch environments ship.
func cublasCandidates() []string {
	var out []string
	if p := os.Getenv("TRAK_CUBLAS"); p != "" {
		out = append(out, p)
	}
	for _, v := range []string{"13", "12", "11"} {
		out = append(out, "libcublas.so."+v)
	}
	out = append(out, "libcublas.so")
	for _, pattern := range []string{
		"/usr/local/cuda*/lib64/libcublas.so*",
		"/usr/lib/x86_64-linux-gnu/libcublas.so*",
		"/usr/local/lib/python3*/*-packages/nvidia/cublas/lib/libcublas.so*",
		"/usr/lib/python3*/*-packages/nvidia/cublas/lib/libcublas.so*",
		"/opt/conda/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so*",
		"/root/.local/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so*",
	} {
		matches, _ := filepath.Glob(pattern)
		out = append(out, matches...)
	}
	return out
}

func loadCublas() (*cublas, error) {
	var tried []string
	for _, path := range cublasCandidates() {
		cpath := C.CString(path)
		lib := C.dlopen(cpath, C.RTLD_NOW|C.RTLD_GLOBAL)
		C.free(unsafe.Pointer(cpath))
		if lib == nil {
			tried = append(tried, path)
			continue
		}
		sym := func(name string) unsafe.Pointer {
			cname := C.CString(name)
			defer C.free(unsafe.Pointer(cname))
			return C.dlsym(lib, cname)
		}
		create, version, sgemm := sym("cublasCreate_v2"), sym("cublasGetVersion_v2"), sym("cublasSgemm_v2")
		if create == nil || sgemm == nil {
			tried = append(tried, path+" (no cublasCreate_v2/cublasSgemm_v2)")
			continue
		}
		b := &cublas{path: path, sgemmFn: sgemm, batched: sym("cublasSgemmStridedBatched")}
		if st := C.trak_create(create, &b.handle); st != 0 {
			return nil, fmt.Errorf("cublasCreate in %s: status %d", path, int(st))
		}
		if version != nil {
			var v C.int
			C.trak_version(version, b.handle, &v)
			b.version = int(v)
		}
		return b, nil
	}
	return nil, fmt.Errorf("no cuBLAS library found (tried %s): set TRAK_CUBLAS to the path of libcublas.so.N", strings.Join(tried, ", "))
}

// sgemm computes the row-major product A (m×k) · B (k×n) on the GPU.
func (b *cublas) sgemm(m, n, k int, a, bm []float32) ([]float32, error) {
	return b.products(1, m, n, k, a, bm)
}

// sgemmBatched computes batch row-major products A[i] (m×k) · B[i] (k×n),
// the matrices stored one after the other.
func (b *cublas) sgemmBatched(batch, m, n, k int, a, bm []float32) ([]float32, error) {
	if b.batched == nil {
		return nil, fmt.Errorf("%s has no cublasSgemmStridedBatched", b.path)
	}
	return b.products(batch, m, n, k, a, bm)
}

// products uploads the operands, multiplies them with cublasSgemm (one
// product) or cublasSgemmStridedBatched, and downloads the result.
func (b *cublas) products(batch, m, n, k int, a, bm []float32) ([]float32, error) {
	da, db, dc, err := b.alloc(batch*m*k, batch*k*n, batch*m*n)
	if err != nil {
		return nil, err
	}
	defer cu.MemFree(da)
	defer cu.MemFree(db)
	defer cu.MemFree(dc)
	if err := cu.MemcpyHtoD(da, unsafe.Pointer(&a[0]), int64(4*len(a))); err != nil {
		return nil, err
	}
	if err := cu.MemcpyHtoD(db, unsafe.Pointer(&bm[0]), int64(4*len(bm))); err != nil {
		return nil, err
	}
	var st C.int
	if batch == 1 {
		st = C.trak_sgemm(b.sgemmFn, b.handle, C.int(m), C.int(n), C.int(k), 1, C.ulonglong(da), C.ulonglong(db), 0, C.ulonglong(dc))
	} else {
		st = C.trak_sgemm_batched(b.batched, b.handle, C.int(m), C.int(n), C.int(k), 1, C.ulonglong(da), C.ulonglong(db), 0, C.ulonglong(dc), C.int(batch))
	}
	if st != 0 {
		return nil, fmt.Errorf("cuBLAS SGEMM (batch %d): status %d", batch, int(st))
	}
	c := make([]float32, batch*m*n)
	if err := cu.MemcpyDtoH(unsafe.Pointer(&c[0]), dc, int64(4*len(c))); err != nil {
		return nil, err
	}
	return c, nil
}

func (b *cublas) alloc(sizes ...int) (cu.DevicePtr, cu.DevicePtr, cu.DevicePtr, error) {
	var ptrs [3]cu.DevicePtr
	for i, s := range sizes {
		p, err := cu.MemAlloc(int64(4 * s))
		if err != nil {
			for _, q := range ptrs[:i] {
				cu.MemFree(q)
			}
			return 0, 0, 0, err
		}
		ptrs[i] = p
	}
	return ptrs[0], ptrs[1], ptrs[2], nil
}

// benchmark times an n³ SGEMM (after a warm-up) and a host→device copy.
func (b *cublas) benchmark(n int) (gflops, gbs float64, err error) {
	da, db, dc, err := b.alloc(n*n, n*n, n*n)
	if err != nil {
		return 0, 0, err
	}
	defer cu.MemFree(da)
	defer cu.MemFree(db)
	defer cu.MemFree(dc)
	host := make([]float32, n*n)
	start := time.Now()
	if err := cu.MemcpyHtoD(da, unsafe.Pointer(&host[0]), int64(4*len(host))); err != nil {
		return 0, 0, err
	}
	gbs = float64(4*len(host)) / time.Since(start).Seconds() / 1e9
	run := func() error {
		if st := C.trak_sgemm(b.sgemmFn, b.handle, C.int(n), C.int(n), C.int(n), 1, C.ulonglong(da), C.ulonglong(db), 0, C.ulonglong(dc)); st != 0 {
			return fmt.Errorf("cublasSgemm: status %d", int(st))
		}
		return cu.Synchronize()
	}
	if err := run(); err != nil {
		return 0, 0, err
	}
	const reps = 10
	start = time.Now()
	for range reps {
		if err := run(); err != nil {
			return 0, 0, err
		}
	}
	return 2 * float64(n) * float64(n) * float64(n) * reps / time.Since(start).Seconds() / 1e9, gbs, nil
}
