"""The batch-split helper: covers every sample once, follows the BLAS thread limit, falls
back to the calling thread without threadpoolctl, and never changes a result."""

import builtins
import threading

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad.fast import threads

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64])
def test_over_batch_covers_every_sample_once(n):
    seen = np.zeros(n, dtype=int)
    lock = threading.Lock()

    def work(start, stop):
        with lock:
            seen[start:stop] += 1

    with threadpoolctl.threadpool_limits(2):
        threads.over_batch(work, n)
    np.testing.assert_array_equal(seen, np.ones(n, dtype=int))


def test_thread_count_follows_the_blas_limit_in_force():
    with threadpoolctl.threadpool_limits(1):
        assert threads.thread_count() == 1
        callers = set()
        threads.over_batch(lambda start, stop: callers.add(threading.get_ident()), 64)
        assert callers == {threading.get_ident()}  # one core: everything in the calling thread
    with threadpoolctl.threadpool_limits(2):
        assert threads.thread_count() == 2


def test_without_threadpoolctl_the_work_runs_in_the_calling_thread(monkeypatch):
    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError("threadpoolctl is not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    monkeypatch.setattr(threads, "_controller", None)
    assert threads.thread_count() == 1
    calls = []
    threads.over_batch(lambda start, stop: calls.append((start, stop)), 10)
    assert calls == [(0, 10)]


def test_a_step_is_bit_identical_on_one_thread_and_on_two():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 8)
    results = []
    for count in (1, 2):
        ng.seed(0)
        net = ng.Sequential(
            ng.Conv2D(3, 4, 3, padding=1), ng.ReLU(), ng.MaxPool2D(2), ng.Flatten(), ng.Dense(64, 4)
        )
        loss = ng.SoftmaxCrossEntropy()
        with threadpoolctl.threadpool_limits(count):
            loss.forward(net(x), y)
            dx = net.backward(loss.backward())
        results.append([dx] + [p.grad for p in net.parameters()])
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize(("n", "block"), [(1, 4), (7, 3), (64, 7), (5, 10)])
def test_over_blocks_calls_the_same_blocks_whatever_the_threads(count, n, block):
    calls, limits, lock = [], [], threading.Lock()

    def work(start, stop):
        with lock:
            calls.append((start, stop))
            limits.append(threads.thread_count())

    with threadpoolctl.threadpool_limits(count):
        threads.over_blocks(work, n, block)
        assert threads.thread_count() == count  # the limit is lifted afterwards
    assert sorted(calls) == [(start, min(start + block, n)) for start in range(0, n, block)]
    shared = count > 1 and n > block  # several blocks, several threads
    assert set(limits) == ({1} if shared else {count})  # then BLAS on one thread inside each block


def test_over_blocks_shares_the_samples_out_evenly_and_reraises_a_workers_error():
    callers: dict[int, int] = {}
    lock = threading.Lock()

    def work(start, stop):
        with lock:
            callers[threading.get_ident()] = callers.get(threading.get_ident(), 0) + stop - start

    with threadpoolctl.threadpool_limits(2):
        threads.over_blocks(work, 64, 7)  # blocks start at 0, 7, …, 63: 35 samples and 29
        assert sorted(callers.values()) == [29, 35]

        def fails(start, stop):
            if start > 0:
                raise RuntimeError(f"block {start}")

        with pytest.raises(RuntimeError, match="block"):
            threads.over_blocks(fails, 8, 2)
        assert threads.thread_count() == 2  # lifted after an error too


def test_two_callers_inside_the_one_thread_limit_at_once_leave_the_blas_limit_as_it_was():
    """Two threads of the user's in over_blocks at once, entering A, B and leaving A, B: the
    second finds the first's limit of 1, and the limit in force before is the limit after."""
    with threadpoolctl.threadpool_limits(2):
        threads.thread_count()  # threadpoolctl looked up
        first, second = threads._one_blas_thread(), threads._one_blas_thread()
        first.__enter__()
        assert threads.thread_count() == 1
        second.__enter__()
        first.__exit__(None, None, None)
        assert threads.thread_count() == 1  # the second is still inside
        second.__exit__(None, None, None)
        assert threads.thread_count() == 2


