"""Planted wrong answers for lessons/05_artificial_derivative_switching.py (format: see
tests/planted/01_backprop_by_hand.py)."""

MISTAKES = {
    "switching": [
        dict(
            what="compared with the previous epoch's loss instead of the best so far",
            array="switch_epochs(losses, A)",
            code=(
                "def switch_epochs(losses, A):\n"
                "    return [t for t in range(1, len(losses)) if losses[t] > A * losses[t - 1]]"
            ),
        ),
        dict(
            what="the rule compares with the first epoch's loss",
            array="switch_epochs(losses, A)",
            code=(
                "def switch_epochs(losses, A):\n"
                "    return [t for t in range(1, len(losses)) if losses[t] > A * losses[0]]"
            ),
        ),
    ],
    "standard_error": [
        dict(  # issue 26: the failure message used to show the value to 10 digits
            what="the values a failure message shows (3 digits), pasted back",
            array="mean_and_standard_error(sample)",
            code="def mean_and_standard_error(values):\n    return 0.3, 0.108",
        ),
        dict(
            what="the standard deviation instead of the standard error",
            array="mean_and_standard_error(sample)",
            code=(
                "def mean_and_standard_error(values):\n"
                "    values = np.asarray(values, dtype=float)\n"
                "    return float(values.mean()), float(values.std(ddof=1))"
            ),
        ),
        dict(
            what="the population standard deviation (ddof = 0)",
            array="mean_and_standard_error(sample)",
            code=(
                "def mean_and_standard_error(values):\n"
                "    values = np.asarray(values, dtype=float)\n"
                "    return float(values.mean()), float(values.std() / np.sqrt(len(values)))"
            ),
        ),
    ],
    "sigmoid32": [
        dict(  # issue 26: probed only up to |z| = 80, this passed
            what="e^z / (1 + e^z) unbranched: NaN above z = 88.7",
            array="sigmoid32(z) where σ is a normal float32",
            hint="NaN or inf",
            code=(
                "def sigmoid32(z):\n"
                "    z = np.asarray(z, dtype=np.float32)\n"
                "    return (np.exp(z) / (1 + np.exp(z))).astype(np.float32)"
            ),
        ),
        dict(  # issue 26: the dtype was never checked
            what="the branched formula left in float64",
            array="sigmoid32(z) where σ is a normal float32",
            hint="compute in float32",
            code=(
                "def sigmoid32(z):\n"
                "    z = np.asarray(z, dtype=np.float64)\n"
                "    e = np.exp(-np.abs(z))\n"
                "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))"
            ),
        ),
        dict(
            what="½(1 + tanh(z/2)) in float32",
            array="sigmoid32(z) where σ is a normal float32",
            hint="rounds the left tail to 0",
            code=(
                "def sigmoid32(z):\n"
                "    z = np.asarray(z, dtype=np.float32)\n"
                "    return (0.5 * (1 + np.tanh(0.5 * z))).astype(np.float32)"
            ),
        ),
        dict(
            what="1 − σ(−z) for z < 0 (cancellation)",
            array="sigmoid32(z) where σ is a normal float32",
            code=(
                "def sigmoid32(z):\n"
                "    z = np.asarray(z, dtype=np.float32)\n"
                "    e = np.exp(-np.abs(z))\n"
                "    return np.where(z >= 0, 1 / (1 + e), 1 - 1 / (1 + e)).astype(np.float32)"
            ),
        ),
    ],
}
