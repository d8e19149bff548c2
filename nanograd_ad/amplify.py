"""Intelligent gradient amplification (Basodi, Pusuluri, Xiao & Pan, §3).

Amplifying layer l multiplies its gradient by ``amp`` — eq. 2–3 of the paper:

    ∇J_amp = amp · ∇J        W ← W − η · amp · ∇J = W − η_amp · ∇J,   η_amp = amp · η

so amplification is a larger learning rate for the chosen layers. Which layers? Over
one analysis epoch (m iterations j) the paper measures, per layer l with n weights i,
how consistently the gradients point one way:

    G_l  = |Σ_i Σ_j g_lij| / Σ_i Σ_j |g_lij|                 (0 when the denominator is 0)
    G′_l = (1/n) Σ_i |Σ_j g_lij| / Σ_j |g_lij|               (a weight with Σ_j|g| = 0 counts 0)
    Ĝ_l  = (G_l − mean_l G) / std_l G                        (the same for G′)

Both lie in [0, 1]: 1 when every gradient of the layer has one sign all epoch, 0 when
they cancel. **(reading)** the absolute value of the sum, which 0 ≤ G ≤ 1 (eq. 5)
requires. Only Σ_j g and Σ_j |g| per weight are kept — O(params) memory, nothing per
iteration. "Layer" means a layer with a ``weight`` (Dense, Conv2D); G uses its weight
gradients only (the paper's "n weights g_i"); ``include_bias=True`` adds the bias.

Selection (Algorithm 1): case 1 amplifies layer l when Ĝ_l > threshold, case 2 when
|Ĝ_l| > threshold. The baseline of the earlier paper [16] amplifies a random ratio of
the layers.

Strategy: phases ``(end_epoch, lr, amplify, factor)``, e.g. the paper's
``[(50, 0.1, 0, 1), (100, 0.1, 1, 2), (130, 0.01, 1, 2), (150, 0.01, 0, 1)]``. The first
epoch of an amplifying phase is analysed and chooses the layers amplified for the rest
of the phase (epoch 51 chooses for 52–100, epoch 101 for 102–130); with
``reselect_every=k`` the choice is renewed every k epochs of the phase.

The paper's two strategies and threshold sweeps are named presets: ``PARAMS_SHALLOW``
(params₁, for VGG-19 and ResNet-18/34) with ``THRESHOLDS_SHALLOW`` (0.7–2.5 step 0.1), and
``PARAMS_DEEP`` (params₂, for ResNet-50/101) with ``THRESHOLDS_DEEP`` (1.0–3.0 step 0.25);
`scale_phases` shrinks a strategy to fewer epochs.

Pieces: `GradientStatistics` (a feedback rule that accumulates the sums), `Amplify`
(the feedback rule that multiplies), `AmplificationStrategy` (a training callback that
drives both and the learning rate), and the pure functions `directionality`,
`weightwise_directionality`, `standardize`, `select_layers`, `random_layers`.
"""

from __future__ import annotations

import itertools
import math
import numbers
import random
from typing import NamedTuple

from . import backend
from .callbacks import Callback
from .feedback import FeedbackRule
from .normalization import BatchNorm1D, BatchNorm2D
from .schedules import Phases

__all__ = [
    "MEASURES",
    "PARAMS_DEEP",
    "PARAMS_SHALLOW",
    "SCOPES",
    "THRESHOLDS_DEEP",
    "THRESHOLDS_SHALLOW",
    "AmplificationStrategy",
    "Amplify",
    "GradientStatistics",
    "Phase",
    "check_phases",
    "directionality",
    "random_layers",
    "scale_phases",
    "select_layers",
    "standardize",
    "weight_layers",
    "weightwise_directionality",
    "without_amplification",
]

MEASURES = ("G", "G'", "random")
SCOPES = ("weights", "backward")
_MEASURE_ALIASES = {"g": "G", "g'": "G'", "g′": "G'", "gp": "G'", "g_prime": "G'", "random": "random"}


# ---------------------------------------------------------------------------- measures


