"""nanograd_ad — explicit backpropagation with pluggable derivatives, in NumPy or CuPy.

    from nanograd_ad import Sequential, Dense, ReLU, SoftmaxCrossEntropy, SGD
    net = Sequential(Dense(64, 32), ReLU(derivative="ad", k=3.5), Dense(32, 10))

See ``docs/architecture.md`` for how the pieces fit and ``lessons/`` to step through them.
"""
from . import backend, init
from .amplify import AmplificationStrategy, Amplify, GradientStatistics
from .activations import (Activation, Identity, ISigmoid, LeakyReLU, ReLU, Sigmoid, Tanh,
                          derivative_names, register_derivative)
from .backend import BackendError
from .ensemble import EnsembleHistory, EnsembleSwitching, EnsembleTrainer, from_seeds, stack
from .feedback import FeedbackRule, PseudoNormalize
from .gradcheck import GradcheckError, check_layer, explicit_backward, gradcheck
from .ics import RegularizedReLU, Scale, activation_scales, suggest_input_scale
from .init import seed
from .inspect import GradientFlow, contribution_map
from .layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, Parameter
from .losses import MSE, SoftmaxCrossEntropy
from .network import NonFiniteError, Sequential
from .optim import SGD, Adam, clip_by_global_norm, clip_by_value
from .train import (Callback, Checkpointing, EarlyStopping, History, PeakAccuracy, SwitchingRule,
                    Trainer, TrainingDiverged, evaluate, fit, make_optimizer, should_switch)
from .checkpoint import (CheckpointError, CheckpointMismatchError, load_checkpoint,
                         read_checkpoint, save_checkpoint)

__version__ = "0.1.0"

__all__ = [
    "backend", "init", "seed", "BackendError",
    "RegularizedReLU", "Scale", "suggest_input_scale", "activation_scales",
    "Activation", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ISigmoid", "Identity",
    "register_derivative", "derivative_names",
    "Layer", "Parameter", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten",
    "MSE", "SoftmaxCrossEntropy", "Sequential", "NonFiniteError", "FeedbackRule",
    "PseudoNormalize", "GradientFlow", "contribution_map",
    "Amplify", "AmplificationStrategy", "GradientStatistics",
    "EnsembleTrainer", "EnsembleSwitching", "EnsembleHistory", "from_seeds", "stack",
    "SGD", "Adam", "clip_by_value", "clip_by_global_norm",
    "gradcheck", "check_layer", "explicit_backward", "GradcheckError",
    "fit", "Trainer", "History", "evaluate", "make_optimizer", "Callback", "SwitchingRule",
    "should_switch", "PeakAccuracy", "EarlyStopping", "Checkpointing", "TrainingDiverged",
    "save_checkpoint", "load_checkpoint", "read_checkpoint", "CheckpointError", "CheckpointMismatchError",
]
