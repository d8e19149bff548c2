"""A strict, CPU-only stand-in for CuPy: CuPy's rules about the host, enforced, and counted.

CuPy keeps arrays in GPU memory. Crossing to the host is explicit and costs a wait for
the GPU (a *sync*): ``float(a)``, ``bool(a)``, ``int(a)``, ``a.item()`` read one scalar;
``a.get()`` / ``cupy.asnumpy(a)`` copy an array device→host; ``cupy.asarray(host)`` copies
host→device. Everything else is refused, as CuPy refuses it:

* ``numpy.asarray(device_array)`` (implicit conversion): ``TypeError``;
* mixing a device array with a NumPy array in an operation, an assignment or a
  function call: ``TypeError``;
* a NumPy function applied to a device array (stricter than CuPy, which would dispatch
  it: host code should never be handed device arrays);
* a NumPy array used as an index (stricter than CuPy, which would copy it over silently);
* ``broadcast_to`` and the other array functions on a Python scalar (CuPy's take device
  arrays only).

Arrays are NumPy arrays wrapped in :class:`ndarray`; the module mirrors the part of
CuPy's namespace the library uses, and counts every crossing in :data:`counts`::

    from nanograd_ad import backend
    import strict_cupy
    backend.use("cupy", module=strict_cupy)
    strict_cupy.counts.reset()
    ...                                   # run something
    strict_cupy.counts.syncs              # scalar reads + device→host copies

A data-dependent result size (boolean-mask indexing, ``nonzero``) is counted as a sync,
since CuPy has to read the size back before it can allocate the result.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import numpy

__all__ = ["Counts", "asarray", "asnumpy", "counts", "ndarray"]


@dataclass
class Counts:
    """Host↔device crossings since the last :meth:`reset`."""

    scalar_reads: int = 0  # float(a), int(a), bool(a), a.item(), a data-dependent size
    device_to_host: int = 0  # a.get(), asnumpy(a), a.tolist(), printing an array
    host_to_device: int = 0  # asarray(host), array(host)

    @property
    def syncs(self) -> int:
        """Every point where the host waits for the device: scalar reads and copies back."""
        return self.scalar_reads + self.device_to_host

    def reset(self) -> None:
        self.scalar_reads = self.device_to_host = self.host_to_device = 0

    def snapshot(self) -> tuple[int, int, int]:
        return (self.scalar_reads, self.device_to_host, self.host_to_device)


counts = Counts()

_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. "
    "Please use `.get()` to construct a NumPy array explicitly."
)
_SCALARS = (bool, int, float, complex, numpy.generic)


def _mixing(what: str) -> TypeError:
    return TypeError(
        f"Unsupported type <class 'numpy.ndarray'> in {what}: a device array cannot be mixed with "
        "a NumPy array (move it first: backend.asarray(x), or bring the device array back with "
        "backend.to_numpy)"
    )


def _operand(value, what: str):
    """The NumPy payload of a device array, or a scalar as it is; NumPy arrays are refused."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, numpy.ndarray):
        raise _mixing(what)
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(f"Unsupported type {type(value)} in {what}")


