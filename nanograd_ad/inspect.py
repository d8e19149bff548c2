"""Looking inside training: gradient-flow telemetry and input contribution maps.

**Gradient flow.** :class:`GradientFlow` is a feedback rule that changes nothing and
writes down, for every weight layer l = 1..L (Dense or Conv2D, counted from the input)
and every backward pass (a *step*)::

    delta        RMS(δ^l)      the error entering layer l — what its own gradients use
                               (the local error e^l under two-path PN)
    carried      RMS(c^l)      the carried error of two-path PN (= delta elsewhere)
    d            RMS(d^l)      the derivative of the activation above layer l
    weight_grad  RMS(∂C/∂W^l)  bias_grad  RMS(∂C/∂b^l)
    saturated    fraction of the activation's outputs with |tanh| > 0.99, a sigmoid
                 outside [0.01, 0.99], or (ReLU / Leaky ReLU) z < 0: dead

RMS(v) = sqrt(mean(v²)) over every entry of the batch. :func:`plot_delta_profile` draws
δ RMS against depth on a log scale for several runs on one figure — vanishing gradients
are a line falling towards layer 1; pseudo-normalization lifts it.

Inside :class:`~nanograd_ad.residual.Residual` blocks the weight layers of the branches
count along the depth (1 = input side) and each block adds two numbers per step, the RMS
of the error each path passes down to the block's input::

    branch    RMS(f.backward(δ))          shortcut  RMS(shortcut.backward(δ))

kept by the depth of the block's first weight layer (:meth:`GradientFlow.paths`); the
δ-by-depth plot draws both beside δ. A projection shortcut's own weight layers are not
on the depth axis (they sit beside the branch, not below it).

**Contribution maps** (Bu, Jiang, Lu & Zhang 2026, §5; their SHAP variant is unpublished, this
is gradient × input): :func:`contribution_map` and :func:`plot_contribution_maps`.

Plots import matplotlib only when called (Agg unless a backend was already chosen).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from . import backend
from .activations import Activation, LeakyReLU, ReLU, Sigmoid, Tanh
from .backend import Array
from .feedback import FeedbackRule
from .normalization import BatchNorm1D, BatchNorm2D
from .pseudo_normalization import PseudoNormalize

__all__ = [
    "KEYS",
    "PATHS",
    "ContributionMap",
    "GradientFlow",
    "contribution_map",
    "plot_contribution_maps",
    "plot_delta_profile",
    "saturated_fraction",
]

#: what GradientFlow records per weight layer and step
KEYS = ("delta", "carried", "d", "weight_grad", "bias_grad", "saturated")
#: what it records per Residual block and step: the error each path passes to the block's input
PATHS = ("branch", "shortcut")


def _rms(v):
    """RMS(v) = sqrt(mean(v²)) over all entries (a 0-d array: no host sync)."""
    return backend.xp.sqrt(backend.xp.mean(v * v))


def saturated_fraction(layer: Activation, threshold: float = 0.99):
    """Fraction of an activation's outputs that are saturated (tanh, sigmoid) or dead (ReLU).

        tanh: |a| > threshold     sigmoid: |2a − 1| > threshold     ReLU, Leaky ReLU: z < 0

    Returns None for other activations.
    """
    xp = backend.xp
    if isinstance(layer, Tanh):
        flags = xp.abs(layer.a) > threshold
    elif isinstance(layer, Sigmoid):
        flags = xp.abs(2 * layer.a - 1) > threshold
    elif isinstance(layer, (ReLU, LeakyReLU)):
        flags = layer.z < 0
    else:
        return None
    return xp.count_nonzero(flags) / flags.size


class GradientFlow(FeedbackRule):
    """Telemetry of the backward pass (an observer: it returns every error unchanged).

    ``every=k`` records one backward pass in k (values stay on the device until read).
    Attach it *after* the rules it should observe (``net.add_feedback(GradientFlow())``
    appends it): it sees the errors as they leave them. It reads the carried errors of a
    two-path :class:`~nanograd_ad.pseudo_normalization.PseudoNormalize` in the same network. Weight
    gradients are read right after each layer's backward, so call ``zero_grad`` before
    each backward (the trainer does) to see one step's gradient.

        flow = GradientFlow();  net.add_feedback(flow);  ... train ...
        flow.profile("delta")            # (depths 1..L, mean RMS δ^l over the steps)
        flow.series("weight_grad", 1)    # RMS ∂C/∂W^1 per recorded step
    """

    def __init__(self, every: int = 1, saturation: float = 0.99):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"GradientFlow: every must be an int ≥ 1, got {every!r}")
        if not 0 < saturation < 1:
            raise ValueError(f"GradientFlow: saturation must lie in (0, 1), got {saturation!r}")
        self.every, self.saturation = every, saturation
        self.steps = 0

    #: layers skipped when looking for the activation above a weight layer
    SKIPPED = (*PseudoNormalize.PASS_THROUGH, BatchNorm1D, BatchNorm2D)

    def bind(self, net) -> None:
        """Find the weight layers (depth 1..L, through the branches of blocks), the activation
        above each, and the blocks whose two paths are recorded."""
        super().bind(net)
        walk = net.walk()
        names, layers = [name for name, _ in walk], [layer for _, layer in walk]
        in_shortcut = [".shortcut." in name for name in names]
        self.weight_layers = [
            i
            for i, layer in enumerate(layers)
            if isinstance(layer, PseudoNormalize.WEIGHT_LAYERS) and not in_shortcut[i]
        ]
        if not self.weight_layers:
            raise ValueError(
                f"GradientFlow: the network has no Dense or Conv2D layer to watch; "
                f"layers: {[repr(layer) for layer in net.layers]}"
            )
        self.depth = {i: l + 1 for l, i in enumerate(self.weight_layers)}
        self.activation_above: dict[int, int] = {}
        for offset, inner in net.networks():  # look for it among the weight layer's neighbours
            for j in range(len(inner.layers)):
                i = offset + inner.seam_index[j]
                if i not in self.depth:
                    continue
                k = j + 1
                while k < len(inner.layers) and isinstance(inner.layers[k], self.SKIPPED):
                    k += 1
                if k < len(inner.layers) and isinstance(inner.layers[k], Activation):
                    self.activation_above[i] = offset + inner.seam_index[k]
        self.depth_of_activation = {k: self.depth[i] for i, k in self.activation_above.items()}
        self.names = {}
        for i in self.weight_layers:
            above = self.activation_above.get(i)
            self.names[self.depth[i]] = (
                f"{names[i]} {layers[i]!r}" if "." in names[i] else repr(layers[i])
            ) + ("" if above is None else f" → {layers[above]!r}")
        # a block's depth: that of the first weight layer inside it on the depth axis
        self.block_depth = {}
        for i, layer in enumerate(layers):
            if hasattr(layer, "branch_error"):
                inside = [w for w in self.weight_layers if names[w].startswith(names[i] + ".")]
                if inside:
                    self.block_depth[i] = self.depth[inside[0]]
        self.top_index = net.seam_index[-1]
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded."""
        self.steps = 0
        self.recorded_steps: list[int] = []
        # per key (or path), per depth l: one RMS per recorded step (None where nothing was seen)
        self.values: dict[str, dict[int, list[Array | None]]] = {
            key: {l: [] for l in self.depth.values()} for key in KEYS
        }
        self.path_values: dict[str, dict[int, list[Array | None]]] = {
            path: {l: [] for l in self.block_depth.values()} for path in PATHS
        }
        self._current: dict | None = None
        self._host_cache: tuple | None = None

    # ------------------------------------------------------------------- the seam
    def before_layer(self, index: int, layer, delta):
        if index == self.top_index:  # a new backward pass begins
            self._current = {key: {} for key in KEYS + PATHS} if self.steps % self.every == 0 else None
        if self._current is not None and index in self.depth:
            self._current["delta"][self.depth[index]] = _rms(delta)  # RMS δ^l (or e^l)
        return delta

    def after_layer(self, index: int, layer, delta):
        current = self._current
        if current is not None:
            if index in self.depth:
                l = self.depth[index]
                current["weight_grad"][l] = _rms(layer.weight.grad)
                current["bias_grad"][l] = None if layer.bias is None else _rms(layer.bias.grad)
            elif index in self.block_depth:  # the two paths into the block's input
                l = self.block_depth[index]
                current["branch"][l] = _rms(layer.branch_error)
                current["shortcut"][l] = _rms(layer.shortcut_error)
            elif index in self.depth_of_activation:
                l = self.depth_of_activation[index]
                current["d"][l] = _rms(layer.derivative_array())
                current["saturated"][l] = saturated_fraction(layer, self.saturation)
        if index == 0:
            self._finish_step()
        return delta

    def _finish_step(self) -> None:
        current, self._current = self._current, None
        if current is not None:
            carried = {}
            for rule in self.net.feedback:
                for k, error in getattr(rule, "carried_error", {}).items():
                    if k in self.depth_of_activation:
                        carried[self.depth_of_activation[k]] = _rms(error)
            for l in self.depth.values():
                current["carried"][l] = carried.get(l, current["delta"].get(l))
                for key in KEYS:
                    self.values[key][l].append(current[key].get(l))
            for l in self.block_depth.values():
                for path in PATHS:
                    self.path_values[path][l].append(current[path].get(l))
            self.recorded_steps.append(self.steps)
        self.steps += 1

    # ------------------------------------------------------------------ reading
    def series(self, key: str, depth: int):
        """The values of ``key`` for layer ``depth`` (1..L), one per recorded step (NumPy)."""
        self._check_key(key)
        if depth not in self.values[key]:
            raise ValueError(f"GradientFlow: depth must be one of {sorted(self.values[key])}, got {depth!r}")
        return self._host()[key][depth]

    def _host(self) -> dict:
        """Every recorded value on the host, ``{key: {depth: NumPy array}}`` (NaN where none).

        The values stay on the device while training; reading them stacks them all into
        one array and copies it back once (one sync), cached until the next recorded step.
        """
        import numpy

        if self._host_cache is not None and self._host_cache[0] == len(self.recorded_steps):
            return self._host_cache[1]
        on_device = [
            v for key in KEYS for l in self.values[key] for v in self.values[key][l] if backend.is_array(v)
        ]
        flat = iter(backend.to_numpy(backend.xp.stack(on_device)).tolist() if on_device else [])
        host = {
            key: {
                l: numpy.array(
                    [
                        numpy.nan if v is None else next(flat) if backend.is_array(v) else float(v)
                        for v in values
                    ],
                    dtype=float,
                )
                for l, values in self.values[key].items()
            }
            for key in KEYS
        }
        self._host_cache = (len(self.recorded_steps), host)
        return host

    def profile(self, key: str = "delta", step: int | None = None):
        """(depths 1..L, values): the mean over recorded steps, or one recorded ``step`` index."""
        import numpy

        self._check_key(key)
        if not self.recorded_steps:
            raise ValueError("GradientFlow: nothing recorded yet (run a backward pass)")
        depths = numpy.array(sorted(self.values[key]))
        values = []
        for l in depths:
            series = self.series(key, l)
            if step is not None:
                values.append(series[step])
            else:
                values.append(numpy.nan if numpy.isnan(series).all() else numpy.nanmean(series))
        return depths, numpy.array(values)

    def paths(self, path: str):
        """(block depths, mean RMS over the recorded steps of what ``path`` passes down to each
        Residual block's input): ``path`` is ``"branch"`` or ``"shortcut"``. Empty without blocks."""
        import numpy

        if path not in PATHS:
            raise ValueError(f"GradientFlow: path must be one of {PATHS}, got {path!r}")
        depths = numpy.array(sorted(self.path_values[path]), dtype=int)
        values = [
            numpy.nanmean(
                [numpy.nan if v is None else float(v) for v in self.path_values[path][l]] or [numpy.nan]
            )
            for l in depths
        ]
        return depths, numpy.array(values, dtype=float)

    def summary(self) -> list[dict]:
        """One row per layer: depth, name and the mean over recorded steps of every key."""
        return [
            {
                "depth": int(l),
                "layer": self.names[l],
                **{key: float(self.profile(key)[1][l - 1]) for key in KEYS},
            }
            for l in sorted(self.names)
        ]

    def _check_key(self, key: str) -> None:
        if key not in KEYS:
            raise ValueError(f"GradientFlow: key must be one of {KEYS}, got {key!r}")

    def __repr__(self):
        return f"GradientFlow(every={self.every}, steps={self.steps})"


