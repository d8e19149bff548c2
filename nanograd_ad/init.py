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

__all__ = ["INITIALIZERS", "Initializer", "check_rng", "draw", "get_rng", "seed", "uniform"]

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


def _torch(shape, fan_in, fan_out, rng):
    bound = 1 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape)


def _he_normal(shape, fan_in, fan_out, rng):
    return rng.normal(0.0, math.sqrt(2 / fan_in), size=shape)


def _xavier_normal(shape, fan_in, fan_out, rng):
    return rng.normal(0.0, math.sqrt(2 / (fan_in + fan_out)), size=shape)


def _lecun_normal(shape, fan_in, fan_out, rng):
    return rng.normal(0.0, math.sqrt(1 / fan_in), size=shape)


def _zeros(shape, fan_in, fan_out, rng):
    return numpy.zeros(shape)


#: ``f(shape, fan_in, fan_out, rng) -> array of that shape``, drawn on the host (``draw`` checks the shape)
Initializer = Callable[[tuple, int, int, numpy.random.Generator], numpy.ndarray]


def uniform(low: float, high: float) -> Initializer:
    """An initializer drawing U(low, high), e.g. the ICS paper's U(−1, 1)."""
    if not low < high:
        raise ValueError(f"uniform(low, high) needs low < high, got low={low}, high={high}")

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


def draw(initializer: str | Initializer, shape: tuple, fan_in: int, fan_out: int, rng=None) -> numpy.ndarray:
    """Draw an array of ``shape`` with the named (or callable) initializer."""
    if isinstance(initializer, str):
        if initializer not in INITIALIZERS:
            raise ValueError(
                f"unknown initializer {initializer!r}; known: "
                f"{sorted(INITIALIZERS)} or uniform(a, b) or a callable"
            )
        initializer = INITIALIZERS[initializer]
    values = numpy.asarray(initializer(shape, fan_in, fan_out, get_rng(rng)))
    if values.shape != tuple(shape):
        raise ValueError(f"initializer returned shape {values.shape}, expected {tuple(shape)}")
    return values