def directionality(sum_g, sum_abs_g) -> float:
    """G = |Σ_i Σ_j g_ij| / Σ_i Σ_j |g_ij|  (eq. 4), 0 when the denominator is 0.

    sum_g, sum_abs_g: arrays of one shape (one entry per weight i), summed over j already.
    """
    denominator = float(sum_abs_g.sum())
    return abs(float(sum_g.sum())) / denominator if denominator > 0 else 0.0


def weightwise_directionality(sum_g, sum_abs_g) -> float:
    """G′ = (1/n) Σ_i |Σ_j g_ij| / Σ_j |g_ij|  (eq. 7); a weight with Σ_j |g_ij| = 0 counts 0."""
    xp = backend.xp
    moving = sum_abs_g > 0
    ratio = xp.abs(sum_g) / xp.where(moving, sum_abs_g, 1)
    return float(xp.where(moving, ratio, 0).sum()) / sum_g.size


def standardize(values: dict[int, float]) -> dict[int, float]:
    """Ĝ_l = (G_l − mean G) / std G over the layers (eq. 6).

    **(reading)** std is the population standard deviation (ddof = 0). When every layer
    has the same G (std = 0, e.g. a single layer), no layer stands out: every Ĝ_l = 0.
    """
    if not values:
        return {}
    mean = sum(values.values()) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values.values()) / len(values))
    if std == 0 or not math.isfinite(std):
        return dict.fromkeys(values, 0.0)
    return {layer: (v - mean) / std for layer, v in values.items()}


def select_layers(normalized: dict[int, float], threshold: float, case: int) -> list[int]:
    """Algorithm 1: case 1 keeps layers with Ĝ_l > threshold; case 2 with |Ĝ_l| > threshold."""
    threshold, case = _check_threshold(threshold), _check_case(case)
    if case == 1:
        return sorted(layer for layer, value in normalized.items() if value > threshold)
    return sorted(layer for layer, value in normalized.items() if abs(value) > threshold)


def random_layers(layers, ratio: float, rng: random.Random) -> list[int]:
    """The baseline [16]: ⌊ratio · L + ½⌋ of the L layers (at least one), uniformly at random.

    **(reading)** the count rounds half up; ``rng`` is a ``random.Random``.
    """
    ratio, layers = _check_ratio(ratio), sorted(layers)
    count = max(1, math.floor(ratio * len(layers) + 0.5))
    return sorted(rng.sample(layers, count))


def weight_layers(net) -> list[int]:
    """Seam indices (positions in ``net.walk()``, so inside Residual blocks too) of the layers
    with a ``weight`` parameter (Dense, Conv2D): the paper's layers.

    **(reading)** batch normalization's γ is called ``weight`` too but is not one of the
    paper's "n weights of a layer"; BatchNorm layers are not candidates.
    """
    return [
        i
        for i, (_, layer) in enumerate(net.walk())
        if getattr(layer, "weight", None) is not None and not isinstance(layer, (BatchNorm1D, BatchNorm2D))
    ]


def _layer_at(net, index: int):
    """The layer at seam index ``index`` (its position in ``net.walk()``)."""
    return net.walk()[index][1]


# -------------------------------------------------------------------------- statistics


