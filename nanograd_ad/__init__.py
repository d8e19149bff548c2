"""nanograd_ad — explicit backpropagation with pluggable derivatives, in NumPy or CuPy.

    from nanograd_ad import Sequential, Dense, ReLU, SoftmaxCrossEntropy, SGD
    net = Sequential(Dense(64, 32), ReLU(derivative="ad", k=3.5), Dense(32, 10))

See ``docs/architecture.md`` for how the pieces fit and ``lessons/`` to step through them.
"""

# first, before anything imports NumPy: OpenBLAS's idle threads then wait 2^4 cycles, not 2^28
# (nanograd_ad.fast.threads says why; a value the user set is kept)
from .fast import _openblas  # noqa: F401

# isort: split

# every public submodule is reachable as an attribute: nanograd_ad.datasets, nanograd_ad.train, ...
from . import (
    activations,
    amplify,
    artificial_derivative,  # registers the AD paper's derivatives ("ad")
    augment,
    backend,
    callbacks,
    checkpoint,
    cli,
    datasets,
    derivatives,
    divergence,
    ensemble,
    evaluation,
    exercise,
    experiments,
    fast,
    feedback,
    history,
    ics,  # registers the regularized ReLU's derivatives
    init,
    inspect,
    layers,
    losses,
    models,
    network,
    notebooks,
    optim,
    pseudo_normalization,
    schedules,
    sweep,
    train,
)
from ._version import __version__ as __version__
from .activations import (
    Activation,
    Identity,
    ISigmoid,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
    derivative_names,
    register_derivative,
)
from .amplify import AmplificationStrategy, Amplify, GradientStatistics
from .artificial_derivative import SwitchingRule, should_switch
from .backend import BackendError
from .callbacks import Callback, Checkpointing, EarlyStopping
from .checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from .ensemble import from_seeds
from .exercise import CheckError, check, checking
from .fast import threads  # the old ``nanograd_ad.threads``
from .feedback import FeedbackRule
from .gradcheck import GradcheckError, check_layer, explicit_backward, gradcheck
from .history import History
from .ics import PeakAccuracy, RegularizedReLU, Scale, activation_scales, suggest_input_scale
from .init import seed
from .inspect import GradientFlow, contribution_map
from .layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, Parameter
from .losses import MSE, SoftmaxCrossEntropy
from .network import NonFiniteError, Sequential
from .normalization import BatchNorm1D, BatchNorm2D
from .optim import SGD, Adam, clip_by_global_norm, clip_by_value, make_optimizer
from .pseudo_normalization import PseudoNormalize
from .residual import Residual
from .train import Trainer, TrainingDiverged, evaluate, fit

__all__ = [
    "MSE",
    "SGD",
    "Activation",
    "Adam",
    "AmplificationStrategy",
    "Amplify",
    "AvgPool2D",
    "BackendError",
    "BatchNorm1D",
    "BatchNorm2D",
    "Callback",
    "CheckError",
    "CheckpointError",
    "CheckpointMismatchError",
    "Checkpointing",
    "Conv2D",
    "Dense",
    "EarlyStopping",
    "FeedbackRule",
    "Flatten",
    "GradcheckError",
    "GradientFlow",
    "GradientStatistics",
    "History",
    "ISigmoid",
    "Identity",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "NonFiniteError",
    "Parameter",
    "PeakAccuracy",
    "PseudoNormalize",
    "ReLU",
    "RegularizedReLU",
    "Residual",
    "Scale",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "SwitchingRule",
    "Tanh",
    "Trainer",
    "TrainingDiverged",
    "activation_scales",
    "activations",
    "amplify",
    "artificial_derivative",
    "augment",
    "backend",
    "callbacks",
    "check",
    "check_layer",
    "checking",
    "checkpoint",
    "cli",
    "clip_by_global_norm",
    "clip_by_value",
    "contribution_map",
    "datasets",
    "derivative_names",
    "derivatives",
    "divergence",
    "ensemble",
    "evaluate",
    "evaluation",
    "exercise",
    "experiments",
    "explicit_backward",
    "fast",
    "feedback",
    "fit",
    "from_seeds",
    "gradcheck",
    "history",
    "ics",
    "init",
    "inspect",
    "layers",
    "load_checkpoint",
    "losses",
    "make_optimizer",
    "models",
    "network",
    "notebooks",
    "optim",
    "pseudo_normalization",
    "read_checkpoint",
    "register_derivative",
    "save_checkpoint",
    "schedules",
    "seed",
    "should_switch",
    "suggest_input_scale",
    "sweep",
    "threads",
    "train",
]
