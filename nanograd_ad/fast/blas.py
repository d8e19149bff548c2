"""Prime the BLAS on import, so the convolutions' products run at full speed from the first step.

``nanograd_ad.fast`` runs :func:`prime_blas` once when it is imported (the package imports it).
"""

from __future__ import annotations

import numpy  # host side: two small products on the CPU, whatever the backend

__all__ = ["PRIME_COLUMNS", "PRIME_INNER", "PRIME_ROWS", "prime_blas"]


#: prime_blas's product, (PRIME_ROWS, PRIME_INNER) · (PRIME_INNER, PRIME_COLUMNS): more output
#: columns than any OpenBLAS kernel's block of rows (GEMM_P ≤ 768 on x86), so the B panels
#: are packed side by side, PRIME_INNER · PRIME_ROWS values of them (64 KiB in float32)
PRIME_ROWS, PRIME_INNER, PRIME_COLUMNS = 64, 256, 1024


def prime_blas() -> None:
    """Write the BLAS's packing workspace once, so that later products never prefetch into
    pages the process has not touched yet. Run once on import; harmless to run again.

    A product C = A B is computed by packing a block of A (the workspace's ``sa``) and
    panels of B (its ``sb``) and multiplying them with a small kernel. OpenBLAS's
    kernels prefetch the *next* B panel while they multiply the current one; when C has
    no more columns than one block of rows (GEMM_P, 320 for float32 on Haswell; NumPy's
    row-major C is OpenBLAS's column-major Cᵀ), the panels are all packed into the first
    one's place, and that prefetch points at ``sb`` pages no product has written yet. A
    prefetch to a page that is not mapped is not an error, but each one costs a failed
    page walk (≈ 100 ns measured, vs 5 ns to a mapped page, under a KVM guest), and
    nothing is cached for the next. Two of the reference CNN's convolution products are
    of that shape with a long inner dimension: on one thread, measured in a fresh
    process, ∂C/∂W₂ = δ₂ᵀ cols ((64×16384)·(16384×288)) took 60 ms and
    z₂ = cols W₂ᵀ 33 ms, against 19 and 19 ms once any wider product (here
    (64×256)·(256×1024)) had packed its panels side by side and so written those pages —
    they stay mapped for the life of the process. ``benchmarks/bench_blas_prime.py``
    measures it. The two products here (float32, float64: their ``sb`` start at
    different offsets) took 3–16 ms together (one thread, load average 6); with another
    BLAS, or on CuPy, they are just two small products on the host.
    """
    for dtype in (numpy.float32, numpy.float64):
        a = numpy.ones((PRIME_ROWS, PRIME_INNER), dtype)
        b = numpy.ones((PRIME_INNER, PRIME_COLUMNS), dtype)
        a @ b
