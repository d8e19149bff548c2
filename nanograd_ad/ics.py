"""Neuron-level ICS regularization: the regularized ReLU (Wang, §3.1).

    f(z) = max(0, r·z),   r = c / (s·n·m),   true derivative d = r·1[z > 0]

r is read from the geometry of the layer that produces z (never typed by hand):

| symbol | meaning | Conv2D(C_in → C_out, k×k) on (C_in, H_in, W_in) | Dense(D_in → D_out) |
| --- | --- | --- | --- |
| c | values in one input image of that layer | C_in·H_in·W_in | D_in |
| m | filter size of one neuron | C_in·k·k | D_in |
| s | neurons in one feature map | H_out·W_out | 1 |
| n | feature maps of the layer | C_out | D_out |

so a dense layer gets r = D_in/(1·D_out·D_in) = 1/D_out. The paper's reading of the
two factors: 1/n undoes the n feature maps extracting the same input again, and
c/(s·m) = (c/m)/s — the neurons needed to cover the input once, divided by the neurons
there are — undoes the overlap of their receptive fields. Example: Conv2D(3, 16, 3,
padding=1) on 3×32×32 has c = 3072, m = 27, s = 1024, n = 16, so
r = 3072/(1024·16·27) = 1/144.

r is derived in ``build(input_shape, previous)``, which ``Sequential.build`` calls (and
``Sequential.forward`` runs on the first input, because ``requires_build = True``).
Feed a different input size and the layer refuses, naming both shapes; rebuild the
network with ``net.build(new_shape)`` and r follows the new geometry.

The derivative is pluggable like every activation's (``set_derivative``): ``"true"``
is r·1[z > 0]; ``"ad"`` is r·sigmoid(k·z) — **(reading)** the AD paper's eq. 8 scaled by
r, the slope of the positive branch, so it matches the true derivative for z ≫ 0.
Both are registered under the key ``"regularized_relu"``.

Because every layer multiplies by r ≪ 1, the activations shrink layer by layer, and the
paper magnifies the input (×10000 for inputs up to 100): :class:`Scale` is that step.
Two readings of the input (``INPUT_READINGS``, :func:`input_factor`): ``"derived"``
(:func:`suggest_input_scale` picks the factor that gives the logits unit RMS at
initialization, on the inputs as they are) and ``"paper"`` (§4.1: the images binarized
per channel to a maximum of 100, :func:`paper_input`, then ×10⁴).

Note: with zero biases and r > 0, max(0, r·z) = r·max(0, z), so a
regularized-ReLU network equals the plain ReLU network times the constant Π_l r_l at
initialization — the two differ in training through the biases and the scale of the
logits fed to the softmax.
"""

from __future__ import annotations

import math

from . import backend
from .activations import Activation, sigmoid
from .callbacks import Callback
from .derivatives import register_derivative
from .layers import Conv2D, Dense, Layer

__all__ = [
    "INPUT_READINGS",
    "PAPER_INPUT_FACTOR",
    "PAPER_INPUT_MAX",
    "PeakAccuracy",
    "RegularizedReLU",
    "Scale",
    "activation_scales",
    "input_factor",
    "paper_input",
    "regularization_geometry",
    "suggest_input_scale",
]


def regularization_geometry(layer: Layer, input_shape: tuple) -> dict:
    """c, s, n, m and r = c/(s·n·m) of the layer producing z, for its per-sample input shape.

    Conv2D on (C_in, H_in, W_in): c = C_in·H_in·W_in, m = C_in·kH·kW, s = H_out·W_out,
    n = C_out. Dense on (..., D_in): c = (number of input values), m = D_in,
    s = c/D_in (1 for a flat (D_in,) input), n = D_out, hence r = 1/D_out.
    """
    input_shape = tuple(int(v) for v in input_shape)
    output_shape = layer.output_shape(input_shape)  # raises on a mismatch, naming the layer
    if isinstance(layer, Conv2D):
        c = math.prod(input_shape)
        m = layer.in_channels * layer.kernel_size**2
        s = output_shape[1] * output_shape[2]
        n = layer.out_channels
    elif isinstance(layer, Dense):
        c = math.prod(input_shape)
        m = layer.in_features
        s = c // m
        n = layer.out_features
    else:
        raise ValueError(
            f"the regularization coefficient is defined for Dense and Conv2D layers, not {layer!r}"
        )
    return {"c": c, "s": s, "n": n, "m": m, "r": c / (s * n * m)}


