"""Planted wrong answers for lessons/08_gradient_amplification.py (format: see
tests/planted/01_backprop_by_hand.py)."""

MISTAKES = {
    "measures": [
        dict(
            what="G without the absolute value of the sum",
            array="G per layer",
            code=("def G_of(grads):\n    g = np.stack(grads)\n    return float(g.sum() / np.abs(g).sum())"),
        ),
        dict(
            what="G′ as the ratio of the pooled sums (that is G)",
            array="G′ per layer",
            code=(
                "def G_prime_of(grads):\n"
                "    g = np.stack(grads)\n"
                "    return float(np.abs(g.sum()) / np.abs(g).sum())"
            ),
        ),
        dict(
            what="G′ averaged over the iterations instead of summed over them",
            array="G′ per layer",
            code=(
                "def G_prime_of(grads):\n"
                "    g = np.stack(grads)\n"
                "    return float((np.abs(g) / np.maximum(np.abs(g), 1e-300)).mean())"
            ),
        ),
        dict(  # passes the visible check (every recorded weight gets a gradient); a hidden test catches it
            what="G′ averaged over the weights that received a gradient only (eq. 7 divides by all n)",
            array="G′ of a hand-computed case, one weight never reached",
            code=(
                "def G_prime_of(grads):\n"
                "    g = np.stack(grads)\n"
                "    total, total_abs = g.sum(axis=0), np.abs(g).sum(axis=0)\n"
                "    reached = total_abs > 0\n"
                "    return float((np.abs(total)[reached] / total_abs[reached]).mean())"
            ),
        ),
    ],
    "standardize": [
        dict(
            what="sample standard deviation (ddof=1)",
            array="Ĝ per layer",
            code=(
                "def standardize_by_hand(values):\n"
                "    values = np.asarray(values, dtype=float)\n"
                "    return (values - values.mean()) / values.std(ddof=1)"
            ),
        ),
        dict(
            what="the mean not subtracted",
            array="Ĝ per layer",
            code=(
                "def standardize_by_hand(values):\n"
                "    values = np.asarray(values, dtype=float)\n"
                "    return values / values.std()"
            ),
        ),
    ],
    "select": [
        dict(
            what="case 2 without the absolute value (that is case 1)",
            array="case2",
            code="case2 = sorted(l for l, value in G_hat.items() if value > THRESHOLD)",
        ),
        dict(
            what="case 1 selecting the layers below the threshold",
            array="case1",
            code="case1 = sorted(l for l, value in G_hat.items() if value < THRESHOLD)",
        ),
    ],
    "amplified_step": [
        dict(
            what="the factor forgotten",
            array="weights of the amplified layers after the step",
            code="def amplified_step(W, grad, lr, factor):\n    return W - lr * grad",
        ),
        dict(
            what="a step up the gradient",
            array="weights of the amplified layers after the step",
            code="def amplified_step(W, grad, lr, factor):\n    return W + lr * factor * grad",
        ),
    ],
}
