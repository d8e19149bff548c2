"""Planted wrong answers for lessons/11_debugging_a_backward.py (format: see
tests/planted/01_backprop_by_hand.py)."""

MISTAKES = {
    "relative_error": [
        dict(  # issue 26: the hint used to offer "your batch size N" for the 1/2
            what="|g| + |n| in the denominator",
            array="relative_error(worst_g, worst_n, floor)",
            hint="|g| + |n| in the denominator",
            code=(
                "def relative_error(analytic, numeric, floor):\n"
                "    g, n = np.asarray(analytic, float), np.asarray(numeric, float)\n"
                "    return np.abs(g - n) / np.maximum(np.abs(g) + np.abs(n), floor)"
            ),
        ),
        dict(
            what="no floor in the denominator",
            array="relative_error(tiny_g, tiny_n, 1e-6)",
            code=(
                "def relative_error(analytic, numeric, floor):\n"
                "    g, n = np.asarray(analytic, float), np.asarray(numeric, float)\n"
                "    return np.abs(g - n) / np.maximum(np.maximum(np.abs(g), np.abs(n)), 1e-300)"
            ),
        ),
        dict(
            what="the absolute error, no denominator",
            array="relative_error(worst_g, worst_n, floor)",
            code=(
                "def relative_error(analytic, numeric, floor):\n"
                "    return np.abs(np.asarray(analytic, float) - np.asarray(numeric, float))"
            ),
        ),
        dict(
            what="only |analytic| in the denominator",
            array="relative_error(tiny_g, tiny_n, 1e-6)",
            code=(
                "def relative_error(analytic, numeric, floor):\n"
                "    g, n = np.asarray(analytic, float), np.asarray(numeric, float)\n"
                "    return np.abs(g - n) / np.maximum(np.abs(g), floor)"
            ),
        ),
    ],
    "central_difference": [
        dict(
            what="one-sided (forward) difference",
            array="numeric ∂C/∂W¹",
            code=(
                "def central_difference(objective, values, index, h=1e-5):\n"
                "    saved = values[index]\n"
                "    base = objective()\n"
                "    values[index] = saved + h\n"
                "    plus = objective()\n"
                "    values[index] = saved\n"
                "    return (plus - base) / h"
            ),
        ),
        dict(
            what="divided by h instead of 2h",
            array="numeric ∂C/∂W¹",
            hint="2 ×",
            code=(
                "def central_difference(objective, values, index, h=1e-5):\n"
                "    saved = values[index]\n"
                "    values[index] = saved + h\n"
                "    plus = objective()\n"
                "    values[index] = saved - h\n"
                "    minus = objective()\n"
                "    values[index] = saved\n"
                "    return (plus - minus) / h"
            ),
        ),
        dict(
            what="C− − C+ (sign flipped)",
            array="numeric ∂C/∂W¹",
            hint="sign",
            code=(
                "def central_difference(objective, values, index, h=1e-5):\n"
                "    saved = values[index]\n"
                "    values[index] = saved + h\n"
                "    plus = objective()\n"
                "    values[index] = saved - h\n"
                "    minus = objective()\n"
                "    values[index] = saved\n"
                "    return (minus - plus) / (2 * h)"
            ),
        ),
    ],
    "input_error": [
        dict(
            what="the planted bug: δ W instead of δ Wᵀ",
            array="input_error(delta, W)",
            code="def input_error(delta, W):\n    return delta @ W",
        ),
        dict(
            what="Wᵀ δᵀ: the column form's order, transposed result",
            array="input_error(delta, W)",
            code="def input_error(delta, W):\n    return W @ delta.T",
        ),
    ],
    "bias_gradient": [
        dict(
            what="the planted bug: the mean over the batch",
            array="bias_gradient(delta)",
            hint="extra 1/N (N = 8)",
            code="def bias_gradient(delta):\n    return delta.mean(axis=0)",
        ),
        dict(
            what="no sum over the batch at all",
            array="bias_gradient(delta)",
            hint="sum over the batch",
            code="def bias_gradient(delta):\n    return delta",
        ),
    ],
    "tanh_derivative": [
        dict(
            what="the sign flipped (bug 3)",
            array="tanh_derivative(z, a)",
            code="def tanh_derivative(z, a):\n    return -(1 - a**2)",
        ),
        dict(
            what="1 − z² instead of 1 − a²",
            array="tanh_derivative(z, a)",
            hint="1 − z²",
            code="def tanh_derivative(z, a):\n    return 1 - z**2",
        ),
        dict(
            what="1 % too large (bug 4)",
            array="tanh_derivative(z, a)",
            hint="1.01 ×",
            code="def tanh_derivative(z, a):\n    return 1.01 * (1 - a**2)",
        ),
    ],
}
