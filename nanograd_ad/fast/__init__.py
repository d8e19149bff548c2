"""The fast wing: the reference layers and activations, faster, under the same names.

    import nanograd_ad as ng
    net = ng.Sequential(ng.fast.Conv2D(1, 8, 3), ng.fast.ReLU(), ...)   # or mix both wings

Every class here subclasses its reference in ``nanograd_ad.layers`` / ``nanograd_ad.activations``
with the same constructor arguments, parameter names, ``state_dict`` and checkpoint format,
and overrides how ``forward``/``backward`` compute, never what (``Flatten`` is a plain
re-export: nothing in it is faster). Everything that exists for speed or memory lives in this package:

* ``layers``       — the blocked, scratch-buffered, channels-last Conv2D; threaded pools;
                     Dense's bias gradient as one BLAS product;
* ``activations``  — the in-place δ (:func:`~nanograd_ad.fast.activations.inplace_derivative_product`);
                     the true and AD derivatives in fewer passes, bit for bit;
* ``threads``      — work split over the batch across threads, and OpenBLAS's busy-wait;
* ``blas``         — :func:`~nanograd_ad.fast.blas.prime_blas`, run once on import.

``tests/test_fast_layers.py`` proves each class equal to its reference: forward output,
input error and every parameter gradient, float64 to 1e-12, float32 to float32 rounding.
"""

# first, before anything imports NumPy: OpenBLAS's idle threads then wait 2^4 cycles, not 2^28
# (nanograd_ad.fast.threads says why; a value the user set is kept)
from . import _openblas  # noqa: F401

# isort: split

from . import activations, blas, layers, threads
from .activations import Identity, ISigmoid, LeakyReLU, ReLU, Sigmoid, Tanh
from .layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D

blas.prime_blas()

__all__ = [
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "Flatten",
    "ISigmoid",
    "Identity",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "activations",
    "blas",
    "layers",
    "threads",
]
