"""Split work that NumPy runs on one core over the batch, across as many threads as BLAS may use.

NumPy hands matrix products to BLAS, which uses several cores; copies and elementwise
passes (im2col, col2im, pooling) run on one. They are independent per sample, and NumPy
releases the GIL inside them, so running them on slices of the batch in a few threads
uses the other cores too::

    def copy(start, stop):                 # samples [start, stop)
        cols[start:stop] = patches[start:stop]

    threads.over_batch(copy, n)            # one contiguous block of samples per thread

The thread count follows the BLAS thread limit in force — as read by threadpoolctl, so
``threadpool_limits(1)`` makes every part of a step run on one core. Without threadpoolctl
(an optional dependency), or on CuPy (the GPU parallelizes each operation itself), the
work runs in the calling thread, unchanged. The result never depends on the thread count:
each sample is computed the same way, by one thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

from . import backend

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

__all__ = ["over_batch", "thread_count"]

#: fewer samples than this per thread are not worth a thread's start-up (tens of µs)
MIN_SAMPLES_PER_THREAD = 2

#: None until looked up; False when threadpoolctl is not installed
_controller: ThreadpoolController | Literal[False] | None = None
_pool: ThreadPoolExecutor | None = None


def thread_count() -> int:
    """The number of threads ``over_batch`` uses now: the BLAS limit in force, else 1."""
    global _controller
    if backend.name() != "numpy":
        return 1
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    if not _controller:
        return 1
    blas = [lib for lib in _controller.lib_controllers if lib.user_api == "blas"]
    return max(1, min(lib.num_threads for lib in blas)) if blas else 1


def over_batch(work: Callable[[int, int], object], n: int) -> None:
    """Call ``work(start, stop)`` on contiguous blocks covering samples 0 … n−1, one per thread.

    ``work`` must write only to its own samples. With one thread this is ``work(0, n)``.
    """
    global _pool
    threads = min(thread_count(), n // MIN_SAMPLES_PER_THREAD)
    if threads <= 1:
        work(0, n)
        return
    if _pool is None or _pool._max_workers < threads - 1:
        _pool = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="nanograd_ad")
    bounds = [n * t // threads for t in range(threads + 1)]
    futures = [_pool.submit(work, bounds[t], bounds[t + 1]) for t in range(1, threads)]
    work(bounds[0], bounds[1])  # the first block in the calling thread
    for future in futures:
        future.result()  # re-raises an exception from a worker
