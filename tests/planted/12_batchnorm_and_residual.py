"""Planted wrong answers for lessons/12_batchnorm_and_residual.py (format: see
tests/planted/01_backprop_by_hand.py)."""

MISTAKES = {
    "bn_forward": [
        dict(
            what="the unbiased batch variance (divides by N − 1)",
            array="BatchNorm1D output (training mode)",
            code=(
                "def bn_forward(x, gamma, beta, eps=EPS):\n"
                "    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + eps) + beta"
            ),
        ),
        dict(
            what="ε added outside the square root",
            array="BatchNorm1D output (training mode)",
            code=(
                "def bn_forward(x, gamma, beta, eps=EPS):\n"
                "    return gamma * (x - x.mean(axis=0)) / (x.std(axis=0) + eps) + beta"
            ),
        ),
        dict(
            what="statistics per sample (rows) instead of per feature",
            array="BatchNorm1D output (training mode)",
            code=(
                "def bn_forward(x, gamma, beta, eps=EPS):\n"
                "    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)\n"
                "    return gamma * (x - mean) / np.sqrt(var + eps) + beta"
            ),
        ),
    ],
    "running_stats": [
        dict(
            what="the biased variance in the running average",
            array="running_var after 3 steps",
            code=(
                "def running_update(running_mean, running_var, x, momentum=0.1):\n"
                "    return (\n"
                "        (1 - momentum) * running_mean + momentum * x.mean(axis=0),\n"
                "        (1 - momentum) * running_var + momentum * x.var(axis=0),\n"
                "    )"
            ),
        ),
        dict(
            what="momentum on the old value (0.9 on the batch)",
            array="running_mean after 3 steps",
            code=(
                "def running_update(running_mean, running_var, x, momentum=0.1):\n"
                "    return (\n"
                "        momentum * running_mean + (1 - momentum) * x.mean(axis=0),\n"
                "        momentum * running_var + (1 - momentum) * x.var(axis=0, ddof=1),\n"
                "    )"
            ),
        ),
    ],
    "residual_backward": [
        dict(
            what="the shortcut forgotten (branch only)",
            array="δ_x of the residual block",
            code="def residual_backward(block, delta):\n    return block.branch.backward(delta)",
        ),
        dict(
            what="the branch forgotten (shortcut only)",
            array="δ_x of the residual block",
            code="def residual_backward(block, delta):\n    return delta",
        ),
    ],
    "delta_rms": [
        dict(
            what="δ^L without the 1/N of the mean loss",
            array="RMS of δ per layer (plain)",
            code=("_by_hand = delta_rms\ndef delta_rms(net, x, y):\n    return _by_hand(net, x, y) * len(x)"),
        ),
        dict(
            what="the mean of the per-sample RMS instead of the RMS over all entries",
            array="RMS of δ per layer (plain)",
            code=(
                "def delta_rms(net, x, y):\n"
                "    W = [layer.weight.data for layer in net.layers[::2]]\n"
                "    b = [layer.bias.data for layer in net.layers[::2]]\n"
                "    a = [x]\n"
                "    for l in range(len(W)):\n"
                "        z = a[-1] @ W[l] + b[l]\n"
                "        a.append(np.tanh(z) if l < len(W) - 1 else z)\n"
                "    p = np.exp(a[-1] - a[-1].max(axis=1, keepdims=True))\n"
                "    p /= p.sum(axis=1, keepdims=True)\n"
                "    delta = (p - np.eye(p.shape[1])[y]) / len(x)\n"
                "    out = [0.0] * len(W)\n"
                "    for l in range(len(W), 0, -1):\n"
                "        out[l - 1] = np.sqrt(np.mean(delta**2, axis=1)).mean()\n"
                "        if l > 1:\n"
                "            delta = (delta @ W[l - 1].T) * (1 - a[l - 1] ** 2)\n"
                "    return np.array(out)"
            ),
        ),
        dict(
            what="the RMS listed from the top layer down",
            array="RMS of δ per layer (plain)",
            code=("_by_hand = delta_rms\ndef delta_rms(net, x, y):\n    return _by_hand(net, x, y)[::-1]"),
        ),
    ],
}
