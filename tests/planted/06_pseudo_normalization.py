"""Planted wrong answers for lessons/06_pseudo_normalization.py (format: see
tests/planted/01_backprop_by_hand.py)."""

MISTAKES = {
    "rms_norm": [
        dict(
            what="the standard deviation instead of the RMS (mean subtracted)",
            array="rms_per_sample(d)",
            code="def rms_per_sample(d):\n    return d.std(axis=1)",
        ),
        dict(
            what="one RMS over the whole batch",
            array="rms_per_sample(d)",
            code="def rms_per_sample(d):\n    return np.full(len(d), np.sqrt(np.mean(d**2)))",
        ),
        dict(
            what="norm multiplies by the RMS",
            array="norm(d)",
            code="def norm(d, eps=EPS):\n    return d * (rms_per_sample(d) + eps)[:, None]",
        ),
    ],
    "pn_layers": [
        dict(
            what="counted from L − 1 (the earlier reading)",
            array="pn_layers(6)",
            code="def pn_layers(L, start=2, period=2):\n    return sorted(range(L - 1, 0, -period))",
        ),
        dict(
            what="counted up from layer 1",
            array="pn_layers(7)",
            code="def pn_layers(L, start=2, period=2):\n    return list(range(start, L, period))",
        ),
    ],
    "pn_recursion": [
        dict(
            what="no layer normalized (plain backprop)",
            array="∂C/∂W^4 with PN",
            code=(
                "_by_hand = pn_gradients\n"
                "def pn_gradients(net, x, y, start=2, period=2):\n"
                "    return _by_hand(net, x, y, start=6, period=2)"
            ),
        ),
        dict(
            what="every hidden layer normalized",
            array="∂C/∂W^5 with PN",
            code=(
                "_by_hand = pn_gradients\n"
                "def pn_gradients(net, x, y, start=2, period=2):\n"
                "    return _by_hand(net, x, y, start=1, period=1)"
            ),
        ),
        dict(
            what="the earlier placement L−1, L−3, …",
            array="∂C/∂W^5 with PN",
            code=(
                "_by_hand = pn_gradients\n"
                "def pn_gradients(net, x, y, start=2, period=2):\n"
                "    return _by_hand(net, x, y, start=1, period=2)"
            ),
        ),
    ],
    "growth": [
        dict(
            what="the product of the RMS values instead of their inverses",
            array="∂C/∂x with PN against plain × growth",
            code=(
                "def growth(ds):\n"
                "    factor = np.ones(len(ds[0]))\n"
                "    for d in ds:\n"
                "        factor = factor * (rms_per_sample(d) + EPS)\n"
                "    return factor"
            ),
        ),
        dict(
            what="only the top PN layer counted",
            array="∂C/∂x with PN against plain × growth",
            code="def growth(ds):\n    return 1 / (rms_per_sample(ds[-1]) + EPS)",
        ),
        dict(  # passes the visible check (its batch has N rows); a hidden test catches it
            what="the lesson's batch size N instead of the number of rows of ds",
            array="growth of one PN layer, one sample",
            code=(
                "def growth(ds):\n"
                "    factor = np.ones(N)\n"
                "    for d in ds:\n"
                "        factor = factor / (rms_per_sample(d) + EPS)\n"
                "    return factor"
            ),
        ),
        dict(
            what="ε left out, 1 / RMS(d^k)",
            array="∂C/∂x with PN against plain × growth",
            code=(
                "def growth(ds):\n"
                "    factor = np.ones(len(ds[0]))\n"
                "    for d in ds:\n"
                "        factor = factor / rms_per_sample(d)\n"
                "    return factor"
            ),
        ),
    ],
}