class RegularizedReLU(Activation):
    """a = max(0, r·z) with r = c/(s·n·m) from the layer below (ICS paper §3.1, eq. of f).

    Inputs z: the output of the Dense or Conv2D right below, (N, C_out, H_out, W_out) or
    (N, D_out); a: the same shape. Derivatives (``derivative=``): ``"true"`` d = r·1[z > 0];
    ``"ad"`` d = r·sigmoid(k·z) (a reading, see the module docstring); or any callable
    d(z, a) — a callable gets no r, read ``layer.r`` if it needs it.

    After ``build`` the fields ``c, s, n, m, r`` hold the geometry, ``z_shape`` the
    per-sample z shape r was derived for and ``source_shape`` the input shape of the layer
    below; ``repr`` and ``describe()`` show them.
    """

    key = "regularized_relu"
    requires_build = True

    def __init__(self, derivative="true", **params):
        if "r" in params:
            raise ValueError(
                "RegularizedReLU: r is derived from the geometry of the layer below "
                "when the network is built; it cannot be given by hand"
            )
        self.c = self.s = self.n = self.m = self.r = None
        self.z_shape = self.source_shape = None
        super().__init__(derivative, **params)

    def set_derivative(self, derivative="true", **params) -> None:
        """Swap the derivative (a registered name or a callable); a name gets the current r."""
        self.derivative_choice, self.derivative_params = derivative, params
        super().set_derivative(derivative, **{**params, "r": self.r})

    # ------------------------------------------------------------------ geometry
    def build(self, input_shape: tuple, previous: Layer | None = None) -> tuple:
        """Derive r from ``previous`` (the Dense/Conv2D producing z) and its input shape."""
        if not isinstance(previous, (Dense, Conv2D)):
            below = "it is the first layer" if previous is None else f"it follows {previous!r}"
            raise ValueError(
                f"{type(self).__name__} must directly follow a Dense or Conv2D layer "
                f"(r = c/(s·n·m) is read from the layer that produces z); {below}"
            )
        source_shape = getattr(previous, "input_shape", None)
        if source_shape is None:
            raise ValueError(
                f"{type(self).__name__}: {previous!r} below it has not been built; "
                "build the network (Sequential.build) rather than this layer alone"
            )
        geometry = regularization_geometry(previous, source_shape)
        if tuple(previous.output_shape(source_shape)) != tuple(input_shape):
            raise ValueError(
                f"{type(self).__name__}: input shape {tuple(input_shape)} is not the output "
                f"{previous.output_shape(source_shape)} of {previous!r} on {source_shape}"
            )
        self.c, self.s, self.n, self.m, self.r = (geometry[k] for k in ("c", "s", "n", "m", "r"))
        self.z_shape, self.source_shape = tuple(input_shape), tuple(source_shape)
        self.set_derivative(self.derivative_choice, **self.derivative_params)  # d gets the new r
        self.input_shape = tuple(input_shape)
        return tuple(input_shape)

    # ------------------------------------------------------------------ forward
    def f(self, z):
        """a = max(0, r·z)."""
        if self.r is None:
            raise ValueError(
                f"{self!r}: r is not derived yet; put the layer after a Dense or Conv2D "
                "in a Sequential and build it (the first forward does)"
            )
        return backend.xp.maximum(self.r * z, 0)

    def forward(self, z):
        if self.r is not None and tuple(z.shape[1:]) != self.z_shape:
            raise ValueError(
                f"{self!r}: r was derived for z of per-sample shape {self.z_shape} (the layer below "
                f"on input {self.source_shape}), but got z of shape {tuple(z.shape[1:])}; rebuild the "
                "network for the new input size with net.build(new_input_shape)"
            )
        return super().forward(z)

    # ------------------------------------------------------------------ display
    def describe(self) -> str:
        """One line with the geometry: ``RegularizedReLU r=c/(s·n·m)=3072/(1024·16·27)=0.006944``."""
        if self.r is None:
            return f"{type(self).__name__} r=c/(s·n·m), not built"
        return f"{type(self).__name__} r=c/(s·n·m)={self.c}/({self.s}·{self.n}·{self.m})={self.r:.6g}"

    def __repr__(self):
        args = []
        if self.derivative_name != "true":
            args.append(f"derivative={self.derivative_name!r}")
        args += [f"{k}={v}" for k, v in self.derivative_params.items()]
        if self.r is None:
            args.append("r=unbuilt")
        else:
            args += [f"c={self.c}", f"s={self.s}", f"n={self.n}", f"m={self.m}", f"r={self.r:.6g}"]
        return f"{type(self).__name__}({', '.join(args)})"


def _regularized_true(r=None):
    if r is None:
        return _unbuilt
    return lambda z, a: (z > 0).astype(z.dtype) * r  # d = r·1[z > 0]


def _regularized_ad(r=None, k: float = 1.0):
    if r is None:
        return _unbuilt
    return lambda z, a: r * sigmoid(k * z)  # d = r·sigmoid(k·z) (reading)


