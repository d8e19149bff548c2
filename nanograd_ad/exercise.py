"""Checks for exercises: compare the array a student computed with the expected one.

    with ng.checking(2, "delta_output"):         # a check cell: exercise 2, id delta_output
        ng.check("delta1", delta1, expected)     # passes quietly, or raises CheckError

A failed check says what a student needs to find the mistake: which array, its shape
against the expected shape, the worst entry (index, both values to 3 significant digits and
how far off yours is, "too large by 3.2 %") and — when the difference has a recognisable
cause — a hint: a transposed matrix, a missing sum over the batch, a constant factor named
among the exercise's own quantities (``factors={"N": N, "k²": k * k}``), a flipped sign, an
alias of an input (``inputs={"W2": W2}``), the wrong dtype (``dtype="float32"``) or any known
wrong answer the lesson passes in ``hints``. The expected value is never printed to within
the tolerance: pasting a message back into the exercise does not pass.

An entry passes when its relative error is at most ``rtol``::

    relative error = |yours − expected| / max(|yours|, |expected|, atol/rtol)

The floor ``atol/rtol`` makes an absolute difference of ``atol`` count as exactly the
tolerance, so entries that should be 0 may carry rounding noise up to ``atol``.

:func:`checking` wraps a check cell: an exercise not done yet (its ``raise
NotImplementedError()`` still there, or a name it defines missing) becomes one CheckError
"exercise 3 (`forward`) is not done yet" instead of a bare NotImplementedError or NameError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from . import backend

__all__ = ["CheckError", "check", "checking"]


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


@contextmanager
def checking(number: int, exercise: str) -> Iterator[None]:
    """Run a check cell's checks; an unfinished exercise ``number`` (id ``exercise``) says so.

    A ``NotImplementedError`` (the student placeholder, reached through the exercise's function)
    or a ``NameError`` (a name the exercise cell should have defined) inside the block becomes
    ``CheckError("exercise 3 (`forward`) is not done yet ...")``; everything else passes through.
    """
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"checking: number must be an exercise number ≥ 1, got {number!r}")
    if not isinstance(exercise, str) or not exercise:
        raise ValueError(f"checking: exercise must be the exercise id, got {exercise!r}")
    label = f"exercise {number} (`{exercise}`) is not done yet"
    try:
        yield
    except NotImplementedError:
        raise CheckError(
            f"{label}: its cell still holds `raise NotImplementedError()` — replace it by your code",
            exercise,
            hint="not done yet",
        ) from None
    except NameError as err:
        missing = getattr(err, "name", None) or str(err)
        raise CheckError(
            f"{label}: `{missing}` is not defined — run the exercise cell above (and the cells "
            "before it) once your code is in",
            exercise,
            hint="not done yet",
        ) from None


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


def _approx(value: float) -> str:
    """A value to 3 significant digits: enough to find a mistake, too few to paste back."""
    return f"{value:.3g}"


def how_far(yours: float, expected: float) -> str:
    """Where yours lies from expected, in words: "too large by 3.2 %", "of the opposite sign" …"""
    if yours == expected:
        return "equal"
    if expected == 0:
        return "should be 0"
    if yours == 0 or np.sign(yours) != np.sign(expected):
        return "0 where it should not be" if yours == 0 else "of the opposite sign"
    if yours / expected >= 10:
        return f"about {yours / expected:.3g} × the expected value"
    percent = 100 * (yours - expected) / abs(expected)
    amount = f"{abs(percent):.2g}" if abs(percent) < 100 else f"{abs(percent):.0f}"
    return f"too {'large' if percent > 0 else 'small'} by {amount} %"


def _named_factor(factor: float, factors: Mapping[str, float]) -> str | None:
    """Words for yours = factor × expected when the factor is one of the exercise's quantities."""
    matches: list[str] = []
    for label, value in factors.items():
        value = float(value)
        if value == 0 or abs(value) == 1:
            continue
        if abs(factor - value) <= 1e-6 * abs(value):
            matches.append(f"a missing 1/{label} ({label} = {value:g})")
        elif abs(factor - 1 / value) <= 1e-6 / abs(value):
            matches.append(f"an extra 1/{label} ({label} = {value:g})")
        elif abs(factor + value) <= 1e-6 * abs(value):
            matches.append(f"a flipped sign and a missing 1/{label} ({label} = {value:g})")
        elif abs(factor + 1 / value) <= 1e-6 / abs(value):
            matches.append(f"a flipped sign and an extra 1/{label} ({label} = {value:g})")
    if not matches:
        return None
    return f"yours is {factor:.3g} × the expected values: " + " or ".join(matches) + "?"


def _factor_hint(factor: float, size: int, factors: Mapping[str, float]) -> str | None:
    """Words for yours = factor × expected (for one number only a sign, k or 1/k says anything).

    A factor equal to one of ``factors`` (the exercise's own quantities: N, k, k², the number
    of layers …) is named; an integer factor otherwise is only called a missing or extra 1/k.
    """
    if abs(factor + 1) < 1e-6:
        return "yours is −1 × the expected values: the sign is flipped (y − a instead of a − y, − for +?)"
    named = _named_factor(factor, factors)
    if named is not None:
        return named
    for k in range(2, 10001):
        extra = " (or the 2 from d(u²)/du)" if k == 2 else ""
        if abs(factor - k) < 1e-6 * k:
            return f"yours is {k} × the expected values: a missing 1/{k} (a mean over {k} things?){extra}"
        if abs(factor - 1 / k) < 1e-6 / k:
            return (
                f"yours is 1/{k} × the expected values: an extra 1/{k} (a mean where a sum is "
                f"expected?){extra}"
            )
        if k > abs(factor) + 1 / max(abs(factor), 1e-300) + 1:
            break
    if size == 1:
        return None
    if factor < 0:
        return f"yours is {factor:.3g} × the expected values: a flipped sign and a constant factor"
    return f"yours is {factor:.3g} × the expected values everywhere: a wrong constant factor"


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


def _alias_hint(yours: np.ndarray, inputs: Mapping) -> str | None:
    """Yours is exactly one of the exercise's inputs, unchanged: an alias or a step never applied."""
    for label, value in inputs.items():
        given = _as_float_array(value, label, f"the input {label}")
        if given.shape == yours.shape and np.array_equal(given, yours):
            return (
                f"yours is exactly `{label}`, the input, unchanged: an alias (b = {label} makes b and "
                f"{label} one array; use {label}.copy()) or a step never applied?"
            )
    return None


def _value_hint(
    yours: np.ndarray, expected: np.ndarray, hints: Mapping, factors: Mapping, inputs: Mapping
) -> str | None:
    """A likely cause of wrong values (same shape): a known mistake, an alias, a transpose, a factor."""
    for description, wrong in hints.items():
        wrong = np.asarray(backend.to_numpy(wrong) if hasattr(wrong, "shape") else wrong, dtype=np.float64)
        if _close(yours, np.broadcast_to(wrong, yours.shape) if wrong.shape != yours.shape else wrong):
            return str(description)
    alias = _alias_hint(yours, inputs)
    if alias is not None:
        return alias
    if not np.any(yours) and np.any(expected):
        return (
            "yours is all zeros: not computed yet, a product with a zero derivative, a forgotten +=, or "
            "a difference of two names for one array (W_plus = W without .copy(): both sides moved)?"
        )
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
            return _factor_hint(factor, yours.size, factors)
    return None


def _fmt_index(index: tuple) -> str:
    return "()" if index == () else str(tuple(int(i) for i in index))


def _check_arguments(name, rtol, atol, hints, factors, inputs, dtype) -> None:
    """ValueError naming the argument for a mistake in the lesson's call."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"check: name must be a non-empty string, got {name!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1:
        raise ValueError(f"check: rtol must be a number in (0, 1), got {rtol!r}")
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol < float("inf"):
        raise ValueError(f"check: atol must be a finite number ≥ 0, got {atol!r}")
    for label, value in (("hints", hints), ("factors", factors), ("inputs", inputs)):
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(
                f"check: {label} must be a mapping {{description: value}}, got {type(value).__name__}"
            )
    if dtype is not None:
        try:
            np.dtype(dtype)
        except TypeError:
            raise ValueError(f"check: dtype must be a NumPy dtype such as 'float32', got {dtype!r}") from None


def _refuse_missing(name: str, yours) -> None:
    """CheckError for an answer that is not an answer yet (None, NotImplemented, ...)."""
    if yours is None:
        raise CheckError(
            f"check '{name}': yours is None — nothing was computed (a function without `return`?)",
            name,
            hint="a missing return",
        )
    if yours is NotImplemented or yours is Ellipsis:
        raise CheckError(f"check '{name}': yours is {yours!r} — the exercise is not done yet", name)


def _check_dtype(name: str, yours, dtype) -> None:
    """CheckError when yours is not of ``dtype`` (a Python float counts as float64)."""
    wanted = np.dtype(dtype)
    have = np.dtype(getattr(yours, "dtype", None) or np.asarray(yours).dtype)
    if have != wanted:
        hint = f"compute in {wanted} (cast the input with .astype(np.{wanted}), keep constants in {wanted})"
        raise CheckError(
            f"check '{name}' failed: yours is {have}, the exercise asks for {wanted}\n  hint: {hint}",
            name,
            hint=hint,
        )


def _check_shape(name: str, mine: np.ndarray, exp: np.ndarray) -> None:
    if mine.shape != exp.shape:
        hint = _shape_hint(mine, exp)
        raise CheckError(
            f"check '{name}' failed: yours has shape {mine.shape}, expected shape {exp.shape}"
            + (f"\n  hint: {hint}" if hint else ""),
            name,
            hint=hint,
        )


def _check_finite(name: str, mine: np.ndarray, exp: np.ndarray) -> None:
    not_finite = ~np.isfinite(mine) & np.isfinite(exp)
    if np.any(not_finite):
        index = tuple(np.argwhere(not_finite)[0])
        hint = "NaN or inf: an overflow (exp of a large number?), 0/0, or an uninitialised np.empty?"
        raise CheckError(
            f"check '{name}' failed: {int(not_finite.sum())} of {mine.size} entries are not finite\n"
            f"  shape: {mine.shape} as expected\n"
            f"  first at index {_fmt_index(index)}: yours {mine[index]!r}, expected {_approx(exp[index])}\n"
            f"  hint: {hint}",
            name,
            index=index,
            yours=float(mine[index]),
            expected=float(exp[index]),
            hint=hint,
        )


def _relative_errors(mine: np.ndarray, exp: np.ndarray, floor: float) -> np.ndarray:
    """|yours − expected| / max(|yours|, |expected|, floor), 0 where equal (infinities included)."""
    with np.errstate(invalid="ignore"):
        difference = np.where(mine == exp, 0.0, np.abs(mine - exp))
        relative = difference / np.maximum(np.maximum(np.abs(mine), np.abs(exp)), floor)
    return np.where(difference == 0, 0.0, np.where(np.isnan(relative), np.inf, relative))  # 0/0: equal


def check(
    name: str,
    yours,
    expected,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-12,
    hints: Mapping | None = None,
    factors: Mapping[str, float] | None = None,
    inputs: Mapping | None = None,
    dtype=None,
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
        factors: the exercise's own quantities, ``{"N": N, "k²": k * k, "L": L}``: when yours
            is a constant multiple of the expected values and the factor (or its inverse) is one
            of them, the hint names it — and only then speaks of a batch size or kernel size.
        inputs: the exercise's inputs, ``{"W2": W2}``: yours exactly equal to one of them is
            recognised as an alias (``W_plus = W2`` without ``.copy()``) or a step never applied.
        dtype: the dtype the exercise asks for (``"float32"``); another dtype fails.
    Raises:
        CheckError (an AssertionError) naming the array, the shapes, the worst index, both
        values (3 significant digits), how far off yours is and a hint when the cause is recognised.
        ValueError for a bad ``name``, ``rtol``, ``atol``, ``hints``, ``factors``, ``inputs`` or
        ``dtype`` (a mistake in the lesson).
    """
    _check_arguments(name, rtol, atol, hints, factors, inputs, dtype)
    _refuse_missing(name, yours)
    exp = _as_float_array(expected, name, "the expected value")
    mine = _as_float_array(yours, name, "yours")
    _check_shape(name, mine, exp)
    if dtype is not None:
        _check_dtype(name, yours, dtype)
    _check_finite(name, mine, exp)
    floor = atol / rtol
    relative = _relative_errors(mine, exp, floor)
    failing = relative > rtol
    if not np.any(failing):
        return None
    index = np.unravel_index(int(np.argmax(relative)), relative.shape) if relative.ndim else ()
    worst = float(relative[index])
    hint = _value_hint(mine, exp, hints or {}, factors or {}, inputs or {})
    if hint is None and getattr(yours, "dtype", None) == np.float32 and worst < 1e-3:
        hint = "yours is float32 (about 7 digits): compute in float64 for a check this tight"
    at = "" if mine.size == 1 else f"worst at index {_fmt_index(index)}: "
    message = (
        f"check '{name}' failed: {int(failing.sum())} of {mine.size} entries differ from the expected values"
        "\n"
        f"  shape: {mine.shape} as expected\n"
        f"  {at}yours {_approx(mine[index])}, expected {_approx(exp[index])}: "
        f"yours is {how_far(float(mine[index]), float(exp[index]))}\n"
        f"  relative error {worst:.2g} > tolerance {rtol:g}"
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
