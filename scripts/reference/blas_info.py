"""Which BLAS a Python process is using, for the benchmark anchors.

Debian's numpy and torch call whatever libblas.so.3 the alternatives system
points at (reference BLAS, or OpenBLAS once libopenblas0-pthread is
installed); the figures mean little without knowing which.
"""

import ctypes


def blas_libraries():
    """The BLAS libraries mapped into this process (call after a matrix
    product, so that the library is loaded) and, for OpenBLAS, the kernel
    family it picked for this CPU ("" otherwise)."""
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})
    for p in paths:
        if "openblas" in p:
            try:
                fn = ctypes.CDLL(p).openblas_get_corename
                fn.restype = ctypes.c_char_p
                return paths, fn().decode()
            except (OSError, AttributeError):
                pass
    return paths, ""
