"""Weight initializers, drawn with NumPy on the host (so a seed gives the same network
on NumPy and CuPy) and copied to the backend by the layers.

An initializer is a name or a callable ``init(shape, fan_in, fan_out, rng) -> ndarray``:

| name | distribution |
| --- | --- |
| ``"torch"`` | U(−k, k), k = 1/√fan_in — PyTorch's default for weights and biases |
| ``"he_normal"`` | N(0, 2/fan_in) |
| ``"xavier_normal"`` | N(0, 2/(fan_in + fan_out)) |
| ``"lecun_normal"`` | N(0, 1/fan_in) |
| ``"zeros"`` | 0 |
| ``uniform(a, b)`` | U(a, b) (a callable: ``Dense(3, 4, weight_init=uniform(-1, 1))``) |

fan_in is D_in for a dense layer and C_in·kH·kW for a convolution.

Values are drawn in float64. A layer asks for its dtype (``draw(..., dtype=float32)``), and
the named initializers and ``uniform`` then draw ``CHUNK`` values at a time, each chunk cast
into the layer's array: the same numbers as one float64 draw cast whole, bit for bit, but
building ``Dense(4096, 4096)`` in float32 peaks at its weight plus its gradient (128 MiB),
not 4× its weight (256 MiB: the float64 draw beside the float32 copy and the gradient).

``seed(s)`` resets the generator layers draw from when none is given, so building the
same network after the same seed gives the same numbers — per thread: a thread that calls
``seed`` draws from its own generator, so its build equals the same build done alone
whatever other threads do meanwhile.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy  # host-side: random draws only

__all__ = ["CHUNK", "INITIALIZERS", "Initializer", "check_rng", "draw", "get_rng", "seed", "uniform"]

#: the process-wide generator: what the main thread seeds and every unseeded thread draws from
_rng = numpy.random.default_rng(0)
#: ``.rng``: the generator of a thread that called :func:`seed`
_seeded = threading.local()


def seed(value: int) -> None:
    """Reset the generator layers use when no ``rng`` is given; ``value`` an integer ≥ 0.

    The generator belongs to the calling thread: two threads that each seed and build a
    network get exactly the weights each would get alone, however their draws interleave.
    A thread that never called ``seed`` draws from the process-wide generator, as before:
    the one the main thread's ``seed`` resets (the initial one is ``seed(0)``'s). The batch
    order of ``fit(seed=…)`` is a generator of its own and is not affected.
    """
    global _rng
    generator = numpy.random.default_rng(_check_seed("seed", value))
    _seeded.rng = generator
    if threading.current_thread() is threading.main_thread():
        _rng = generator


def _check_seed(owner: str, value) -> int:
    """An integer ≥ 0 (Python or NumPy; not a bool), as an int."""
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)):
        raise TypeError(f"{owner}: the seed must be an integer ≥ 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{owner}: the seed must be an integer ≥ 0, got {value!r}")
    return int(value)


def get_rng(rng=None) -> numpy.random.Generator:
    """``None`` → the generator :func:`seed` set in this thread (else the process-wide one);
    an int → a new generator with that seed; a Generator → itself."""
    if rng is None:
        own = getattr(_seeded, "rng", None)
        return _rng if own is None else own
    if isinstance(rng, (int, numpy.integer)) and not isinstance(rng, bool):
        return numpy.random.default_rng(_check_seed("rng", rng))
    if isinstance(rng, numpy.random.Generator):
        return rng
    raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {type(rng).__name__}")


def check_rng(owner: str, rng) -> None:
    """Refuse what cannot seed a generator: allowed are None, an int ≥ 0, a numpy Generator,
    or (an ensemble's) a sequence of them, one per model."""
    if rng is None or isinstance(rng, numpy.random.Generator):
        return
    if isinstance(rng, (int, numpy.integer)) and not isinstance(rng, bool):
        if rng >= 0:
            return
    elif isinstance(rng, Sequence) and not isinstance(rng, (str, bytes)):
        return
    raise ValueError(f"{owner}: the seed must be a non-negative integer or a numpy Generator, got {rng!r}")


#: values drawn at a time when ``draw`` is given a dtype (512 KiB of float64)
CHUNK = 2**16


def _draws_each_value(initializer):
    """Mark an initializer that draws each value in turn from ``rng`` in C order, whatever the
    shape, so that drawing the values in chunks gives the same numbers as one draw."""
    initializer.draws_each_value = True
    return initializer


@_draws_each_value
def _torch(shape, fan_in, fan_out, rng):
    bound = 1 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape)


@_draws_each_value
def _he_normal(shape, fan_in, fan_out, rng):
    return rng.normal(0.0, math.sqrt(2 / fan_in), size=shape)


@_draws_each_value
def _xavier_normal(shape, fan_in, fan_out, rng):
    return rng.normal(0.0, math.sqrt(2 / (fan_in + fan_out)), size=shape)


@_draws_each_value
def _lecun_normal(shape, fan_in, fan_out, rng):
    return rng.normal(0.0, math.sqrt(1 / fan_in), size=shape)


@_draws_each_value
def _zeros(shape, fan_in, fan_out, rng):
    return numpy.zeros(shape)


#: ``f(shape, fan_in, fan_out, rng) -> array of that shape``, drawn on the host (``draw`` checks the shape)
Initializer = Callable[[tuple, int, int, numpy.random.Generator], numpy.ndarray]


def uniform(low: float, high: float) -> Initializer:
    """An initializer drawing U(low, high), e.g. the ICS paper's U(−1, 1)."""
    if not low < high:
        raise ValueError(f"uniform(low, high) needs low < high, got low={low}, high={high}")

    @_draws_each_value
    def draw_uniform(shape, fan_in, fan_out, rng):
        return rng.uniform(low, high, size=shape)

    draw_uniform.__name__ = f"uniform({low}, {high})"
    return draw_uniform


INITIALIZERS: dict[str, Initializer] = {
    "torch": _torch,
    "he_normal": _he_normal,
    "xavier_normal": _xavier_normal,
    "lecun_normal": _lecun_normal,
    "zeros": _zeros,
}


def draw(
    initializer: str | Initializer, shape: tuple, fan_in: int, fan_out: int, rng=None, dtype=None
) -> numpy.ndarray:
    """Draw an array of ``shape`` with the named (or callable) initializer, in float64 —
    or, given ``dtype``, cast to it.

    With ``dtype``, the named initializers and ``uniform`` fill the array ``CHUNK`` values
    at a time (the float64 draw never exists whole); the values are those of one draw cast
    whole, bit for bit, and the generator is left where one draw leaves it. Any other
    callable draws the whole shape, which is then cast.
    """
    if isinstance(initializer, str):
        if initializer not in INITIALIZERS:
            raise ValueError(
                f"unknown initializer {initializer!r}; known: "
                f"{sorted(INITIALIZERS)} or uniform(a, b) or a callable"
            )
        initializer = INITIALIZERS[initializer]
    generator = get_rng(rng)
    if dtype is not None and getattr(initializer, "draws_each_value", False):
        values = numpy.empty(shape, dtype)
        flat = values.reshape(-1)  # a view: C order, as one draw fills the shape
        for start in range(0, flat.size, CHUNK):
            size = min(CHUNK, flat.size - start)
            flat[start : start + size] = initializer((size,), fan_in, fan_out, generator)
        return values
    values = numpy.asarray(initializer(shape, fan_in, fan_out, generator))
    if values.shape != tuple(shape):
        raise ValueError(f"initializer returned shape {values.shape}, expected {tuple(shape)}")
    return values if dtype is None else values.astype(dtype, copy=False)