# ----------------------------------------------------------------- contribution maps


@dataclass
class ContributionMap:
    """Per-pixel contributions of one batch (arrays of the backend).

    gradient ∂C/∂x: x's shape; importance, kept: (N, C, H, W) for image inputs (or flat
    inputs given an ``image_shape``); gray, binary: (N, H, W), the channel mean.
    """

    gradient: object
    importance: object
    kept: object
    gray: object
    binary: object


def contribution_map(
    net, loss, x, y, keep: float = 0.3, binarize_at: float = 0.0, image_shape: tuple | None = None
) -> ContributionMap:
    """Gradient × input from the error at the input layer (Bu, Jiang, Lu & Zhang 2026, §5).

        g      = ∂C/∂x                        net.backward, with the net's feedback rules
        r      = |g ⊙ x|                      per pixel and channel
        m      = (r − min r) / (max r − min r)      per image, in [0, 1]
        kept   = m · [m ≥ keep]               keep ≥ 0.3 (the paper), the rest set to 0
        gray   = mean over channels of kept   (N, H, W) for inputs (N, C, H, W)
        binary = [gray > binarize_at]         (reading: any kept pixel counts, threshold 0)

    ``image_shape`` = (C, H, W) views flat inputs (N, D) as images before the channel
    mean. Parameter gradients are restored afterwards, so training state is not touched.
    """
    xp = backend.xp
    if not 0 <= keep <= 1:
        raise ValueError(f"contribution_map: keep must lie in [0, 1], got {keep!r}")
    x = backend.asarray(x)
    saved = [p.grad.copy() for p in net.parameters()]
    try:
        loss.forward(net(x), backend.xp.asarray(y))
        gradient = net.backward(loss.backward())  # ∂C/∂x
    finally:
        for p, grad in zip(net.parameters(), saved):
            p.grad = grad
    r = xp.abs(gradient * x)
    if image_shape is not None:
        r = r.reshape((len(r), *tuple(image_shape)))
    axes = tuple(range(1, r.ndim))
    low, high = r.min(axis=axes, keepdims=True), r.max(axis=axes, keepdims=True)
    importance = (r - low) / xp.where(high > low, high - low, 1)  # [0, 1] per image
    kept = xp.where(importance >= keep, importance, 0)
    gray = kept.mean(axis=1) if kept.ndim == 4 else kept
    return ContributionMap(gradient, importance, kept, gray, gray > binarize_at)


