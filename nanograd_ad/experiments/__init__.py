"""The experiment registry the CLI reads: one module per paper, each registering its runs.

An experiment is a function ``run(config: ExperimentConfig) -> dict`` registered under a
name:

    from nanograd_ad.experiments import register
    from nanograd_ad.experiments.common import ExperimentConfig

    def add_arguments(parser):                    # optional: options of this experiment
        parser.add_argument("--depths", type=int, nargs="+", default=[2, 4, 6, 8])

    @register("ad-tables", "Tables 2 and 4 of the AD paper", paper="Hu et al. 2021",
              add_arguments=add_arguments)
    def run(config: ExperimentConfig) -> dict:
        depths = config.extra["depths"]           # experiment options arrive in .extra
        ...

Most experiments are declarations instead (`nanograd_ad.experiments.runner.declare`, which
registers them here): the grid, one cell's training and the report as data, with one runner
for units, Dask, resume, results.json and the table.

Registration is driven by imports: `MODULES` lists the experiment modules by name, and
`load_all()` imports each one, skipping (with a warning) any that does not exist yet.
To add an experiment module, create ``nanograd_ad/experiments/<name>.py`` with
``@register(...)`` functions and add ``"<name>"`` to `MODULES`.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MODULES",
    "Experiment",
    "UnknownExperimentError",
    "experiments",
    "get",
    "load_all",
    "names",
    "register",
]

#: Experiment modules of this package, imported by `load_all` (a missing one is skipped).
MODULES = ["digits_ad", "ad_tables", "ad_cifar", "pn", "amplify", "ics", "baselines"]


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``run(config) -> dict`` plus what the CLI shows."""

    name: str
    description: str
    run: Callable
    paper: str | None = None
    add_arguments: Callable | None = None


class UnknownExperimentError(KeyError):
    """An experiment name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, Experiment] = {}
_loaded = False
skipped_modules: list[str] = []


def register(name: str, description: str, paper: str | None = None, add_arguments: Callable | None = None):
    """Decorator: register ``run(config) -> dict`` as experiment ``name``.

    ``paper`` cites the paper the experiment reproduces; ``add_arguments(parser)`` adds
    experiment-specific CLI options (their values arrive in ``config.extra``).
    """

    def decorator(run: Callable) -> Callable:
        existing = _REGISTRY.get(name)
        if (
            existing is not None
            and existing.run is not run
            and getattr(existing.run, "__module__", None) != getattr(run, "__module__", None)
        ):
            raise ValueError(f"experiment {name!r} is already registered by {existing.run.__module__}")
        _REGISTRY[name] = Experiment(name, description, run, paper, add_arguments)
        return run

    return decorator


def load_all() -> None:
    """Import every module in `MODULES` once; a module that does not exist is skipped."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in MODULES:
        full = f"{__name__}.{module}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as err:
            if err.name != full:  # the module exists but something it imports is missing
                raise
            skipped_modules.append(module)
            warnings.warn(
                f"experiment module {full} does not exist yet; skipped", RuntimeWarning, stacklevel=2
            )


def experiments() -> dict[str, Experiment]:
    """All registered experiments by name (after `load_all`)."""
    load_all()
    return dict(sorted(_REGISTRY.items()))


def names() -> list[str]:
    """The registered experiment names, sorted."""
    return list(experiments())


def get(name: str) -> Experiment:
    """The experiment called ``name``; `UnknownExperimentError` lists the known names."""
    known = experiments()
    if name not in known:
        raise UnknownExperimentError(
            f"unknown experiment {name!r}; known experiments: {', '.join(known) or '(none)'}"
        )
    return known[name]
