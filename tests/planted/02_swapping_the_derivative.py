"""Planted wrong answers for lessons/02_swapping_the_derivative.py (format: see
tests/planted/01_backprop_by_hand.py)."""

MISTAKES = {
    "relu_ad": [
        dict(
            what="the true derivative (the step) instead of the AD",
            array="relu_ad_of(z, K)",
            hint="the true derivative",
            code="def relu_ad_of(z, k):\n    return (z >= 0).astype(float)",
        ),
        dict(
            what="k forgotten: σ(z)",
            array="relu_ad_of(z, K)",
            code="def relu_ad_of(z, k):\n    return 1.0 / (1.0 + np.exp(-z))",
        ),
        dict(
            what="sign of the exponent flipped: σ(−kz)",
            array="relu_ad_of(z, K)",
            code="def relu_ad_of(z, k):\n    return 1.0 / (1.0 + np.exp(k * z))",
        ),
    ],
    "sigmoid_ad": [
        dict(
            what="the true derivative y(1 − y) instead of the AD",
            array="sigmoid_ad_of(y)",
            hint="the true derivative y(1 − y)",
            code="def sigmoid_ad_of(y):\n    return y * (1 - y)",
        ),
        dict(
            what="max instead of min",
            array="sigmoid_ad_of(y)",
            code="def sigmoid_ad_of(y):\n    return np.maximum(y, 1 - y)",
        ),
    ],
    "floor": [
        dict(  # issue 26: the failure message used to show the value to 10 digits
            what="the value a failure message shows, pasted back",
            array="floor",
            code=(
                "_logits = np.tile(np.log(class_freq), (len(y_train), 1))\n"
                "floor = float(f'{ng.SoftmaxCrossEntropy()(_logits, y_train):.3g}')"
            ),
        ),
        dict(
            what="log base 2 instead of the natural log",
            array="floor",
            hint="log base 2",
            code="floor = float(-(class_freq * np.log2(class_freq)).sum())",
        ),
        dict(
            what="minus sign forgotten",
            array="floor",
            hint="sign",
            code="floor = float((class_freq * np.log(class_freq)).sum())",
        ),
        dict(
            what="uniform classes assumed (log 10)",
            array="floor",
            code="floor = float(np.log(10))",
        ),
    ],
    "ad_backward": [
        dict(
            what="the true derivative instead of the artificial derivative",
            array="grad_W1",
            hint="the true derivative f′(z) = 1[z ≥ 0] instead of the artificial derivative",
            code=(
                "delta_3 = backend.to_numpy(delta_out)\n"
                "delta_2 = (delta_3 @ W3_.T) * (z2_ >= 0)\n"
                "delta_1 = (delta_2 @ W2_.T) * (z1_ >= 0)\n"
                "grad_W1 = x64.T @ delta_1"
            ),
        ),
        dict(
            what="W² not transposed",
            array="grad_W1",
            code=(
                "delta_3 = backend.to_numpy(delta_out)\n"
                "delta_2 = (delta_3 @ W3_.T) * relu_ad_of(z2_, K)\n"
                "delta_1 = (delta_2 @ W2_) * relu_ad_of(z1_, K)\n"
                "grad_W1 = x64.T @ delta_1"
            ),
        ),
        dict(
            what="the AD factor of layer 1 forgotten",
            array="grad_W1",
            code=(
                "delta_3 = backend.to_numpy(delta_out)\n"
                "delta_2 = (delta_3 @ W3_.T) * relu_ad_of(z2_, K)\n"
                "delta_1 = delta_2 @ W2_.T\n"
                "grad_W1 = x64.T @ delta_1"
            ),
        ),
        dict(  # passes the visible check (it compares grad_W1 with that very array); a hidden test catches it
            what="grad_W1 read from the library (net64[0].weight.grad), δ's with the true derivative",
            array="a¹ᵀ delta_2 against ∂C/∂W²",
            code=(
                "delta_3 = backend.to_numpy(delta_out)\n"
                "delta_2 = (delta_3 @ W3_.T) * (z2_ >= 0)\n"
                "delta_1 = (delta_2 @ W2_.T) * (z1_ >= 0)\n"
                "grad_W1 = backend.to_numpy(net64[0].weight.grad).copy()"
            ),
        ),
    ],
}
