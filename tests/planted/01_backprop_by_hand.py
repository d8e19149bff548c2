"""Planted wrong answers for lessons/01_backprop_by_hand.py.

``MISTAKES[exercise id]`` lists mistakes a student could make in that exercise. The test
runs each ``code`` on a copy of the notebook's namespace right after the exercise's check
cell, re-runs the check, and demands a CheckError whose message names ``array`` (and
whose hint contains ``hint``, when given). ``code`` must assign, never mutate in place.
"""

MISTAKES = {
    "forward": [
        dict(
            what="z1 returned as a1 (the rest computed right, so a2 alone would not tell)",
            array="a1",
            code=(
                "def forward_by_hand(x, W1, b1, W2, b2):\n"
                "    z1 = x @ W1 + b1\n    z2 = f(z1) @ W2 + b2\n"
                "    return z1, z1, z2, f(z2)"
            ),
        ),
        dict(
            what="bias of layer 1 forgotten",
            array="z1",
            code=(
                "def forward_by_hand(x, W1, b1, W2, b2):\n"
                "    z1 = x @ W1\n    a1 = f(z1)\n    z2 = a1 @ W2 + b2\n    a2 = f(z2)\n"
                "    return z1, a1, z2, a2"
            ),
        ),
        dict(
            what="no activation on the output",
            array="a2",
            code=(
                "def forward_by_hand(x, W1, b1, W2, b2):\n"
                "    z1 = x @ W1 + b1\n    a1 = f(z1)\n    z2 = a1 @ W2 + b2\n"
                "    return z1, a1, z2, z2"
            ),
        ),
    ],
    "cost": [
        dict(  # issue 26: the failure message used to show the value to 10 digits
            what="the value a failure message shows, pasted back",
            array="C",
            code=(
                "_shown = float(f'{ng.MSE()(net(x), y):.3g}')\n"
                "def cost_by_hand(x, y, W1, b1, W2, b2):\n"
                "    return _shown"
            ),
        ),
        dict(
            what="sum instead of mean (missing 1/N)",
            array="C",
            hint="missing 1/N (N = 4)",
            code=(
                "def cost_by_hand(x, y, W1, b1, W2, b2):\n"
                "    a2 = forward_by_hand(x, W1, b1, W2, b2)[-1]\n"
                "    return float(np.sum((a2 - y) ** 2))"
            ),
        ),
        dict(
            what="error not squared",
            array="C",
            code=(
                "def cost_by_hand(x, y, W1, b1, W2, b2):\n"
                "    a2 = forward_by_hand(x, W1, b1, W2, b2)[-1]\n"
                "    return float(np.mean(a2 - y))"
            ),
        ),
    ],
    "delta_output": [
        dict(
            what="missing 1/N in ∂C/∂a²",
            array="dC_da2",
            hint="missing 1/N (N = 4)",
            code="dC_da2 = 2.0 * (a2 - y)\ndelta2 = dC_da2 * f_prime(a2)",
        ),
        dict(
            what="missing factor 2 of d(u²)/du",
            array="dC_da2",
            hint="extra 1/2",
            code="dC_da2 = (a2 - y) / N\ndelta2 = dC_da2 * f_prime(a2)",
        ),
        dict(
            what="sign flipped (y − a instead of a − y)",
            array="dC_da2",
            hint="sign",
            code="dC_da2 = 2.0 * (y - a2) / N\ndelta2 = dC_da2 * f_prime(a2)",
        ),
        dict(
            what="δ² without the derivative f′(z²)",
            array="delta2",
            hint="lacks the factor f′(z²)",
            code="dC_da2 = 2.0 * (a2 - y) / N\ndelta2 = dC_da2",
        ),
        dict(
            what="σ(z) instead of σ′(z)",
            array="delta2",
            code="dC_da2 = 2.0 * (a2 - y) / N\ndelta2 = dC_da2 * a2",
        ),
    ],
    "delta_hidden": [
        dict(
            what="δ¹ without f′(z¹)",
            array="delta1",
            hint="lacks the factor f′(z¹)",
            code="delta1 = delta2 @ W2.T",
        ),
        dict(
            what="the output layer's derivative f′(z²) instead of f′(z¹)",
            array="delta1",
            code="delta1 = (delta2 @ W2.T) * f_prime(a2)",
        ),
        dict(
            what="a¹ instead of f′(z¹)",
            array="delta1",
            code="delta1 = (delta2 @ W2.T) * a1",
        ),
    ],
    "gradients": [
        dict(
            what="∂C/∂W¹ transposed (δ¹ᵀ x)",
            array="grads_by_hand[0.weight]",
            hint="transpose",
            code='grads_by_hand = {**grads_by_hand, "0.weight": delta1.T @ x}',
        ),
        dict(
            what="bias gradient not summed over the batch",
            array="grads_by_hand[0.bias]",
            hint="sum over the batch (axis 0) is missing",
            code='grads_by_hand = {**grads_by_hand, "0.bias": delta1}',
        ),
        dict(
            what="bias gradient averaged instead of summed",
            array="grads_by_hand[2.bias]",
            hint="extra 1/N (N = 4)",
            code='grads_by_hand = {**grads_by_hand, "2.bias": delta2.mean(axis=0)}',
        ),
        dict(
            what="∂C/∂W² from δ¹ instead of δ²",
            array="grads_by_hand[2.weight]",
            code='grads_by_hand = {**grads_by_hand, "2.weight": a1.T @ delta1[:, :1]}',
        ),
        dict(
            what="∂C/∂x through W² instead of W¹",
            array="dC_dx_by_hand",
            code="dC_dx_by_hand = delta1 @ W1.T * 2",
        ),
        dict(  # passes the visible check (its backward fills the aliased arrays); a hidden test catches it
            what="the library's own gradient arrays (p.grad, aliased), not computed by hand",
            array="grads_by_hand[0.weight] after the library's next backward",
            code="grads_by_hand = {name: p.grad for name, p in net.named_parameters()}",
        ),
    ],
    "finite_difference": [
        dict(  # issue 26: an alias used to get "not computed yet / zero derivative / forgotten +="
            what="W2_plus = W2 without .copy() (an alias: both sides move together)",
            array="numeric",
            hint="without .copy()",
            code=(
                "W2 = W2.copy()  # the notebook's own W2 stays untouched\n"
                "W2_plus, W2_minus = W2, W2\n"
                "W2_plus[1, 0] += h\n"
                "W2_minus[1, 0] -= h\n"
                "plus = cost_by_hand(x, y, W1, b1, W2_plus, b2)\n"
                "numeric = (plus - cost_by_hand(x, y, W1, b1, W2_minus, b2)) / (2 * h)"
            ),
        ),
        dict(
            what="divided by h instead of 2h",
            array="numeric",
            hint="divided by h instead of 2h",
            code=(
                "W2_plus, W2_minus = W2.copy(), W2.copy()\nW2_plus[1, 0] += h\nW2_minus[1, 0] -= h\n"
                "C_plus = cost_by_hand(x, y, W1, b1, W2_plus, b2)\n"
                "C_minus = cost_by_hand(x, y, W1, b1, W2_minus, b2)\n"
                "numeric = (C_plus - C_minus) / h"
            ),
        ),
        dict(
            what="C(θ − h) − C(θ + h): the sign flipped",
            array="numeric",
            hint="sign",
            code=(
                "W2_plus, W2_minus = W2.copy(), W2.copy()\nW2_plus[1, 0] += h\nW2_minus[1, 0] -= h\n"
                "C_plus = cost_by_hand(x, y, W1, b1, W2_plus, b2)\n"
                "C_minus = cost_by_hand(x, y, W1, b1, W2_minus, b2)\n"
                "numeric = (C_minus - C_plus) / (2 * h)"
            ),
        ),
        dict(
            what="nudged the wrong entry, W2[0, 0]",
            array="numeric",
            code=(
                "W2_plus, W2_minus = W2.copy(), W2.copy()\nW2_plus[0, 0] += h\nW2_minus[0, 0] -= h\n"
                "C_plus = cost_by_hand(x, y, W1, b1, W2_plus, b2)\n"
                "C_minus = cost_by_hand(x, y, W1, b1, W2_minus, b2)\n"
                "numeric = (C_plus - C_minus) / (2 * h)"
            ),
        ),
        dict(  # passes the visible check (numeric is right); a hidden test catches it
            what="the lesson's W2 nudged in place and left moved by −h",
            array="W2 after the finite difference",
            code=(
                "W2 = W2.copy()  # the notebook's own W2 stays untouched\n"
                "W2[1, 0] += h\n"
                "C_plus = cost_by_hand(x, y, W1, b1, W2, b2)\n"
                "W2[1, 0] -= 2 * h\n"
                "numeric = (C_plus - cost_by_hand(x, y, W1, b1, W2, b2)) / (2 * h)"
            ),
        ),
    ],
}