def test_two_threads_sharing_blocks_at_once_get_every_block_and_the_limit_back():
    calls, lock = [], threading.Lock()

    def work(start, stop):
        with lock:
            calls.append((threading.current_thread().name, start))

    def caller():
        for _ in range(50):
            threads.over_blocks(work, 8, 2)

    with threadpoolctl.threadpool_limits(2):
        callers = [threading.Thread(target=caller, name=f"caller{i}") for i in range(2)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join(timeout=60)
        assert threads.thread_count() == 2
    assert len(calls) == 2 * 50 * 4  # 4 blocks a call


@pytest.mark.parametrize("patch_bytes", [2**12, 2**21])
def test_a_fast_convolution_step_is_bit_identical_on_one_thread_and_on_two(monkeypatch, patch_bytes):
    """Conv2D's blocks (several per thread with 4 KiB of patches; one with 2 MiB) give the
    same z, ∂C/∂x and gradients on one thread and on two, and the reference's to rounding."""
    from nanograd_ad import fast
    from nanograd_ad.fast import layers as fast_layers

    monkeypatch.setattr(fast_layers, "PATCH_BYTES", patch_bytes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 3, 8, 8)).astype(np.float32)  # 9: blocks of uneven size
    y = rng.integers(0, 4, 9)
    results = []
    for wing, count in ((fast, 1), (fast, 2), (ng, 1)):
        ng.seed(0)
        net = ng.Sequential(
            wing.Conv2D(3, 4, 3, padding=1),
            wing.ReLU(),
            wing.Conv2D(4, 5, 3, stride=2, padding=1),
            wing.MaxPool2D(2),
            wing.Flatten(),
            wing.Dense(20, 4),
        )
        loss = ng.SoftmaxCrossEntropy()
        with threadpoolctl.threadpool_limits(count):
            out = net(x)
            loss.forward(out, y)
            dx = net.backward(loss.backward())
        results.append([out, dx] + [p.grad for p in net.parameters()])
    for one, two, reference in zip(*results):
        np.testing.assert_array_equal(one, two)
        np.testing.assert_allclose(one, reference, rtol=1e-5, atol=1e-6)


def test_a_large_relu_split_over_threads_gives_the_references_bits():
    """A convolution-sized ReLU (≥ SPLIT_BYTES, a channels-last NCHW view): a, its layout and
    δ^l on one thread and on two are the reference's, bit for bit (NaN and −0 included)."""
    from nanograd_ad import fast

    rng = np.random.default_rng(1)
    z = rng.standard_normal((16, 64, 64, 8)).astype(np.float32)  # NHWC memory, 2 MiB
    z[0, 0, 0, :3] = [np.nan, -0.0, 0.0]
    z = z.transpose(0, 3, 1, 2)  # seen as NCHW, as Conv2D returns it
    delta = rng.standard_normal(z.shape).astype(np.float32)
    assert z.nbytes >= threads.SPLIT_BYTES
    reference = ng.ReLU()
    expected_a, expected_dx = reference(z), reference.backward(delta)
    for count in (1, 2):
        layer = fast.ReLU()
        with threadpoolctl.threadpool_limits(count):
            a = layer(z)
            dx = layer.backward(delta)
        assert a.strides == expected_a.strides  # laid out like z, as the reference's
        np.testing.assert_array_equal(a, expected_a)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(expected_a))
        np.testing.assert_array_equal(dx, expected_dx)


def test_the_core_imports_without_threadpoolctl():
    """A fresh interpreter where threadpoolctl cannot be imported still imports the core and
    runs a convolution step on one thread."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['threadpoolctl'] = None\n"
        "import numpy as np, nanograd_ad as ng\n"
        "from nanograd_ad.fast import threads\n"
        "assert threads.thread_count() == 1\n"
        "net = ng.Sequential(ng.Conv2D(1, 2, 3), ng.ReLU(), ng.MaxPool2D(2))\n"
        "out = net(np.ones((4, 1, 6, 6), np.float32))\n"
        "assert net.backward(np.ones_like(out), input_grad=False) is None\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("count", [1, 2])
def test_with_sample_bytes_each_thread_works_on_cache_sized_sub_blocks(count):
    calls, lock = [], threading.Lock()

    def work(start, stop):
        with lock:
            calls.append((start, stop))

    with threadpoolctl.threadpool_limits(count):
        threads.over_batch(work, 20, sample_bytes=threads.CACHE_BYTES // 3)  # 3 samples fill the cache
    seen = np.zeros(20, dtype=int)
    for start, stop in calls:
        assert 1 <= stop - start <= 3, calls
        seen[start:stop] += 1
    np.testing.assert_array_equal(seen, np.ones(20, dtype=int))
    # a sample larger than the cache still comes one at a time
    calls.clear()
    threads.over_batch(work, 4, sample_bytes=10 * threads.CACHE_BYTES)
    assert sorted(calls) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def _fresh(code: str, **env: str):
    """Run code in a fresh interpreter (with extra environment variables); returns its stdout."""
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**environment, **env}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_nanograd_ad_first_shortens_the_openblas_wait_and_says_so():
    out = _fresh(
        "import os, nanograd_ad\n"
        "print(os.environ['OPENBLAS_THREAD_TIMEOUT']); print(nanograd_ad.threads.blas_wait())"
    )
    value, line = out.splitlines()
    assert value == "4" and "set by nanograd_ad before NumPy loaded" in line, out


def test_the_user_s_openblas_wait_is_kept_and_numpy_first_is_reported():
    out = _fresh(
        "import os, nanograd_ad\n"
        "print(os.environ['OPENBLAS_THREAD_TIMEOUT']); print(nanograd_ad.threads.blas_wait())",
        OPENBLAS_THREAD_TIMEOUT="7",
    )
    assert out.splitlines() == ["7", "OPENBLAS_THREAD_TIMEOUT=7 (from the environment)"], out
    out = _fresh("import numpy, nanograd_ad\nprint(nanograd_ad.threads.blas_wait())")
    assert "NumPy was imported before nanograd_ad" in out and "export OPENBLAS_THREAD_TIMEOUT=4" in out, out