class GradientStatistics(FeedbackRule):
    """Accumulates Σ_j g and Σ_j |g| per weight while ``recording`` (O(params) memory).

    As a feedback rule it reads each layer's gradient in ``after_layer`` — right after
    ``layer.backward`` has filled ``weight.grad``. That is this step's gradient when the
    gradients were zeroed before the backward, as `Trainer` does (one backward per step).
    It is the backprop gradient ∂C/∂W, before the optimizer's clipping or L2 term.

    Under amplification the gradient read here is the amplified one. G and G′ are
    ratios, unchanged when a layer's gradients are all multiplied by one constant c
    (|Σ c g| / Σ |c g| = |Σ g| / Σ |g|); the amplification of a layer changes only
    between epochs, so the measures of an epoch equal those of the raw gradients.

        stats = GradientStatistics(); net.add_feedback(stats)
        stats.start(); <train one epoch>; stats.stop()
        stats.G(), stats.G_prime(), stats.normalized("G"), stats.table()
    """

    def __init__(self, layers=None, include_bias: bool = False):
        self.layers: list[int] | None = None if layers is None else [int(i) for i in layers]  # bind: all
        self.include_bias = bool(include_bias)
        self.recording = False
        self.sum_g: dict[int, list] = {}
        self.sum_abs_g: dict[int, list] = {}
        self.iterations: dict[int, int] = {}

    def bind(self, net) -> None:
        """Check that every chosen layer has a weight (default: all such layers)."""
        super().bind(net)
        self.layers = _check_layers(net, self.layers, type(self).__name__)

    def _tracked(self, layer) -> list:
        params = [layer.weight]
        if self.include_bias and getattr(layer, "bias", None) is not None:
            params.append(layer.bias)
        return params

    def start(self) -> None:
        """Zero the sums and start recording (call at the beginning of the analysis epoch)."""
        xp = backend.xp
        if self.layers is None:
            raise RuntimeError(f"{type(self).__name__}: start() before bind() (add it to the network first)")
        for i in self.layers:
            params = self._tracked(_layer_at(self.net, i))
            self.sum_g[i] = [xp.zeros_like(p.data) for p in params]
            self.sum_abs_g[i] = [xp.zeros_like(p.data) for p in params]
            self.iterations[i] = 0
        self.recording = True

    def stop(self) -> None:
        """Stop recording; the sums stay for the measures."""
        self.recording = False

    def add(self, index: int, grads) -> None:
        """Σ_j g += g, Σ_j |g| += |g| for layer ``index``; grads: one array per tracked parameter."""
        for total, total_abs, g in zip(self.sum_g[index], self.sum_abs_g[index], grads):
            total += g
            total_abs += backend.xp.abs(g)
        self.iterations[index] += 1

    def after_layer(self, index, layer, delta):
        if self.recording and index in self.sum_g:
            self.add(index, [p.grad for p in self._tracked(layer)])
        return delta

    def _flat(self, index: int):
        xp = backend.xp
        return (
            xp.concatenate([s.reshape(-1) for s in self.sum_g[index]]),
            xp.concatenate([s.reshape(-1) for s in self.sum_abs_g[index]]),
        )

    def G(self) -> dict[int, float]:
        """{layer index: G_l} (eq. 4) from the sums of the last analysis."""
        return {i: directionality(*self._flat(i)) for i in self.sum_g}

    def G_prime(self) -> dict[int, float]:
        """{layer index: G′_l} (eq. 7) from the sums of the last analysis."""
        return {i: weightwise_directionality(*self._flat(i)) for i in self.sum_g}

    def measure(self, name: str) -> dict[int, float]:
        """``"G"`` → `G`, ``"G'"`` → `G_prime`."""
        return self.G() if _check_measure(name) == "G" else self.G_prime()

    def normalized(self, name: str = "G") -> dict[int, float]:
        """{layer index: Ĝ_l} (eq. 6, or eq. 9 for ``"G'"``)."""
        return standardize(self.measure(name))

    def table(self) -> list[dict]:
        """One row per layer (for printing or plotting): index, layer, weights, G, G′, Ĝ, Ĝ′."""
        g, g_prime = self.G(), self.G_prime()
        g_hat, g_prime_hat = standardize(g), standardize(g_prime)
        return [
            {
                "layer": i,
                "name": repr(_layer_at(self.net, i)),
                "weights": int(self._flat(i)[0].size),
                "iterations": self.iterations[i],
                "G": g[i],
                "G'": g_prime[i],
                "G_hat": g_hat[i],
                "G'_hat": g_prime_hat[i],
            }
            for i in self.sum_g
        ]


# ------------------------------------------------------------------------ amplification


