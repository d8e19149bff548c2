"""Planted wrong answers for lessons/07_two_path_combination_errors.py (format: see
tests/planted/01_backprop_by_hand.py)."""

_TWO_PATH = (
    "def two_path_errors(x, y):\n"
    "    a, zs = [x], []\n"
    "    for l in range(L):\n"
    "        z = a[-1] @ W[l] + b[l]\n"
    "        zs.append(z)\n"
    "        a.append(np.tanh(z) if l < L - 1 else z)\n"
    "    p = np.exp(zs[-1] - zs[-1].max(axis=1, keepdims=True))\n"
    "    p /= p.sum(axis=1, keepdims=True)\n"
    "    above = (p - np.eye(3)[y]) / len(x)\n"
    "    local, carried, grads = {}, {}, {L: a[L - 1].T @ above}\n"
    "    for l in range(L - 1, 0, -1):\n"
    "        u = above @ W[l].T\n"
    "        d = 1 - a[l] ** 2\n"
    "        local[l] = LOCAL\n"
    "        carried[l] = CARRIED if l in PN else local[l]\n"
    "        grads[l] = a[l - 1].T @ GRAD\n"
    "        above = ABOVE\n"
    "    return local, carried, grads"
)


def _variant(local="u * d", carried="u * norm(d)", grad="local[l]", above="carried[l]"):
    return (
        _TWO_PATH.replace("LOCAL", local)
        .replace("CARRIED", carried)
        .replace("GRAD", grad)
        .replace("ABOVE", above)
    )


MISTAKES = {
    "two_path": [
        dict(
            what="the gradient taken from the carried error (that is the single path)",
            array="∂C/∂W^4 (two paths)",
            code=_variant(grad="carried[l]"),
        ),
        dict(
            what="the local error passed down instead of the carried one",
            array="local error e^2",
            code=_variant(above="local[l]"),
        ),
        dict(
            what="the carried error multiplied by the RMS",
            array="carried error c^4",
            code=_variant(carried="u * d * np.sqrt(np.mean(d**2, axis=1, keepdims=True))"),
        ),
        dict(  # passes the visible check (its batch has N samples); a hidden test catches it
            what="δ^L = (p − y)/N with the lesson's N instead of the batch's len(x)",
            array="local error e^4 of 5 other samples",
            code=_variant().replace("/ len(x)", "/ N"),
        ),
    ],
    "predict": [
        dict(
            what="every layer below the top PN layer",
            array="differ",
            code="differ = [1, 2, 3, 4]",
        ),
        dict(
            what="the layers right above the PN layers",
            array="differ",
            code="differ = [3, 5]",
        ),
        dict(
            what="the ratio inverted",
            array="ratio",
            code="ratio = [1 / r for r in ratio]",
        ),
    ],
}
