"""Shared fixtures: every test starts on the NumPy backend with float32 defaults.

Tests marked ``grading`` (nbgrader grading every lesson, tests/test_course.py) are the second
step of the test command, ``pytest -m grading``; the default run skips them.
"""

import pickle

import numpy as np
import pytest

from nanograd_ad import backend, init


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A folder holding one kernelspec, ``nanograd-ad-lessons``, that runs sys.executable."""
    from lesson_kernel import write_kernel_dirs

    return write_kernel_dirs(tmp_path_factory.mktemp("kernels"))


@pytest.fixture(scope="session")
def executed_lessons(kernel_dirs, tmp_path_factory):
    """Every lesson's solution notebook, executed at most once per test session (quick mode,
    planted mistakes injected): ``executed_lessons[path]`` → ``lesson_kernel.ExecutedLesson``
    (``.nb``, ``.workdir``, ``.figures``, ``.seconds``). The lesson tests read it; so may others."""
    from lesson_kernel import ExecutedLessons

    return ExecutedLessons(kernel_dirs, tmp_path_factory.mktemp)


def pytest_collection_modifyitems(config, items):
    """Skip ``grading`` tests unless the run selects them (``-m grading``)."""
    if "grading" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="the grading step: run `pytest -m grading` (a second step)")
    for item in items:
        if "grading" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _numpy_backend(monkeypatch):
    monkeypatch.setattr(backend, "_device", None)  # a test's device module never leaks to the next
    backend.use("numpy")
    backend.set_default_dtype("float32")
    init.seed(0)
    yield
    backend.use("numpy")
    backend.set_default_dtype("float32")


@pytest.fixture
def strict_device():
    """The strict CuPy stand-in selected as the "cupy" backend; yields its crossing counters."""
    import strict_cupy

    backend.use("cupy", module=strict_cupy)
    strict_cupy.counts.reset()
    yield strict_cupy.counts
    backend.use("numpy")


def distinct_values(rng, shape, spacing=0.01):
    """Values on a grid, shuffled: no two closer than ``spacing`` (no max-pool ties, no kinks near 0)."""
    n = int(np.prod(shape))
    grid = (np.arange(n) - n / 2 + 0.5) * spacing
    return rng.permutation(grid).reshape(shape)


def write_fake_cifar10(folder, per_batch=20, test=20, seed=0):
    """Tiny stand-in for the official CIFAR-10 python pickles (random pixels; labels cycle
    0..9 in file order): five data batches and a test batch of the official keys."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, count in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        batch = {
            b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(count)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def write_fake_cifar100(folder, train=40, test=20, seed=0):
    """Tiny stand-in for the official CIFAR-100 python pickles (random pixels; fine labels
    cycle 0..99 and coarse labels 0..19 in file order): ``train`` and ``test`` files."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, count in [("train", train), ("test", test)]:
        batch = {
            b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            b"fine_labels": [i % 100 for i in range(count)],
            b"coarse_labels": [i % 20 for i in range(count)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