class Amplify(FeedbackRule):
    """Multiply the gradients of the ``selected`` layers by ``factor`` (eq. 2).

    ``scope="weights"`` (default, our reading of Basodi, Pusuluri, Xiao & Pan, §3): only the selected layer's
    own weight and bias gradients are multiplied. The rule scales the error entering
    the layer and divides what the layer passes down, so the layers below see the
    ordinary error::

        δ ← amp · δ                        before_layer: ∂C/∂W = a^T (amp δ) = amp · ∂C/∂W
        δ_below ← δ_below / amp            after_layer:  (amp δ) W^T / amp = δ W^T

    (exact for powers of two such as amp = 2; within rounding otherwise).
    ``scope="backward"``: the division is skipped, so every layer below also receives
    amp × its error — and amp × its gradients.

    ``enabled`` switches the rule off without forgetting the selection.
    """

    def __init__(self, factor: float = 2.0, scope: str = "weights", selected=()):
        self.factor = _check_factor(factor)
        if scope not in SCOPES:
            raise ValueError(f"Amplify: scope must be one of {SCOPES}, got {scope!r}")
        self.scope = scope
        self.selected: frozenset[int] = frozenset(int(i) for i in selected)
        self.enabled = True

    def bind(self, net) -> None:
        """Check that the selected layers have weights (and that ``scope="backward"`` meets no block)."""
        if self.scope == "backward" and len(net.walk()) != len(net.layers):
            raise ValueError(
                "Amplify(scope='backward') multiplies the error of every layer below a selected one, "
                "which a Residual block's two paths do not define (only one of them would carry the "
                "factor); use scope='weights' on networks with blocks"
            )
        super().bind(net)
        _check_layers(net, sorted(self.selected), "Amplify")

    def select(self, layers) -> None:
        """Amplify these layer indices from now on (checked against the bound network)."""
        layers = [int(i) for i in layers]
        if hasattr(self, "net"):
            _check_layers(self.net, layers, "Amplify")
        self.selected = frozenset(layers)

    def _amplifies(self, index: int) -> bool:
        return self.enabled and index in self.selected

    def before_layer(self, index, layer, delta):
        if self._amplifies(index):
            return delta * self.factor  # ∇J_amp = amp · ∇J  (eq. 2)
        return delta

    def after_layer(self, index, layer, delta):
        if delta is not None and self.scope == "weights" and self._amplifies(index):
            return delta / self.factor  # the layers below see the plain error
        return delta

    def gradient_scale(self, index: int) -> float:
        """The number layer ``index``'s gradients are multiplied by under the current selection."""
        above = (
            [i for i in self.selected if i >= index]
            if self.scope == "backward"
            else ([index] if index in self.selected else [])
        )
        return self.factor ** len(above) if self.enabled else 1.0

    def __repr__(self):
        return f"Amplify(factor={self.factor}, scope={self.scope!r}, selected={sorted(self.selected)})"


# ----------------------------------------------------------------------------- phases


class Phase(NamedTuple):
    """One phase of the strategy: 0-based epochs [previous end_epoch, end_epoch)."""

    end_epoch: int
    lr: float
    amplify: bool
    factor: float


def check_phases(phases) -> list[Phase]:
    """Validate ``[(end_epoch, lr, amplify, factor), ...]`` and return `Phase` tuples.

    end_epoch: ints, strictly increasing (unordered or overlapping lists are refused);
    lr > 0; amplify: a bool or a number (non-zero = amplify, as in the paper's is_amp);
    factor: a finite number > 0. Epochs are 0-based and end_epoch exclusive, so
    ``(50, 0.1, 0, 1)`` covers the paper's epochs 1–50.
    """
    schedule = Phases(phases)  # order, end epochs, lr
    checked = []
    for i, entry in enumerate(schedule.phases):
        if len(entry) != 4:
            raise ValueError(f"phase {i} {entry!r} must be (end_epoch, lr, amplify, factor)")
        end, lr, amplify, factor = entry
        if not isinstance(amplify, numbers.Real) or (
            not isinstance(amplify, bool) and not math.isfinite(amplify)
        ):
            raise ValueError(f"phase {i} {entry!r}: amplify must be a bool or a number, got {amplify!r}")
        try:
            factor = _check_factor(factor)
        except ValueError as err:
            raise ValueError(f"phase {i} {entry!r}: {err}") from None
        checked.append(Phase(int(end), float(lr), bool(amplify), factor))
    return checked


