"""Split work that NumPy runs on one core over the batch, across as many threads as BLAS may use.

NumPy hands matrix products to BLAS, which uses several cores; copies and elementwise
passes (im2col, col2im, pooling) run on one. They are independent per sample, and NumPy
releases the GIL inside them, so running them on slices of the batch in a few threads
uses the other cores too::

    def copy(start, stop):                 # samples [start, stop)
        cols[start:stop] = patches[start:stop]

    threads.over_batch(copy, n)            # one contiguous block of samples per thread

A work that passes over its samples several times (pooling's kernel offsets, col2im's
additions) says how many bytes one sample touches; each thread then calls it on
sub-blocks of about ``CACHE_BYTES``, so the second pass reads what the first left in
the cache instead of main memory (pooling at batch 64: 7.1 → 3.9 ms on one core)::

    threads.over_batch(pool, n, sample_bytes=x[0].nbytes)

OpenBLAS's own worker threads busy-wait after each matrix product — 2^28 cycles (≈ 0.1 s)
by default — before they sleep. On a two-core machine one of them then spins on the core
these threads need, and the split work barely gains (the reference CNN's step at batch 64
on two threads: 87 ms, vs 73 ms with the wait at 2^4 cycles; ``bench_cnn.py --threads 2``,
three runs each). So ``import nanograd_ad`` sets ``OPENBLAS_THREAD_TIMEOUT=4`` unless the
user set it. OpenBLAS reads it once, when NumPy loads it: import nanograd_ad before
NumPy, or export the variable; :func:`blas_wait` says which holds. It changes no result.

The thread count follows the BLAS thread limit in force — as read by threadpoolctl, so
``threadpool_limits(1)`` makes every part of a step run on one core. Without threadpoolctl
(an optional dependency), or on CuPy (the GPU parallelizes each operation itself), the
work runs in the calling thread, unchanged. The result never depends on the thread count:
each sample is computed the same way, by one thread.

A convolution's products are split the same way (:func:`over_blocks`): each thread cuts
the patches of its own blocks of samples and multiplies them on one BLAS thread, instead of
every product being split by BLAS across the cores. A product of a few thousand rows by
32–64 columns is too narrow for BLAS's threads to gain much — they meet after every panel —
while a block per thread needs them to meet once per layer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Literal

from .. import backend
from . import _openblas

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

__all__ = ["SPLIT_BYTES", "blas_wait", "elementwise", "over_batch", "over_blocks", "thread_count"]

#: fewer samples than this per thread are not worth a thread's start-up (tens of µs)
MIN_SAMPLES_PER_THREAD = 2

#: the bytes a sub-block of samples should touch (a core's L2 is 0.5–2 MiB)
CACHE_BYTES = 2**21

#: :func:`elementwise` splits a pass whose output holds at least this many bytes; below it
#: (every array of the AD tables' ensembles) the thread hand-off would cost more than it saves
SPLIT_BYTES = 2**20

#: None until looked up; False when threadpoolctl is not installed
_controller: ThreadpoolController | Literal[False] | None = None
_pool: ThreadPoolExecutor | None = None
#: guards the pool's creation and the one-BLAS-thread limit of :func:`over_blocks`
_lock = threading.Lock()
#: how many over_blocks calls (from any threads) are inside the limit now, and its limiter
_limited = 0
_limiter = None


def _shared_pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool of worker threads, grown to at least ``workers``."""
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nanograd_ad")
        return _pool


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside, the limit found on the first entry restored on the last exit:
    two threads of the user's, each inside over_blocks at once, never leave it at one."""
    global _limited, _limiter
    assert _controller  # only called where thread_count() > 1: threadpoolctl was found
    with _lock:
        if _limited == 0:
            _limiter = _controller.limit(limits=1, user_api="blas")
        _limited += 1
    try:
        yield
    finally:
        with _lock:
            _limited -= 1
            if _limited == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def blas_wait() -> str:
    """One line: how long OpenBLAS's idle worker threads busy-wait in this process, and why."""
    if _openblas.USER_VALUE is not None:
        return f"OPENBLAS_THREAD_TIMEOUT={_openblas.USER_VALUE} (from the environment)"
    if _openblas.NUMPY_LOADED_FIRST:
        return (
            "OpenBLAS's default busy-wait (2^28 cycles): NumPy was imported before nanograd_ad; "
            f"import nanograd_ad first or export OPENBLAS_THREAD_TIMEOUT={_openblas.THREAD_TIMEOUT}"
        )
    return f"OPENBLAS_THREAD_TIMEOUT={_openblas.THREAD_TIMEOUT} (set by nanograd_ad before NumPy loaded)"


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


