"""Checks for exercises: compare the array a student computed with the expected one.

    ng.check("delta1", delta1, expected)      # passes quietly, or raises CheckError

A failed check says what a student needs to find the mistake: which array, its shape
against the expected shape, the worst entry (index, both values, relative error) and —
when the difference has a recognisable cause — a hint: a transposed matrix, a missing
sum over the batch, a missing or extra constant factor such as 1/N, a flipped sign, or
any known wrong answer the lesson passes in ``hints`` (e.g. what the true derivative
gives where the artificial one was asked for).

An entry passes when its relative error is at most ``rtol``::

    relative error = |yours − expected| / max(|yours|, |expected|, atol/rtol)

The floor ``atol/rtol`` makes an absolute difference of ``atol`` count as exactly the
tolerance, so entries that should be 0 may carry rounding noise up to ``atol``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import backend

__all__ = ["CheckError", "check"]


class CheckError(AssertionError):
    """A check failed; the message names the array, the worst entry and, if found, a likely cause.

    Attributes: ``name``, ``index`` (worst entry, or None for a shape mismatch), ``yours``,
    ``expected`` (the values there), ``rel_error`` and ``hint`` (None when no cause was recognised).
    """

    def __init__(
        self, message: str, name: str, index=None, yours=None, expected=None, rel_error=None, hint=None
    ):
        super().__init__(message)
        self.name, self.index, self.yours, self.expected = name, index, yours, expected
        self.rel_error, self.hint = rel_error, hint


def _as_float_array(value, name: str, role: str) -> np.ndarray:
    """Host float64 copy of a number, list, NumPy or CuPy array; CheckError if it is none of these."""
    try:
        array = np.asarray(backend.to_numpy(value) if hasattr(value, "shape") else value)
    except Exception as err:  # a CuPy array on a machine without CuPy, or an odd object
        raise CheckError(f"check '{name}': {role} could not be read as an array ({err})", name) from None
    if array.dtype.kind == "c":  # casting would drop the imaginary part with only a warning
        raise CheckError(
            f"check '{name}': {role} should be real numbers, got {type(value).__name__} "
            f"(dtype {array.dtype}): {str(value)[:80]}",
            name,
        )
    if array.dtype.kind not in "biuf":
        raise CheckError(
            f"check '{name}': {role} should be numbers, got {type(value).__name__} "
            f"(dtype {array.dtype}): {str(value)[:80]}",
            name,
        )
    return array.astype(np.float64)


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6) -> bool:
    """a ≈ b in shape and values, to ``rtol`` of b's largest entry (the hints' loose test)."""
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return bool(np.max(np.abs(a - b), initial=0.0) <= rtol * scale)


def _factor_hint(factor: float, size: int) -> str | None:
    """Words for yours = factor × expected (for one number only a sign, k or 1/k says anything)."""
    if abs(factor + 1) < 1e-6:
        return "yours is −1 × the expected values: the sign is flipped (y − a instead of a − y, − for +?)"
    for k in range(2, 10001):
        if abs(factor - k) < 1e-6 * k:
            extra = " (or the 2 from d(u²)/du)" if k == 2 else ""
            return (
                f"yours is {k} × the expected values: a missing 1/{k} — if {k} is your batch size N, "
                f"the mean over the batch (1/N){extra}?"
            )
        if abs(factor - 1 / k) < 1e-6 / k:
            extra = " (or the 2 from d(u²)/du)" if k == 2 else ""
            return (
                f"yours is 1/{k} × the expected values: an extra 1/{k} — if {k} is your batch size N, "
                f"a 1/N too many (the expected sum is not a mean?){extra}"
            )
        if k > abs(factor) + 1 / max(abs(factor), 1e-300) + 1:
            break
    if size == 1:
        return None
    if factor < 0:
        return f"yours is {factor:.6g} × the expected values: a flipped sign and a constant factor"
    return f"yours is {factor:.6g} × the expected values everywhere: a wrong constant factor"


def _shape_hint(yours: np.ndarray, expected: np.ndarray) -> str | None:
    """A likely cause of a shape mismatch."""
    if yours.ndim >= 2 and yours.shape == expected.shape[::-1]:
        if _close(yours.T, expected):
            return "yours is the expected array transposed: use .T (W vs Wᵀ, or a product in the wrong order)"
        return (
            "your shape is the expected shape reversed: a transposed matrix (W vs Wᵀ, or a swapped product)?"
        )
    if yours.ndim == expected.ndim + 1 and yours.shape[1:] == expected.shape:
        if _close(yours.sum(axis=0), expected):
            return "summed over axis 0 yours is right: the sum over the batch (axis 0) is missing"
        if _close(yours.mean(axis=0), expected):
            return "averaged over axis 0 yours is right, but the expected value is the sum over the batch"
        return "yours has an extra leading axis: a missing sum over the batch (axis 0)?"
    if expected.ndim == yours.ndim + 1 and expected.shape[1:] == yours.shape:
        return (
            "yours lacks the leading (batch) axis: did you sum over the samples where each keeps its own row?"
        )
    if yours.size == expected.size:
        if _close(yours.reshape(expected.shape), expected):
            return f"the values are right, only the shape differs: reshape to {expected.shape} (or keepdims)"
        return "the same number of entries in another shape: a reshape, a transpose or keepdims?"
    return None


def _value_hint(yours: np.ndarray, expected: np.ndarray, hints: Mapping) -> str | None:
    """A likely cause of wrong values (same shape): a known mistake, a transpose, a factor."""
    for description, wrong in hints.items():
        wrong = np.asarray(backend.to_numpy(wrong) if hasattr(wrong, "shape") else wrong, dtype=np.float64)
        if _close(yours, np.broadcast_to(wrong, yours.shape) if wrong.shape != yours.shape else wrong):
            return str(description)
    if not np.any(yours) and np.any(expected):
        return "yours is all zeros: not computed yet, a product with a zero derivative, or a forgotten +=?"
    if yours.ndim == 2 and yours.shape[0] == yours.shape[1] and _close(yours.T, expected):
        return "yours is the expected array transposed: use .T (W vs Wᵀ, or a product in the wrong order)"
    if yours.ndim >= 1 and yours.shape[0] > 1 and _close(yours[::-1], expected):
        return "yours is the expected array in reverse order along axis 0 (layers listed top-down?)"
    if yours.ndim >= 2 and _close(yours[..., ::-1, ::-1], expected):
        return "yours is the expected array rotated by 180° (last two axes): a flipped (or unflipped) kernel?"
    norm = float(np.sum(expected * expected))
    if norm > 0:
        factor = float(np.sum(yours * expected)) / norm
        if abs(factor - 1) > 1e-4 and factor != 0 and _close(yours, factor * expected):  # not rounding
            return _factor_hint(factor, yours.size)
    return None


def _fmt_index(index: tuple) -> str:
    return "()" if index == () else str(tuple(int(i) for i in index))


def check(
    name: str,
    yours,
    expected,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-12,
    hints: Mapping | None = None,
) -> None:
    """Pass quietly when ``yours`` equals ``expected`` to ``rtol``; otherwise raise :class:`CheckError`.

    relative error_i = |yours_i − expected_i| / max(|yours_i|, |expected_i|, atol/rtol);
    the check passes when every relative error_i ≤ rtol.

    Args:
        name: what the array is called in the lesson (``"delta1"``, ``"∂C/∂W¹"``); the
            message starts with it.
        yours, expected: numbers, lists, NumPy or CuPy arrays of the same shape.
        rtol: relative tolerance (> 0). The default 1e-7 suits float64 computations of
            the same quantity by two routes; loosen it for float32.
        atol: absolute differences up to ``atol`` (≥ 0) always pass.
        hints: known wrong answers, ``{description: the array that mistake gives}``; when
            yours matches one, its description is the hint (e.g. ``{"the true derivative
            f′(z) instead of the artificial derivative": delta_true}``).
    Raises:
        CheckError (an AssertionError) naming the array, the shapes, the worst index, both
        values, the relative error and a hint when the cause is recognised.
        ValueError for a bad ``name``, ``rtol``, ``atol`` or ``hints`` (a mistake in the lesson).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"check: name must be a non-empty string, got {name!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1:
        raise ValueError(f"check: rtol must be a number in (0, 1), got {rtol!r}")
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol < float("inf"):
        raise ValueError(f"check: atol must be a finite number ≥ 0, got {atol!r}")
    if hints is not None and not isinstance(hints, Mapping):
        raise ValueError(
            f"check: hints must be a mapping {{description: wrong array}}, got {type(hints).__name__}"
        )
    if yours is None:
        raise CheckError(
            f"check '{name}': yours is None — nothing was computed (a function without `return`?)",
            name,
            hint="a missing return",
        )
    if yours is NotImplemented or yours is Ellipsis:
        raise CheckError(f"check '{name}': yours is {yours!r} — the exercise is not done yet", name)
    exp = _as_float_array(expected, name, "the expected value")
    mine = _as_float_array(yours, name, "yours")

    if mine.shape != exp.shape:
        hint = _shape_hint(mine, exp)
        raise CheckError(
            f"check '{name}' failed: yours has shape {mine.shape}, expected shape {exp.shape}"
            + (f"\n  hint: {hint}" if hint else ""),
            name,
            hint=hint,
        )

    not_finite = ~np.isfinite(mine) & np.isfinite(exp)
    if np.any(not_finite):
        index = tuple(np.argwhere(not_finite)[0])
        hint = "NaN or inf: an overflow (exp of a large number?), 0/0, or an uninitialised np.empty?"
        raise CheckError(
            f"check '{name}' failed: {int(not_finite.sum())} of {mine.size} entries are not finite\n"
            f"  shape: {mine.shape} as expected\n"
            f"  first at index {_fmt_index(index)}: yours {mine[index]!r}, expected {exp[index]:.10g}\n"
            f"  hint: {hint}",
            name,
            index=index,
            yours=float(mine[index]),
            expected=float(exp[index]),
            hint=hint,
        )

    floor = atol / rtol
    with np.errstate(invalid="ignore"):
        difference = np.where(mine == exp, 0.0, np.abs(mine - exp))  # equal infinities agree
        relative = difference / np.maximum(np.maximum(np.abs(mine), np.abs(exp)), floor)
    relative = np.where(difference == 0, 0.0, np.where(np.isnan(relative), np.inf, relative))  # 0/0: equal
    failing = relative > rtol
    if not np.any(failing):
        return None
    index = np.unravel_index(int(np.argmax(relative)), relative.shape) if relative.ndim else ()
    worst = float(relative[index])
    hint = _value_hint(mine, exp, hints or {})
    if hint is None and getattr(yours, "dtype", None) == np.float32 and worst < 1e-3:
        hint = "yours is float32 (about 7 digits): compute in float64 for a check this tight"
    message = (
        f"check '{name}' failed: {int(failing.sum())} of {mine.size} entries differ from the expected values"
        "\n"
        f"  shape: {mine.shape} as expected\n"
        f"  worst at index {_fmt_index(index)}: yours {mine[index]:.10g}, expected {exp[index]:.10g}\n"
        f"  relative error {worst:.2e} > tolerance {rtol:g}"
        f"  (= |yours − expected| / max(|yours|, |expected|, {floor:.0e}))"
    )
    if hint:
        message += f"\n  hint: {hint}"
    raise CheckError(
        message,
        name,
        index=index,
        yours=float(mine[index]),
        expected=float(exp[index]),
        rel_error=worst,
        hint=hint,
    )