def _wrap(value):
    """NumPy results become device arrays (a NumPy scalar becomes a 0-d device array)."""
    if isinstance(value, numpy.ndarray):
        return ndarray(value)
    if isinstance(value, numpy.generic):
        return ndarray(numpy.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _index(key):
    """An index with device arrays unwrapped; NumPy arrays refused; a boolean mask counted."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        if key.dtype == numpy.bool_:
            counts.scalar_reads += 1  # the result's size depends on the mask: CuPy reads it back
        return key._a
    if isinstance(key, numpy.ndarray):
        raise TypeError(
            "strict stand-in: a NumPy array used as an index of a device array "
            "(CuPy would copy it over silently); move it with backend.asarray(index)"
        )
    if isinstance(key, list) and any(isinstance(k, (ndarray, numpy.ndarray)) for k in key):
        raise TypeError("strict stand-in: a list of arrays used as an index")
    return key


class ndarray:
    """A device array: a NumPy array that refuses to leave, or to meet NumPy arrays, implicitly."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # NumPy defers every operator to us (and we refuse NumPy operands)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, payload: numpy.ndarray):
        if not isinstance(payload, numpy.ndarray):
            raise TypeError(f"strict stand-in: ndarray wraps a numpy.ndarray, got {type(payload)}")
        self._a = payload

    # -- refusing the host ---------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(
            f"strict stand-in: numpy.{func.__name__} called on a device array "
            "(use backend.xp, or bring it back with backend.to_numpy)"
        )

    # -- explicit crossings --------------------------------------------------------
    def get(self, stream=None, order="C", out=None) -> numpy.ndarray:
        """Device → host copy (CuPy's ``ndarray.get``)."""
        counts.device_to_host += 1
        return numpy.array(self._a, order=order, copy=True)

    def tolist(self):
        counts.device_to_host += 1
        return self._a.tolist()

    def item(self):
        counts.scalar_reads += 1
        return self._a.item()

    def __float__(self):
        counts.scalar_reads += 1
        return float(self._a)

    def __int__(self):
        counts.scalar_reads += 1
        return int(self._a)

    def __bool__(self):
        counts.scalar_reads += 1
        return bool(self._a)

    def __index__(self):
        counts.scalar_reads += 1
        return self._a.__index__()

    def __complex__(self):
        counts.scalar_reads += 1
        return complex(self._a)

    def __format__(self, spec):
        counts.scalar_reads += 1
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    def __repr__(self):
        counts.device_to_host += 1
        return repr(self._a).replace("array(", "device_array(", 1)

    __str__ = __repr__

    # -- metadata (free: it lives on the host in CuPy too) --------------------------
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: ndarray(self._a.T))
    mT = property(lambda self: ndarray(self._a.swapaxes(-1, -2)))

    @property
    def flags(self):
        return self._a.flags

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self._a)):
            yield ndarray(numpy.asarray(self._a[i])) if self._a.ndim == 1 else ndarray(self._a[i])

    # -- indexing -------------------------------------------------------------------
    def __getitem__(self, key):
        result = self._a[_index(key)]
        return _wrap(result)

    def __setitem__(self, key, value):
        self._a[_index(key)] = _operand(value, "an assignment")

    # -- methods: NumPy's, on device data -------------------------------------------
    def __getattr__(self, name):
        if name.startswith("_") or name not in _METHODS:
            raise AttributeError(f"strict stand-in: device arrays have no method {name!r} here")
        method = getattr(self._a, name)

        def call(*args, **kwargs):
            args = tuple(_argument(a, f"ndarray.{name}") for a in args)
            out = kwargs.get("out")
            kwargs = {k: _argument(v, f"ndarray.{name}") for k, v in kwargs.items()}
            result = method(*args, **kwargs)
            if out is not None:
                return out
            if name == "nonzero":
                counts.scalar_reads += 1
            return _wrap(result)

        return call

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):  # pickling would be an implicit copy back
        raise TypeError("strict stand-in: a device array cannot be pickled; use .get() first")


_METHODS = frozenset(
    [
        "sum",
        "mean",
        "max",
        "min",
        "prod",
        "std",
        "var",
        "argmax",
        "argmin",
        "any",
        "all",
        "cumsum",
        "reshape",
        "transpose",
        "swapaxes",
        "astype",
        "copy",
        "fill",
        "ravel",
        "flatten",
        "clip",
        "squeeze",
        "repeat",
        "dot",
        "conj",
        "round",
        "take",
        "nonzero",
        "sort",
        "argsort",
        "view",
    ]
)


def _argument(value, what: str):
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, numpy.ndarray):
        raise _mixing(what)
    if isinstance(value, (list, tuple)) and any(isinstance(v, (ndarray, numpy.ndarray)) for v in value):
        return type(value)(_argument(v, what) for v in value)
    return value


def _binary(name: str):
    def op(self, other):
        if isinstance(other, numpy.ndarray):
            raise _mixing(f"the operator {name}")
        if not isinstance(other, (ndarray, *_SCALARS)):
            return NotImplemented
        return _wrap(getattr(self._a, name)(_operand(other, name)))

    op.__name__ = name
    return op


def _inplace(name: str):
    def op(self, other):
        getattr(self._a, name)(_operand(other, f"the operator {name}"))
        return self

    op.__name__ = name
    return op


def _unary(name: str):
    def op(self):
        return _wrap(getattr(self._a, name)())

    op.__name__ = name
    return op