# ---------------------------------------------------------------------------- plots


def _pyplot():
    """matplotlib.pyplot, imported on first use; Agg unless a backend was already chosen."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    if path is not None:
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        _pyplot().close(fig)
    return fig


def plot_delta_profile(runs: dict, key: str = "delta", path=None, title: str | None = None, ax=None):
    """RMS of δ^l against depth l (log scale), one line per run — the vanishing-gradient picture.

    runs: ``{label: GradientFlow or (depths, values)}``; a run may also be a dict
    ``{"delta": (depths, values), "branch": …, "shortcut": …}``. For a network of Residual
    blocks the two paths are drawn too (for ``key="delta"``): what the branch and what the
    shortcut pass down to each block's input, dashed and dotted, at the block's depth.
    Saves to ``path`` when given. Returns the figure.
    """
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for label, run in runs.items():
        if isinstance(run, GradientFlow):
            run = {key: run.profile(key), **{p: run.paths(p) for p in PATHS}}
        if not isinstance(run, dict):
            run = {key: run}
        line = ax.plot(*run[key], marker="o", markersize=3, label=label)[0]
        for route, style in zip(PATHS, ("--", ":")):
            if key == "delta" and route in run and len(run[route][0]):
                ax.plot(*run[route], style, color=line.get_color(), marker=".", label=f"{label}: via {route}")
    ax.set_yscale("log")
    ax.set(
        xlabel="layer l (1 = input side)",
        ylabel=f"RMS {key}" if key != "delta" else r"RMS $\delta^l$",
        title=title or f"gradient flow: RMS {key} by depth",
    )
    ax.legend(fontsize="small")
    return _save(fig, path)


def _as_image(a):
    """(C, H, W) or (H, W) host array → (H, W) or (H, W, 3) for imshow, scaled to [0, 1]."""
    import numpy

    a = numpy.asarray(a, dtype=float)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else numpy.zeros_like(a)


def plot_contribution_maps(
    x, maps: ContributionMap, path=None, count: int = 4, titles: list[str] | None = None
):
    """Rows of input | contribution map | binarized, for the first ``count`` images.

    The map is the normalized importance m (RGB for 3-channel images); x may be flat,
    it is shown in the maps' image shape. Saves to ``path`` when given; returns the figure.
    """
    plt = _pyplot()
    importance, binary = backend.to_numpy(maps.importance), backend.to_numpy(maps.binary)
    if importance.ndim != 4:
        raise ValueError(
            f"plot_contribution_maps: maps of shape {importance.shape} are not images; "
            "pass image_shape=(C, H, W) to contribution_map for flat inputs"
        )
    x = backend.to_numpy(x).reshape(importance.shape)
    count = min(count, len(x))
    fig, axes = plt.subplots(count, 3, figsize=(6, 2 * count), squeeze=False)
    for row in range(count):
        panels = [
            (_as_image(x[row]), "input"),
            (_as_image(importance[row]), "map |g ⊙ x|"),
            (_as_image(binary[row]), "binarized"),
        ]
        for ax, (image, name) in zip(axes[row], panels):
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name)
        if titles is not None:
            axes[row][0].set_ylabel(titles[row])
    return _save(fig, path)
