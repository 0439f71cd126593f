// Package gemm multiplies float32 matrices: C = alpha·op(A)·op(B) + beta·C,
// row-major, op(X) = X or Xᵀ, in Go assembly on amd64 and in pure Go
// elsewhere, without cgo.
//
// # Numeric contract
//
// Every result is defined exactly, so it is reproducible bit for bit. Let
// fma32(x, y, z) be x·y+z rounded once to float32 (round to nearest even).
// K is cut into blocks of KC = 256 (a constant, part of the definition). For
// each element c_ij:
//
//	c := 0 if beta == 0 (C is not read), else float32(beta·c_ij)
//	for each K block q = [q0, q1) in ascending order:
//		t := +0
//		for l := q0; l < q1; l++ { t = fma32(op(A)_il, op(B)_lj, t) }
//		c = fma32(alpha, t, c)
//	c_ij = c
//
// With k == 0 this leaves c_ij = beta·c_ij (0 when beta == 0). There are no
// special cases for alpha == 0 or beta == 1 beyond what the formula gives.
// Consequently a row of C depends only on its row of op(A), on op(B), on its
// row of C, alpha and beta: never on m, n, the row's position, the leading
// dimensions, the number of threads or the kernel. Which elements are NaN is
// part of the contract; the NaN payload is not (hardware and Go pick payloads
// differently).
//
// # Kernels
//
// AVX2 is a 6×16 micro-kernel in assembly (twelve ymm accumulators, one
// VFMADD231PS per accumulator and l). AVX512 is the same kernel on zmm
// registers, 6×32, generated from the same template (gen_kernels.go); the
// development machines cannot run it, so the first use in a process (New,
// Available, Best, ParseKernel) runs a self-check: every variant of the
// micro-kernel (row counts, edge shapes, K remainders, update modes, packed
// and in-place A) against the contract tile by tile, then whole products
// against Generic. If any bit differs it is unavailable (New fails, Best
// falls back to AVX2). The same self-check passes for AVX2 and Generic in
// the tests. Generic is the same algorithm in Go with a software fma32 that is
// correctly rounded (round to odd in float64, then to float32), so it gives
// the same bits as the hardware; it is the fallback on CPUs without AVX2+FMA
// and on other architectures, and on amd64 two orders of magnitude slower.
// On arm64 the compiler turns its float32 x*y + z into one FMADDS, which
// rounds once like fma32, so there it writes the FMA that way (fused.go,
// checked at start-up and by TestFusedFMA under qemu-aarch64) and runs at
// scalar hardware speed.
//
// All kernels share one GotoBLAS-style driver: op(B) is packed into
// zero-padded panels of NR columns per K block, except when the product has
// few rows or B is small, where B is read in place; op(A) is packed into
// panels of MR rows per K block and row block when it is reused by enough B
// panels to pay for the copy, and read in place otherwise. On edge
// tiles the kernel reads and writes only the valid part of C (masked loads
// and stores) and skips rows and vectors that lie wholly outside it; every
// element it stores went through exactly the FMAs of a full tile, so edges
// follow the contract like all others. beta is applied by the first K
// block's update, so with beta == 0 C is never read.
//
// # Threads
//
// Threads split C, never K. For each column block and K block (in
// ascending K order) the packed B is shared, and units of work (a row block
// times a chunk of B panels) are handed out dynamically to at most Threads()
// goroutines, the caller's included; every element is updated by exactly one
// unit per K block with the same arithmetic, so the split and the scheduling
// cannot change results. Products with m·n·k below 2^18 run on the calling
// goroutine without starting any; SgemmBatch runs many such products side by
// side instead, one per goroutine, with the same results. Packing buffers come from a sync.Pool owned
// by the Gemm. A Gemm is immutable and safe for concurrent use. The package
// reads no environment: choosing a kernel (ParseKernel) is the caller's
// business.
package gemm
