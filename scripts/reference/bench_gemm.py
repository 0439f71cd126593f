#!/usr/bin/env python3
"""float32 GEMM throughput of numpy's BLAS, the anchor for trak's own GEMM.

Prints one line per shape, "gemm M N K GFLOP/s", then the BLAS library that
numpy loaded (read from /proc/self/maps after the first product) and, for
OpenBLAS, the kernel family it picked (openblas_get_corename). Threads
follow OPENBLAS_NUM_THREADS / OMP_NUM_THREADS as usual.

Usage: /usr/bin/python3 scripts/reference/bench_gemm.py [M,N,K ...]
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blas_info import blas_libraries  # noqa: E402

DEFAULT_SHAPES = ["1024,1024,1024", "256,256,256", "400,3072,768", "768,768,50", "16,128,64"]


def gflops(m, n, k, min_seconds=1.0):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    for _ in range(3):
        a @ b
    reps, elapsed = 0, 0.0
    start = time.perf_counter()
    while elapsed < min_seconds:
        a @ b
        reps += 1
        elapsed = time.perf_counter() - start
    return 2.0 * m * n * k * reps / elapsed / 1e9


def main():
    shapes = sys.argv[1:] or DEFAULT_SHAPES
    for s in shapes:
        m, n, k = (int(x) for x in s.split(","))
        print(f"gemm {m} {n} {k} {gflops(m, n, k):.1f} GFLOP/s", flush=True)
    paths, core = blas_libraries()
    print("blas: " + (", ".join(paths) or "none found"))
    if core:
        print(f"openblas core: {core}")
    else:
        print("openblas core: (not OpenBLAS, or unknown)")


if __name__ == "__main__":
    main()