def _in_threads(share: Callable[[int, int], object], n: int, threads: int) -> None:
    """Call ``share(start, stop)`` on [n·t/T, n·(t+1)/T) for t = 0 … T−1, the first in the calling
    thread and the others in the pool; returns when every thread is done, re-raising an error."""
    pool = _shared_pool(threads - 1)
    bounds = [n * t // threads for t in range(threads + 1)]
    futures = [pool.submit(share, bounds[t], bounds[t + 1]) for t in range(1, threads)]
    try:
        share(bounds[0], bounds[1])  # the first share in the calling thread
    finally:
        wait(futures)  # no worker still writes when this returns or raises
    for future in futures:
        future.result()  # re-raises an exception from a worker


def over_batch(work: Callable[[int, int], object], n: int, sample_bytes: int = 0) -> None:
    """Call ``work(start, stop)`` on contiguous blocks covering samples 0 … n−1, one per thread.

    ``work`` must write only to its own samples. With one thread this is ``work(0, n)``.
    With ``sample_bytes`` > 0 each thread's block is cut into sub-blocks of
    ⌊CACHE_BYTES / sample_bytes⌋ samples (at least one), called one after another.
    """
    chunk = max(1, CACHE_BYTES // sample_bytes) if sample_bytes > 0 else max(1, n)  # n = 0: no call

    def blocks(start: int, stop: int) -> None:
        for first in range(start, stop, chunk):
            work(first, min(first + chunk, stop))

    threads = min(thread_count(), n // MIN_SAMPLES_PER_THREAD)
    if threads <= 1:
        blocks(0, n)
        return
    _in_threads(blocks, n, threads)


def over_blocks(work: Callable[[int, int], object], n: int, block: int) -> None:
    """Call ``work(start, stop)`` on the blocks [0, block), [block, 2·block), … of samples 0 … n−1,
    shared out across threads, BLAS on one thread inside each.

    The blocks are the same whatever the number of threads (a sum over blocks is then summed
    in the same order); thread t takes the blocks that start in [n·t/T, n·(t+1)/T), so the
    threads get about the same number of samples. While they run, the BLAS thread limit is 1
    (each thread's products run in that thread, and a nested :func:`over_batch` runs inline);
    it is restored afterwards — by the last of several threads of the user's that were inside
    at once. With one thread this is the plain loop over the blocks.
    """
    block = max(1, block)
    starts = list(range(0, n, block))
    threads = min(thread_count(), len(starts))
    if threads <= 1:
        for start in starts:
            work(start, min(start + block, n))
        return

    def run(first: int, last: int) -> None:  # the blocks starting in [first, last)
        for start in starts:
            if first <= start < last:
                work(start, min(start + block, n))

    with _one_blas_thread():
        _in_threads(run, n, threads)


def elementwise(ufunc: Callable, *operands, out):
    """``ufunc(*operands, out=out)``, split over the leading axis across threads when ``out``
    holds at least ``SPLIT_BYTES``; returns out.

    Each operand is an array with out's leading length, or a scalar. Every entry is computed
    by the same operation whichever thread computes it, so the result is the same bits as
    the single call's.
    """
    if out.nbytes < SPLIT_BYTES:
        return ufunc(*operands, out=out)

    def part(start: int, stop: int) -> None:
        pieces = [a[start:stop] if getattr(a, "ndim", 0) else a for a in operands]
        ufunc(*pieces, out=out[start:stop])

    over_batch(part, out.shape[0])
    return out