def _unbuilt(z, a):
    raise ValueError("RegularizedReLU: r is not derived yet; build the network first")


register_derivative("regularized_relu", "true", _regularized_true)
register_derivative("regularized_relu", "ad", _regularized_ad)


class Scale(Layer):
    """Input magnification: z = factor·x; backward passes factor·δ down. No parameters.

    Shapes: any x → z of the same shape. Why a factor is needed: every regularized ReLU
    multiplies its layer's output by r ≪ 1 (1/144 for a 16-map 3×3 convolution), so
    after L layers the logits are about Π_l r_l times those of a plain ReLU network and
    the softmax sees values near 0 (every class ≈ equally likely, a tiny error signal).
    The paper magnifies the input instead (×10000 for inputs up to 100, ICS paper §4.1);
    :func:`suggest_input_scale` chooses the factor that gives the logits unit RMS at
    initialization. ``why`` is a note kept with the layer and shown by ``describe()``.
    """

    def __init__(self, factor: float, why: str = ""):
        super().__init__()
        self.factor, self.why = factor, why

    @property
    def factor(self) -> float:
        """The magnification (a finite, non-zero float)."""
        return self._factor

    @factor.setter
    def factor(self, value) -> None:
        value = float(value)  # a Python float keeps float32 data float32
        if not math.isfinite(value) or value == 0:
            raise ValueError(f"Scale: factor must be a finite non-zero number, got {value!r}")
        self._factor = value

    def forward(self, x):
        return x * self.factor  # z = factor·x

    def backward(self, delta):
        return delta * self.factor  # ∂C/∂x = factor·δ

    def describe(self) -> str:
        """``Scale(×1.2e+04)`` plus the note saying where the factor came from."""
        return f"Scale(×{self.factor:.4g})" + (f" {self.why}" if self.why else "")

    def __repr__(self):
        return f"Scale({self.factor:.6g})"


def _rms(values) -> float:
    return float(backend.xp.sqrt(backend.xp.mean(values.astype(backend.xp.float64) ** 2)))


def suggest_input_scale(net, x, target: float = 1.0, tol: float = 1e-3, max_iter: int = 100) -> float:
    """A factor α for the input so that the logits have unit scale at the current weights.

        RMS(z^L) = sqrt( mean over samples n and classes k of z^L[n, k]² ),   z^L = net(α·x)
        α = target / RMS(net(x))                       (exact for a homogeneous network)

    Why one step is exact: max(0, r·αz) = α·max(0, r·z) for α > 0, and Conv2D or Dense
    layers with zero bias, mean or max pooling, Flatten and Scale all commute with a
    positive factor too. A network made only of these (the ``ics`` experiment's ReLU
    networks start with zero biases) is positively homogeneous: net(αx) = α·net(x), so
    RMS(net(αx)) = α·RMS(net(x)) and α = target/RMS(net(x)). It also shows what α
    compensates: each regularized layer contributes its r as a factor, so α grows like
    1/Π_l r_l.

    Biases (or saturating activations) break the homogeneity: RMS(net(αx)) tends to the
    bias-driven logits as α → 0 and grows like α only for large α. After three of the
    steps above, the crossing RMS = target is bracketed in log α (steps of ×10) and
    bisected until |RMS/target − 1| < ``tol`` — RMS is continuous in α, so a bracket
    holds a solution. ``ValueError`` (naming α and RMS) when the logits are all zero, when
    no bracket is found (e.g. the biases alone give RMS above the target) or when the
    bisection stalls. ``x``: a batch of inputs as the network takes them (a few hundred
    samples suffice). Returns α as a Python float; put it in front with ``Scale(α)`` (or
    multiply an existing first Scale's factor by it).
    """
    if not target > 0:
        raise ValueError(f"suggest_input_scale: target must be > 0, got {target}")
    x = backend.asarray(x, dtype=backend.default_dtype())

    def rms_at(alpha: float) -> float:
        rms = _rms(net(x * alpha))
        if rms == 0 or not math.isfinite(rms):
            raise ValueError(
                f"suggest_input_scale: the logits have RMS {rms} at input factor "
                f"{alpha:.6g}; no factor can give them RMS {target}"
            )
        return rms

    def close(rms: float) -> bool:
        return abs(rms / target - 1) < tol

    alpha, rms = 1.0, rms_at(1.0)
    for _ in range(3):  # α ← α·target/RMS: exact when homogeneous
        if close(rms):
            return alpha
        alpha *= target / rms
        rms = rms_at(alpha)
    if close(rms):
        return alpha
    step = 10.0 if rms < target else 0.1  # bracket the crossing in log α
    low = high = None
    for _ in range(max_iter):
        previous = (alpha, rms)
        alpha *= step
        rms = rms_at(alpha)
        if close(rms):
            return alpha
        if (rms > target) == (step > 1):
            low, high = (previous[0], alpha) if step > 1 else (alpha, previous[0])
            break
    if low is None or high is None:  # set together by the bracketing
        raise ValueError(
            f"suggest_input_scale: no input factor found (last {alpha:.3g} gives logits of "
            f"RMS {rms:.6g}, target {target}); the logits hardly follow the input scale "
            "(biases or saturated activations dominate)"
        )
    for _ in range(max_iter):  # bisection in log α
        alpha = math.sqrt(low * high)
        rms = rms_at(alpha)
        if close(rms):
            return alpha
        low, high = (alpha, high) if rms < target else (low, alpha)
    raise ValueError(
        f"suggest_input_scale: bisection stalled at factor {alpha:.6g} with logits of "
        f"RMS {rms:.6g}, target {target}"
    )


