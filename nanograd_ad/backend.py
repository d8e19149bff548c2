"""The array backend: NumPy on the CPU or CuPy on a GPU, chosen once.

Every compute module (layers, activations, losses, network, feedback, optimizers)
takes its array module from here as ``backend.xp`` — looked up at call time, so a
later ``use("cupy")`` reaches code that was imported earlier::

    from nanograd_ad import backend
    backend.use("numpy")             # the default
    y = backend.xp.zeros((2, 3), dtype=backend.default_dtype())

Random numbers for weights are drawn with NumPy on the host and copied over with
:func:`asarray`, so a seed gives the same network on either backend.

Crossing between host and device is always explicit: :func:`asarray` copies host → device,
:func:`to_numpy` device → host (CuPy's own ``cupy.asnumpy``), and :func:`array_backend`
says where an array lives. A network moves with ``net.to("cupy")`` / ``net.to("numpy")``.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeGuard

import numpy

__all__ = [
    "Array",
    "BackendError",
    "DeviceMismatchError",
    "array_backend",
    "asarray",
    "default_dtype",
    "is_array",
    "module",
    "move",
    "name",
    "set_default_dtype",
    "to_numpy",
    "use",
    "xp",
]

#: An array of the backend in use: a ``numpy.ndarray``, or a ``cupy.ndarray`` on the GPU. The
#: same code runs on both and CuPy ships no type stubs, so for the type checker an array is
#: ``Any``: the name says what a value is, and ``Array | None`` still makes mypy check the
#: None case. The arithmetic itself is checked by the tests, on both backends.
Array: TypeAlias = Any

#: The array module in use (``numpy`` or ``cupy``). Read it as ``backend.xp``.
xp = numpy
_name = "numpy"
_dtype = numpy.float32
_device = None  # the CuPy module (or a CuPy-compatible stand-in) once "cupy" was selected


class BackendError(RuntimeError):
    """A backend was requested that this machine cannot provide."""


class DeviceMismatchError(TypeError):
    """Arrays of the two backends met (host NumPy and device CuPy): the message names the move."""


def use(backend_name: str, module=None) -> None:
    """Select the array module: ``"numpy"`` (CPU) or ``"cupy"`` (GPU).

    ``module`` replaces ``import cupy`` with a CuPy-compatible module: the tests' strict
    CPU stand-in (``tests/strict_cupy.py``) is selected this way, through the same path.
    Raises :class:`BackendError` when CuPy is not installed, or is installed but finds no
    GPU, saying which of the two it is.
    """
    global xp, _name
    if backend_name == "numpy":
        xp, _name = numpy, "numpy"
        return
    if backend_name != "cupy":
        raise ValueError(f"backend must be 'numpy' or 'cupy', got {backend_name!r}")
    xp, _name = _load_device(module), "cupy"


def _load_device(module=None):
    """The CuPy module (imported and checked for a GPU once), or ``module`` when given."""
    global _device
    if module is not None:
        _device = module
        return module
    if _device is not None:
        return _device
    try:
        import cupy
    except ImportError as err:
        raise BackendError(
            "backend 'cupy' requested but CuPy is not installed "
            "(pip install 'nanograd_ad[gpu]', a CuPy build matching your CUDA): "
            f"{err}"
        ) from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise BackendError(
            f"backend 'cupy' requested: CuPy is installed but no GPU is usable ({err})"
        ) from err
    if count < 1:
        raise BackendError("backend 'cupy' requested: CuPy is installed but no GPU is present")
    _device = cupy
    return cupy


def module(backend_name: str):
    """The array module of ``"numpy"`` or ``"cupy"`` (loading CuPy if needed), without selecting it."""
    if backend_name == "numpy":
        return numpy
    if backend_name != "cupy":
        raise ValueError(f"backend must be 'numpy' or 'cupy', got {backend_name!r}")
    return _load_device()


def name() -> str:
    """The name of the backend in use: ``"numpy"`` or ``"cupy"``."""
    return _name


def default_dtype():
    """The floating dtype new arrays get (float32 unless changed)."""
    return _dtype


def set_default_dtype(dtype) -> None:
    """Set the default float dtype: ``"float32"`` or ``"float64"`` (e.g. for gradcheck)."""
    global _dtype
    resolved = numpy.dtype(dtype)
    if resolved not in (numpy.float32, numpy.float64):
        raise ValueError(f"dtype must be float32 or float64, got {resolved}")
    _dtype = resolved.type


def asarray(x, dtype=None):
    """Put ``x`` on the current backend (a host→device copy under CuPy)."""
    return xp.asarray(x, dtype=dtype)


def to_numpy(x) -> numpy.ndarray:
    """Bring an array back to the host as a NumPy array (a device→host copy under CuPy:
    ``cupy.asnumpy``, one sync)."""
    if isinstance(x, numpy.ndarray):
        return x
    if _device is not None and isinstance(x, _device.ndarray):
        return _device.asnumpy(x)
    if hasattr(x, "get"):
        return x.get()
    return numpy.asarray(x)


def is_array(x) -> TypeGuard[Array]:
    """True when ``x`` is an array of the current backend (or NumPy)."""
    return isinstance(x, (numpy.ndarray, xp.ndarray))


def array_backend(x) -> str | None:
    """Where an array lives: ``"numpy"`` (host), ``"cupy"`` (device), or None (not an array)."""
    if isinstance(x, numpy.ndarray):
        return "numpy"
    if _device is not None and isinstance(x, _device.ndarray):
        return "cupy"
    return None


def move(value, backend_name: str):
    """``value`` with every array in it on ``backend_name`` (``"numpy"`` or ``"cupy"``).

    Arrays are copied across (host→device or device→host) only when they live elsewhere;
    lists, tuples and dicts are rebuilt around the moved arrays; anything else is returned
    as it is. The building block of ``Sequential.to`` and ``Optimizer.to``.
    """
    target = module(backend_name)
    where = array_backend(value)
    if where is not None:
        if where == backend_name:
            return value
        return to_numpy(value) if backend_name == "numpy" else target.asarray(value)
    if isinstance(value, dict):
        moved = {k: move(v, backend_name) for k, v in value.items()}
        unchanged = all(moved[k] is v for k, v in value.items())
        return value if unchanged else type(value)(moved)
    if isinstance(value, (list, tuple)):
        moved_items = [move(v, backend_name) for v in value]
        unchanged = all(m is v for m, v in zip(moved_items, value))
        return value if unchanged else type(value)(moved_items)
    return value