#: params₁ (Basodi et al., §4), the strategy of the shallow models (VGG-19, ResNet-18/34):
#: 50 plain epochs, amplification analysed at epoch 51 for 52–100, the rate cut to 0.01
#: and a new analysis at 101 for 102–130, the last 20 epochs plain. 150 epochs.
PARAMS_SHALLOW: tuple[Phase, ...] = (
    Phase(50, 0.1, False, 1.0),
    Phase(100, 0.1, True, 2.0),
    Phase(130, 0.01, True, 2.0),
    Phase(150, 0.01, False, 1.0),
)

#: params₂ (Basodi et al., §4), the strategy of the deep models (ResNet-50/101): 10 plain
#: epochs, analysis at epoch 11 for 12–100, the rate cut to 0.01 and a new analysis at 101
#: for 102–145, the last 5 epochs plain. (The captions of the paper's Figs. 5, 6, 9, 10 say
#: "applied from epochs 51-145"; the strategy as stated is this one.)
PARAMS_DEEP: tuple[Phase, ...] = (
    Phase(10, 0.1, False, 1.0),
    Phase(100, 0.1, True, 2.0),
    Phase(145, 0.01, True, 2.0),
    Phase(150, 0.01, False, 1.0),
)

#: the threshold sweep of the shallow models: 0.7, 0.8, …, 2.5 (19 values)
THRESHOLDS_SHALLOW: tuple[float, ...] = tuple(round(0.7 + 0.1 * i, 6) for i in range(19))

#: the threshold sweep of the deep models: 1.0, 1.25, …, 3.0 (9 values)
THRESHOLDS_DEEP: tuple[float, ...] = tuple(round(1.0 + 0.25 * i, 6) for i in range(9))


def scale_phases(phases, epochs: int) -> list[Phase]:
    """The same strategy shrunk (or stretched) to ``epochs``: every end_epoch e becomes
    round(e · epochs / E), E the last end; the rates, flags and factors are kept.

    Refuses an ``epochs`` so small that two phases would end at the same epoch (every phase
    needs at least one). ``scale_phases(PARAMS_DEEP, 30)`` ends at 2, 20, 29, 30.
    """
    checked = check_phases(phases)
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"scale_phases: epochs must be an int >= 1, got {epochs!r}")
    total = checked[-1].end_epoch
    ends = [round(phase.end_epoch * int(epochs) / total) for phase in checked]
    if ends[0] < 1 or any(a >= b for a, b in itertools.pairwise(ends)):
        raise ValueError(
            f"scale_phases: {epochs} epochs are too few for {len(checked)} phases ending at "
            f"{[p.end_epoch for p in checked]} of {total} (scaled ends {ends}: each phase needs an epoch)"
        )
    return [phase._replace(end_epoch=end) for phase, end in zip(checked, ends)]


def without_amplification(phases) -> list[Phase]:
    """The same phases (the same learning rates) with amplification off: the original run."""
    return [phase._replace(amplify=False, factor=1.0) for phase in check_phases(phases)]


# --------------------------------------------------------------------------- strategy


