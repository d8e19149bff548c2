"""The array backend: NumPy on the CPU or CuPy on a GPU, chosen once.

Every compute module (layers, activations, losses, network, feedback, optimizers)
takes its array module from here as ``backend.xp`` — looked up at call time, so a
later ``use("cupy")`` reaches code that was imported earlier::

    from nanograd_ad import backend
    backend.use("numpy")             # the default
    y = backend.xp.zeros((2, 3), dtype=backend.default_dtype())

Random numbers for weights are drawn with NumPy on the host and copied over with
:func:`asarray`, so a seed gives the same network on either backend.
"""

from __future__ import annotations

import numpy

__all__ = [
    "BackendError",
    "asarray",
    "default_dtype",
    "is_array",
    "name",
    "set_default_dtype",
    "to_numpy",
    "use",
    "xp",
]

#: The array module in use (``numpy`` or ``cupy``). Read it as ``backend.xp``.
xp = numpy
_name = "numpy"
_dtype = numpy.float32


class BackendError(RuntimeError):
    """A backend was requested that this machine cannot provide."""


def use(backend_name: str) -> None:
    """Select the array module: ``"numpy"`` (CPU) or ``"cupy"`` (GPU).

    Raises :class:`BackendError` when CuPy is not installed, or is installed but
    finds no GPU, saying which of the two it is.
    """
    global xp, _name
    if backend_name == "numpy":
        xp, _name = numpy, "numpy"
        return
    if backend_name != "cupy":
        raise ValueError(f"backend must be 'numpy' or 'cupy', got {backend_name!r}")
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
    xp, _name = cupy, "cupy"


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
    """Bring an array back to the host as a NumPy array (a device→host copy under CuPy)."""
    if isinstance(x, numpy.ndarray):
        return x
    if hasattr(x, "get"):
        return x.get()
    return numpy.asarray(x)


def is_array(x) -> bool:
    """True when ``x`` is an array of the current backend (or NumPy)."""
    return isinstance(x, (numpy.ndarray, xp.ndarray))
