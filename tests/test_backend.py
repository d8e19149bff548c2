"""Backend selection, dtypes, and the rule that compute modules never import numpy/cupy."""

import ast
import importlib.util
import pathlib

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import backend
from nanograd_ad.fast import blas

COMPUTE_MODULES = [
    "layers",
    "activations",
    "losses",
    "network",
    "feedback",
    "optim",
    "amplify",
    "ics",
    "models",
    "fast/layers",
    "fast/activations",
    "fast/threads",
]
PACKAGE = pathlib.Path(ng.__file__).parent


@pytest.mark.parametrize("module", COMPUTE_MODULES)
def test_compute_modules_import_neither_numpy_nor_cupy(module):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"numpy", "cupy"}, f"{module}.py imports {imported & {'numpy', 'cupy'}}"


def test_cupy_request_says_what_is_missing():
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(ng.BackendError, match="CuPy is not installed"):
            backend.use("cupy")
    else:
        try:
            backend.use("cupy")
        except ng.BackendError as err:
            assert "no GPU" in str(err)
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'cupy', got 'jax'"):
        backend.use("jax")
    assert backend.name() == "numpy"


def test_default_dtype_float32_and_float64_on_request():
    assert ng.Dense(2, 2).weight.data.dtype == np.float32
    backend.set_default_dtype("float64")
    assert ng.Dense(2, 2).weight.data.dtype == np.float64
    with pytest.raises(ValueError, match="float32 or float64"):
        backend.set_default_dtype("int32")


def test_to_numpy_returns_host_arrays():
    x = backend.asarray([1.0, 2.0])
    assert isinstance(backend.to_numpy(x), np.ndarray)


def test_prime_blas_runs_on_the_host_and_leaves_the_device_alone(strict_device):
    before = strict_device.snapshot()
    assert blas.prime_blas() is None
    assert strict_device.snapshot() == before
    assert backend.name() == "cupy"


def test_prime_blas_product_packs_its_b_panels_side_by_side():
    # OpenBLAS packs B panels side by side (writing the workspace the kernels prefetch
    # from) only when the product has more columns than one block of rows, GEMM_P: at
    # most 768 on x86. They must cover the next-panel prefetch of a full-depth product:
    # 2 panels of 12 columns × GEMM_Q = 320 values (Haswell float32).
    assert blas.PRIME_COLUMNS > 768
    assert blas.PRIME_INNER * blas.PRIME_ROWS >= 2 * 12 * 320