class AmplificationStrategy(Callback):
    """The paper's training strategy as a callback: phases drive lr, amplification, analysis.

    phases: ``(end_epoch, lr, amplify, factor)`` (see `check_phases`). measure: ``"G"``,
    ``"G'"`` or ``"random"`` (the baseline [16], with ``ratio``); case 1 or 2 and
    ``threshold`` for the measures. reselect_every: None (once per phase) or k (every k
    epochs of an amplifying phase). scope: see `Amplify`. layers: the candidate layers
    (default: every layer with a weight).

    At the beginning of each epoch e the phase p ∋ e sets ``optimizer.lr`` (epochs past
    the last end_epoch stay in the last phase; `total_epochs` is that end). In an
    amplifying phase, e is an analysis epoch when it is the phase's first (the selection
    is then empty and nothing is amplified), or k·r epochs into it; the gradients of an
    analysis epoch are accumulated and, at its end, choose the layers amplified from the
    next epoch on. **(reading)** when reselecting, the previous choice stays amplified
    during the analysis epoch. The random baseline draws its layers at the same moments,
    so the variants differ only in which layers they amplify.

    History events: ``amplify_phase`` (a phase begins), ``amplify_select`` (layers chosen,
    with G or G′ and Ĝ per candidate layer), ``amplify_phase_end`` (the layers amplified
    in the phase and for how many epochs). ``epoch_log`` keeps one dict per epoch:
    epoch, phase, lr, analysis, amplified (the layers amplified in that epoch).
    """

    def __init__(
        self,
        phases,
        measure: str = "G",
        case: int = 1,
        threshold: float = 1.0,
        ratio: float = 0.25,
        reselect_every: int | None = None,
        scope: str = "weights",
        layers=None,
        include_bias: bool = False,
        seed: int = 0,
    ):
        self.phases = check_phases(phases)
        self.measure = _check_measure(measure)
        self.case = _check_case(case)
        self.threshold = _check_threshold(threshold)
        self.ratio = _check_ratio(ratio)
        if reselect_every is not None and (
            isinstance(reselect_every, bool)
            or not isinstance(reselect_every, numbers.Integral)
            or reselect_every < 1
        ):
            raise ValueError(f"reselect_every must be None or an int >= 1, got {reselect_every!r}")
        self.reselect_every = None if reselect_every is None else int(reselect_every)
        self.rng = random.Random(seed)
        self.statistics = GradientStatistics(layers, include_bias)
        self.amplify = Amplify(factor=1.0, scope=scope)
        self.epoch_log: list[dict] = []
        self.phase_index: int | None = None
        self.analysing = False
        self._selected_in_phase = False
        self._amplified_in_phase: set[int] = set()
        self._amplified_epochs = 0

    @property
    def total_epochs(self) -> int:
        """The last phase's end epoch: train this many epochs."""
        return self.phases[-1].end_epoch

    def phase_of(self, epoch: int) -> int:
        """Index of the phase that holds 0-based ``epoch`` (the last one past the end)."""
        return next((i for i, p in enumerate(self.phases) if epoch < p.end_epoch), len(self.phases) - 1)

    def phase_start(self, index: int) -> int:
        """First epoch of phase ``index``."""
        return 0 if index == 0 else self.phases[index - 1].end_epoch

    # -- callback hooks -------------------------------------------------------------

    def on_train_begin(self, trainer) -> None:
        if trainer.schedule is not None:
            raise ValueError(
                "AmplificationStrategy sets the learning rate from its phases; "
                "train without a schedule (schedule=None)"
            )
        net = trainer.net
        for rule in (self.statistics, self.amplify):
            if rule not in net.feedback:
                net.add_feedback(rule)
        if not self.statistics.layers:  # bound just above: a list
            raise ValueError("AmplificationStrategy: the network has no layer with weights")

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        index = self.phase_of(epoch)
        phase = self.phases[index]
        if index != self.phase_index:
            self._begin_phase(trainer, epoch, index)
        trainer.optimizer.lr = phase.lr
        offset = epoch - self.phase_start(index)
        due = (
            offset == 0
            or not self._selected_in_phase
            or (self.reselect_every is not None and offset % self.reselect_every == 0)
        )
        self.analysing = phase.amplify and due
        if self.analysing and self.measure != "random":
            self.statistics.start()
        self.amplify.enabled = phase.amplify and bool(self.amplify.selected)
        amplified = sorted(self.amplify.selected) if self.amplify.enabled else []
        if amplified:
            self._amplified_in_phase.update(amplified)
            self._amplified_epochs += 1
        self.epoch_log.append(
            {
                "epoch": epoch,
                "phase": index,
                "lr": phase.lr,
                "analysis": self.analysing,
                "amplified": amplified,
            }
        )

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self.analysing:
            self.statistics.stop()
            self._choose(trainer, epoch)
            self.analysing = False
        assert self.phase_index is not None  # set by on_epoch_begin
        if epoch + 1 == self.phases[self.phase_index].end_epoch:
            self._end_phase(trainer, epoch)

    def on_train_end(self, trainer) -> None:
        self.statistics.stop()
        self.amplify.enabled = False

    # -- the steps ----------------------------------------------------------------------

    def _begin_phase(self, trainer, epoch: int, index: int) -> None:
        phase = self.phases[index]
        self.phase_index = index
        self.amplify.select([])
        self.amplify.factor = phase.factor
        self._selected_in_phase = False
        self._amplified_in_phase, self._amplified_epochs = set(), 0
        trainer.history.record(
            epoch,
            "amplify_phase",
            phase=index,
            end_epoch=phase.end_epoch,
            lr=phase.lr,
            amplify=phase.amplify,
            factor=phase.factor,
        )

    def choose(self) -> tuple[list[int], dict]:
        """The layers to amplify from the last analysis, and what they were chosen from."""
        candidates = self.statistics.layers
        if self.measure == "random":
            return random_layers(candidates, self.ratio, self.rng), {"ratio": self.ratio}
        values = self.statistics.measure(self.measure)
        normalized = standardize(values)
        layers = select_layers(normalized, self.threshold, self.case)
        return layers, {
            "case": self.case,
            "threshold": self.threshold,
            "candidates": list(values),
            "values": list(values.values()),
            "normalized": list(normalized.values()),
        }

    def _choose(self, trainer, epoch: int) -> None:
        layers, info = self.choose()
        self.amplify.select(layers)
        self._selected_in_phase = True
        trainer.history.record(
            epoch,
            "amplify_select",
            phase=self.phase_index,
            layers=layers,
            measure=self.measure,
            factor=self.amplify.factor,
            **info,
        )

    def _end_phase(self, trainer, epoch: int) -> None:
        assert self.phase_index is not None  # set by on_epoch_begin
        phase = self.phases[self.phase_index]
        trainer.history.record(
            epoch,
            "amplify_phase_end",
            phase=self.phase_index,
            amplify=phase.amplify,
            layers=sorted(self._amplified_in_phase),
            amplified_epochs=self._amplified_epochs,
        )

    def __repr__(self):
        how = (
            f"ratio={self.ratio}"
            if self.measure == "random"
            else f"case={self.case}, threshold={self.threshold}"
        )
        return (
            f"AmplificationStrategy(measure={self.measure!r}, {how}, scope={self.amplify.scope!r}, "
            f"reselect_every={self.reselect_every}, phases={[tuple(p) for p in self.phases]})"
        )


