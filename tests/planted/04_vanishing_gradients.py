"""Planted wrong answers for lessons/04_vanishing_gradients.py (format: see
tests/planted/01_backprop_by_hand.py)."""

DELTAS = """
def deltas_by_hand(weights, activations, delta_top, f_prime):
    deltas = [delta_top]
    for l in range(len(weights) - 1, 0, -1):
        deltas.append((deltas[-1] @ weights[l].T) * f_prime(activations[l]))
    return deltas[::-1]
"""

MISTAKES = {
    "rms": [
        dict(
            what="no square root",
            array="rms([3, 4])",
            code="def rms(v):\n    return float(np.mean(np.square(v)))",
        ),
        dict(
            what="mean of |v| instead",
            array="rms([3, 4])",
            code="def rms(v):\n    return float(np.mean(np.abs(v)))",
        ),
        dict(
            what="sum instead of mean (the Frobenius norm)",
            array="rms([3, 4])",
            code="def rms(v):\n    return float(np.sqrt(np.sum(np.square(v))))",
        ),
    ],
    "deltas": [
        dict(  # issue 26: the RMS per layer alone let this pass
            what="a flipped sign in the δ recursion (RMS unchanged)",
            array="your δ^1",
            hint="sign is flipped",
            code=DELTAS.replace("append((deltas[-1] @ weights[l].T)", "append(-(deltas[-1] @ weights[l].T)"),
        ),
        dict(
            what="the derivative f′(z^l) forgotten",
            array="RMS of your deltas, layers 1..L",
            code=DELTAS.replace(" * f_prime(activations[l])", ""),
        ),
        dict(
            what="f′ of the layer above (activations[l + 1])",
            array="RMS of your deltas, layers 1..L",
            code=DELTAS.replace(
                "f_prime(activations[l])", "f_prime(activations[min(l + 1, len(activations) - 1)])"
            ),
        ),
        dict(
            what="the list left in backward order (δ^L first)",
            array="RMS of your deltas, layers 1..L",
            hint="reverse order",
            code=DELTAS.replace("return deltas[::-1]", "return deltas"),
        ),
        dict(
            what="f(z) = a instead of f′(z)",
            array="RMS of your deltas, layers 1..L",
            code=DELTAS.replace("f_prime(activations[l])", "activations[l]"),
        ),
    ],
    "ratios": [
        dict(
            what="ratios upside down",
            array="ratios",
            hint="upside down",
            code="ratios = flow_rms[1:] / flow_rms[:-1]",
        ),
        dict(
            what="off by one layer",
            array="ratios",
            code="ratios = flow_rms[1:] / np.append(flow_rms[2:], 1.0)",
        ),
    ],
    "speed": [
        dict(
            what="mean over the batch instead of the sum",
            array="speed",
            hint="extra 1/N (N = 100)",
            code="speed = [rms(d.mean(axis=0)) for d in deltas]",
        ),
        dict(what="RMS of δ instead of ∂C/∂b", array="speed", code="speed = [rms(d) for d in deltas]"),
    ],
}
