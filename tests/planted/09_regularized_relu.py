"""Planted wrong answers for lessons/09_regularized_relu.py (format: see
tests/planted/01_backprop_by_hand.py)."""

MISTAKES = {
    "r_by_hand": [
        dict(  # issue 26: with square geometries only, this passed
            what="H_in written for W_in",
            array="r_conv for the five geometries",
            code=(
                "def r_conv(C_in, H_in, W_in, C_out, k, stride=1, padding=0):\n"
                "    H_out = (H_in + 2 * padding - k) // stride + 1\n"
                "    W_out = (H_in + 2 * padding - k) // stride + 1\n"
                "    return (C_in * H_in * W_in) / (H_out * W_out * C_out * C_in * k * k)"
            ),
        ),
        dict(
            what="the padding forgotten in H_out",
            array="r_conv for the five geometries",
            code=(
                "def r_conv(C_in, H_in, W_in, C_out, k, stride=1, padding=0):\n"
                "    H_out = (H_in - k) // stride + 1\n"
                "    W_out = (W_in - k) // stride + 1\n"
                "    return (C_in * H_in * W_in) / (H_out * W_out * C_out * C_in * k * k)"
            ),
        ),
        dict(
            what="m without the input channels (k² only)",
            array="r_conv for the five geometries",
            code=(
                "def r_conv(C_in, H_in, W_in, C_out, k, stride=1, padding=0):\n"
                "    H_out = (H_in + 2 * padding - k) // stride + 1\n"
                "    W_out = (W_in + 2 * padding - k) // stride + 1\n"
                "    return (C_in * H_in * W_in) / (H_out * W_out * C_out * k * k)"
            ),
        ),
        dict(
            what="dense r as 1/D_in",
            array="r_dense(100, 40)",
            code="def r_dense(D_in, D_out):\n    return 1 / D_in",
        ),
    ],
    "scales": [
        dict(
            what="the scale read before the activation (z instead of a)",
            array="mean |a| per layer, plain",
            code=(
                "def mean_abs_after_activations(net, x):\n"
                "    scales = []\n"
                "    for layer in net.layers:\n"
                "        if isinstance(layer, ng.Activation):\n"
                "            scales.append(float(np.abs(x).mean()))\n"
                "        x = layer(x)\n"
                "    return scales"
            ),
        ),
        dict(
            what="the largest |a| instead of the mean",
            array="mean |a| per layer, plain",
            code=(
                "def mean_abs_after_activations(net, x):\n"
                "    scales = []\n"
                "    for layer in net.layers:\n"
                "        x = layer(x)\n"
                "        if isinstance(layer, ng.Activation):\n"
                "            scales.append(float(np.abs(x).max()))\n"
                "    return scales"
            ),
        ),
    ],
    "product_of_r": [
        dict(
            what="the sum of the r's instead of the product",
            array="net_reg(x) against Π r · net_plain(x)",
            code=(
                "def product_of_r(net):\n"
                "    return sum(l.r for l in net.layers if isinstance(l, ng.RegularizedReLU))"
            ),
        ),
        dict(
            what="the last regularized layer left out",
            array="net_reg(x) against Π r · net_plain(x)",
            code=(
                "def product_of_r(net):\n"
                "    rs = [l.r for l in net.layers if isinstance(l, ng.RegularizedReLU)]\n"
                "    return math.prod(rs[:-1])"
            ),
        ),
        dict(  # passes the visible check (its net regularizes only convolutions); a hidden test catches it
            what="only the activations right after a Conv2D counted (a regularized dense layer missed)",
            array="dense net_reg(x) against Π r · net_plain(x)",
            code=(
                "def product_of_r(net):\n"
                "    pairs = zip(net.layers, net.layers[1:])\n"
                "    return math.prod(b.r for a, b in pairs if isinstance(a, ng.Conv2D))"
            ),
        ),
    ],
    "input_factor": [
        dict(  # issue 26: the failure message used to show the value to 10 digits
            what="the value a failure message shows, pasted back",
            array="input_factor(regularized, images)",
            code=(
                "_shown = float(f'{ng.suggest_input_scale(regularized, images):.3g}')\n"
                "def input_factor(net, x):\n"
                "    return _shown"
            ),
        ),
        dict(
            what="RMS without the square root (the mean square)",
            array="input_factor(regularized, images)",
            code="def input_factor(net, x):\n    return float(1.0 / np.mean(net(x) ** 2))",
        ),
        dict(
            what="RMS instead of 1/RMS",
            array="input_factor(regularized, images)",
            code="def input_factor(net, x):\n    return float(np.sqrt(np.mean(net(x) ** 2)))",
        ),
    ],
}