# ----------------------------------------------------------------------------- checks


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_factor(factor) -> float:
    if not _is_number(factor) or factor <= 0:
        raise ValueError(f"the amplification factor must be a finite number > 0, got {factor!r}")
    return float(factor)


def _check_threshold(threshold) -> float:
    if not _is_number(threshold):
        raise ValueError(f"the threshold must be a finite number (compared with Ĝ), got {threshold!r}")
    return float(threshold)


def _check_ratio(ratio) -> float:
    if not _is_number(ratio) or not 0 < ratio <= 1:
        raise ValueError(f"the random-amplification ratio must be a number in (0, 1], got {ratio!r}")
    return float(ratio)


def _check_case(case) -> int:
    if isinstance(case, bool) or case not in (1, 2):
        raise ValueError(f"case must be 1 (Ĝ > threshold) or 2 (|Ĝ| > threshold), got {case!r}")
    return int(case)


def _check_measure(measure) -> str:
    name = _MEASURE_ALIASES.get(str(measure).lower()) if isinstance(measure, str) else None
    if name is None:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    return name


def _check_layers(net, layers, owner: str) -> list[int]:
    """``layers`` (default: all weight layers) after checking each has a weight."""
    eligible = weight_layers(net)
    if layers is None:
        return eligible
    walk = net.walk()
    for i in layers:
        if i not in eligible:
            name = repr(walk[i][1]) if 0 <= i < len(walk) else "no such layer"
            raise ValueError(
                f"{owner}: layer {i} ({name}) has no weight (the Dense/Conv2D layers are candidates; "
                f"batch norm's γ is not); layers with weights: {eligible}"
            )
    return sorted(layers)