#: Wang §4.1: "the magnification is set as 10000 when the maximum value of the input
#: layer data is 100"
PAPER_INPUT_FACTOR = 1e4
PAPER_INPUT_MAX = 100.0
INPUT_READINGS = ("derived", "paper")


def paper_input(x, threshold: float = 0.5):
    """The paper's input: x_b = 100 · 1[x > threshold] per channel (Wang §4.1: binarized
    images whose maximum is 100), to be magnified by ``PAPER_INPUT_FACTOR`` = 10⁴.

    **(reading)** The paper names a binarization of each colour channel and the maximum
    100, not the threshold; 0.5 on pixels in [0, 1] (the loaders' range) is ours. Host
    arrays in, host arrays out (`datasets.binarize`).
    """
    from .datasets import binarize

    return binarize(x, threshold, PAPER_INPUT_MAX)


def input_factor(reading: str, net=None, x=None) -> float:
    """The input magnification α of a regularized-ReLU network under an input reading.

    ``"derived"``: α = :func:`suggest_input_scale` (net, x) — logits of RMS 1 at the current
    weights, for inputs x as they are; ``"paper"``: α = 10⁴, the paper's factor, meant for
    :func:`paper_input` (binarized, maximum 100) — 10⁶ per unit of input.
    """
    if reading == "paper":
        return PAPER_INPUT_FACTOR
    if reading == "derived":
        if net is None or x is None:
            raise ValueError("input_factor: the 'derived' reading needs net and x (a batch of inputs)")
        return suggest_input_scale(net, x)
    raise ValueError(f"input_factor: reading must be one of {INPUT_READINGS}, got {reading!r}")


def activation_scales(net, x) -> list[dict]:
    """mean |a^l| over a batch x for every activation layer l of ``net`` — the activation
    scale the ICS paper says a plain ReLU amplifies layer by layer.

    Returns ``[{"layer": i, "name": repr(layer), "mean_abs": float}, ...]`` bottom first
    (i is the index in ``net``).
    """
    net(backend.asarray(x, dtype=backend.default_dtype()))
    return [
        {
            "layer": i,
            "name": repr(layer),
            "mean_abs": float(backend.xp.abs(layer.a).astype(backend.xp.float64).mean()),
        }
        for i, layer in enumerate(net.layers)
        if isinstance(layer, Activation)
    ]


# ------------------------------------------------------------ peak-accuracy protocol


class PeakAccuracy(Callback):
    """The peak-accuracy protocol of Wang (§4.6).

    Train until the training accuracy has not improved for ``patience`` epochs; the
    result is the best test accuracy over all epochs and its epoch (``best_test_acc``,
    ``best_epoch``; also recorded as event "peak_accuracy" at the end).
    """

    def __init__(self, patience: int = 15, monitor: str = "train_acc", report: str = "test_acc"):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience, self.monitor, self.report = int(patience), monitor, report
        self.best_monitored: float | None = None
        self.best_test_acc: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0

    def on_train_begin(self, trainer) -> None:
        self.best_monitored, self.best_test_acc, self.best_epoch, self.wait = None, None, None, 0

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        watched, reported = logs.get(self.monitor), logs.get(self.report)
        if watched is None:
            raise ValueError(f"PeakAccuracy watches {self.monitor!r}, which this training does not produce")
        if reported is not None and (self.best_test_acc is None or reported > self.best_test_acc):
            self.best_test_acc, self.best_epoch = reported, epoch
        if self.best_monitored is None or watched > self.best_monitored:
            self.best_monitored, self.wait = watched, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.request_stop(epoch, f"{self.monitor} has not improved for {self.patience} epochs")

    def on_train_end(self, trainer) -> None:
        trainer.history.record(
            trainer.epoch if trainer.epoch is not None else -1,
            "peak_accuracy",
            best_test_acc=self.best_test_acc,
            best_epoch=self.best_epoch,
        )
