"""argparse types shared by the CLI and the experiments' options (a module below both).

    parser.add_argument("--depth", type=positive_int)      # "0" → "must be >= 1, got 0"

Each raises ``argparse.ArgumentTypeError`` with the expected and the received value, so
argparse prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse

__all__ = ["nonnegative_int", "positive_float", "positive_int"]


def _int_at_least(minimum: int):
    """An argparse type: an integer ≥ ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1)
nonnegative_int = _int_at_least(0)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (learning rates, factors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value
