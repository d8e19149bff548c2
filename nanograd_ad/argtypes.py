"""argparse types shared by the CLI and the experiments' options (a module below both).

    parser.add_argument("--depth", type=positive_int)      # "0" → "must be >= 1, got 0"

Each raises ``argparse.ArgumentTypeError`` with the expected and the received value, so
argparse prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "MAX_RUNS",
    "folder",
    "nonnegative_float",
    "nonnegative_int",
    "positive_float",
    "positive_int",
    "run_count",
]

#: The most independent runs (seeds) one command may ask for: the grid of units is built
#: up front, so a bound keeps ``--runs 100000000`` from exhausting memory before it starts.
MAX_RUNS = 10_000


def _int_at_least(minimum: int, maximum: int | None = None, why: str = ""):
    """An argparse type: an integer ≥ ``minimum`` (and ≤ ``maximum``, for the reason ``why``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum}{why}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1)
nonnegative_int = _int_at_least(0)
run_count = _int_at_least(1, MAX_RUNS, " (split a bigger sweep into several --seed ranges)")


def folder(text: str) -> Path:
    """argparse type: a folder path, not empty ("" would silently mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r} (for the current folder give .)")
    return Path(text)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (learning rates, factors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number ≥ 0 (weight decay, where 0 means none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value
