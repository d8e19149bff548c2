"""Shared fixtures: every test starts on the NumPy backend with float32 defaults."""
import numpy as np
import pytest

from nanograd_ad import backend, init


@pytest.fixture(autouse=True)
def _numpy_backend():
    backend.use("numpy")
    backend.set_default_dtype("float32")
    init.seed(0)
    yield
    backend.use("numpy")
    backend.set_default_dtype("float32")


def distinct_values(rng, shape, spacing=0.01):
    """Values on a grid, shuffled: no two closer than ``spacing`` (no max-pool ties, no kinks near 0)."""
    n = int(np.prod(shape))
    grid = (np.arange(n) - n / 2 + 0.5) * spacing
    return rng.permutation(grid).reshape(shape)