for _op in [
    "add",
    "sub",
    "mul",
    "truediv",
    "floordiv",
    "mod",
    "pow",
    "matmul",
    "and",
    "or",
    "xor",
    "lshift",
    "rshift",
    "radd",
    "rsub",
    "rmul",
    "rtruediv",
    "rfloordiv",
    "rmod",
    "rpow",
    "rmatmul",
    "rand",
    "ror",
    "rxor",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
]:
    setattr(ndarray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ["iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "iand", "ior", "ixor"]:
    setattr(ndarray, f"__{_op}__", _inplace(f"__{_op}__"))
for _op in ["neg", "pos", "abs", "invert"]:
    setattr(ndarray, f"__{_op}__", _unary(f"__{_op}__"))


# -------------------------------------------------------------------- the namespace


def asarray(a, dtype=None, order=None):
    """Host → device copy (a device array is returned as it is, or cast)."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else ndarray(a._a.astype(dtype))
    counts.host_to_device += 1
    return ndarray(numpy.array(a, dtype=dtype, order=order, copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    """A new device array from device data (a copy on the device) or host data (a transfer)."""
    if isinstance(a, ndarray):
        return ndarray(numpy.array(a._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    counts.host_to_device += 1
    return ndarray(numpy.array(a, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None) -> numpy.ndarray:
    """Device → host (CuPy's ``asnumpy``); host data is returned as NumPy unchanged."""
    if isinstance(a, ndarray):
        return a.get(order=order)
    return numpy.asarray(a, order=order)


# functions that create arrays from shapes (no data crosses)
_CREATORS = frozenset(["zeros", "ones", "empty", "full", "arange", "linspace", "eye", "identity"])
# functions whose first argument must be a device array (CuPy takes no Python scalars there)
_ARRAY_FIRST = frozenset(
    [
        "as_strided",
        "broadcast_to",
        "reshape",
        "transpose",
        "swapaxes",
        "moveaxis",
        "expand_dims",
        "squeeze",
        "ravel",
        "pad",
        "repeat",
        "tile",
        "take",
        "sum",
        "mean",
        "max",
        "min",
        "prod",
        "std",
        "var",
        "argmax",
        "argmin",
        "count_nonzero",
        "ascontiguousarray",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "copy",
        "diag",
        "triu",
        "tril",
        "flip",
        "roll",
        "cumsum",
        "any",
        "all",
    ]
)
_DATA_DEPENDENT = frozenset(["nonzero", "flatnonzero", "argwhere", "unique", "extract"])
_HOST_ONLY = frozenset(
    [
        "issubdtype",
        "dtype",
        "finfo",
        "iinfo",
        "result_type",
        "promote_types",
        "can_cast",
        "broadcast_shapes",
        "isscalar",
    ]
)


def _function(name: str, func):
    if name in _HOST_ONLY:
        return func

    def call(*args, **kwargs):
        if name in _ARRAY_FIRST and args and not isinstance(args[0], ndarray):
            if isinstance(args[0], numpy.ndarray):
                raise _mixing(f"{name}()")
            raise TypeError(
                f"strict stand-in: {name}() takes a device array, got {type(args[0]).__name__} "
                "(CuPy does not accept Python scalars here)"
            )
        what = f"{name}()"
        out = kwargs.get("out")
        args = tuple(_argument(a, what) for a in args)
        kwargs = {k: _argument(v, what) for k, v in kwargs.items()}
        result = func(*args, **kwargs)
        if out is not None:
            return out
        if name in _DATA_DEPENDENT:
            counts.scalar_reads += 1
        if name in ("allclose", "array_equal") and isinstance(result, bool):
            return ndarray(numpy.asarray(result))  # CuPy returns a 0-d device array
        return _wrap(result)

    call.__name__ = name
    return call


def __getattr__(name: str):
    """Everything else is NumPy's: types and constants as they are, functions device-only."""
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(numpy, name)
    if isinstance(value, types.ModuleType):
        raise AttributeError(f"strict stand-in: numpy.{name} (a submodule) is not mirrored")
    if isinstance(value, type) or not callable(value):
        return value  # dtypes, dtype classes (float32, floating), constants
    wrapped = _function(name, value)
    globals()[name] = wrapped
    return wrapped


# cupy.lib.stride_tricks.as_strided: a strided view of a device array (no copy)
lib = types.SimpleNamespace(
    stride_tricks=types.SimpleNamespace(
        as_strided=_function("as_strided", numpy.lib.stride_tricks.as_strided)
    )
)


class _MemoryPool:
    """``cupy.get_default_memory_pool()``: block accounting, nothing to free on the CPU."""

    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return 0

    def free_all_blocks(self) -> None:
        pass

    def set_limit(self, size=None, fraction=None) -> None:
        pass


_POOL = _MemoryPool()


def get_default_memory_pool() -> _MemoryPool:
    return _POOL


def get_default_pinned_memory_pool() -> _MemoryPool:
    return _POOL


class _Stream:
    def synchronize(self) -> None:
        pass


cuda = types.SimpleNamespace(
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
    Stream=types.SimpleNamespace(null=_Stream()),
    Device=lambda index=0: types.SimpleNamespace(synchronize=lambda: None, id=index),
)
