"""Planted wrong answers for lessons/03_convolution_backward_by_hand.py (format: see
tests/planted/01_backprop_by_hand.py)."""

CONV_FORWARD_FLIPPED = """
def conv_forward(x, W, b, stride=1, padding=0):
    k = W.shape[2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out = (x.shape[2] + 2 * padding - k) // stride + 1
    w_out = (x.shape[3] + 2 * padding - k) // stride + 1
    z = np.empty((x.shape[0], W.shape[0], h_out, w_out))
    for y in range(h_out):
        for xx in range(w_out):
            patch = x_pad[:, :, y * stride : y * stride + k, xx * stride : xx * stride + k]
            z[:, :, y, xx] = np.einsum("ncij,ocij->no", patch, W[:, :, ::-1, ::-1]) + b
    return z
"""

CONV_FORWARD_NO_BIAS = CONV_FORWARD_FLIPPED.replace("W[:, :, ::-1, ::-1]) + b", "W)")
CONV_FORWARD_NO_PADDING = (
    CONV_FORWARD_FLIPPED.replace("W[:, :, ::-1, ::-1]", "W")
    .replace("x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))", "x_pad = x")
    .replace("h_out = (x.shape[2] + 2 * padding - k)", "h_out = (x.shape[2] - k)")
    .replace("w_out = (x.shape[3] + 2 * padding - k)", "w_out = (x.shape[3] - k)")
)

CONV_BACKWARD = """
def conv_backward(delta, x, W, stride=1, padding=0):
    k = W.shape[2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dW, dx_pad = np.zeros_like(W), np.zeros_like(x_pad)
    db = delta.sum(axis=(0, 2, 3))
    for y in range(delta.shape[2]):
        for xx in range(delta.shape[3]):
            rows, cols = slice(y * stride, y * stride + k), slice(xx * stride, xx * stride + k)
            dW += np.einsum("no,ncij->ocij", delta[:, :, y, xx], x_pad[:, :, rows, cols])
            dx_pad[:, :, rows, cols] += np.einsum("no,ocij->ncij", delta[:, :, y, xx], W)
    dx = dx_pad[:, :, padding : dx_pad.shape[2] - padding, padding : dx_pad.shape[3] - padding]
    return dW, db, dx
"""

IM2COL = """
def im2col(x_pad, k, stride, h_out, w_out):
    n, c = x_pad.shape[:2]
    cols = np.empty((n, h_out, w_out, c, k, k))
    for i in range(k):
        for j in range(k):
            window = x_pad[:, :, i : i + stride * h_out : stride, j : j + stride * w_out : stride]
            cols[:, :, :, :, i, j] = window.transpose(0, 2, 3, 1)
    return cols
"""

COL2IM = """
def col2im(cols, x_shape, stride):
    _, h_out, w_out, _, k, _ = cols.shape
    x_pad = np.zeros(x_shape)
    for i in range(k):
        for j in range(k):
            x_pad[:, :, i : i + stride * h_out : stride, j : j + stride * w_out : stride] += cols[
                :, :, :, :, i, j
            ].transpose(0, 3, 1, 2)
    return x_pad
"""

MAXPOOL = """
def maxpool_backward(delta, x, k, stride):
    dx = np.zeros_like(x)
    for y in range(delta.shape[2]):
        for xx in range(delta.shape[3]):
            window = x[:, :, y * stride : y * stride + k, xx * stride : xx * stride + k]
            flat = window.reshape(*window.shape[:2], -1)
            i, j = np.unravel_index(flat.argmax(axis=2), (k, k))
            n_idx, c_idx = np.indices(i.shape)
            dx[n_idx, c_idx, y * stride + i, xx * stride + j] += delta[:, :, y, xx]
    return dx
"""

AVGPOOL = """
def avgpool_backward(delta, x_shape, k, stride):
    dx = np.zeros(x_shape)
    for y in range(delta.shape[2]):
        for xx in range(delta.shape[3]):
            share = delta[:, :, y, xx][:, :, None, None] / k**2
            dx[:, :, y * stride : y * stride + k, xx * stride : xx * stride + k] += share
    return dx
"""

MISTAKES = {
    "conv_forward": [
        dict(
            what="kernel flipped (a true convolution)",
            array="conv_forward(stride=1, padding=0)",
            code=CONV_FORWARD_FLIPPED,
        ),
        dict(what="bias forgotten", array="conv_forward(stride=1, padding=0)", code=CONV_FORWARD_NO_BIAS),
        dict(
            what="padding ignored",
            array="conv_forward(stride=2, padding=1)",
            hint=None,
            code=CONV_FORWARD_NO_PADDING,
        ),
    ],
    "conv_backward": [
        dict(
            what="db not summed over the positions (only over the batch)",
            array="db (stride=1, padding=0)",
            code=CONV_BACKWARD.replace("delta.sum(axis=(0, 2, 3))", "delta.sum(axis=0)"),
        ),
        dict(
            what="dW averaged over the batch instead of summed",
            array="dW (stride=1, padding=0)",
            hint="extra 1/2",
            code=CONV_BACKWARD.replace("    return dW, db, dx", "    return dW / x.shape[0], db, dx"),
        ),
        dict(
            what="window contributions to dx assigned (=) instead of added",
            array="dx (stride=1, padding=0)",
            code=CONV_BACKWARD.replace("dx_pad[:, :, rows, cols] += ", "dx_pad[:, :, rows, cols] = "),
        ),
        dict(
            what="dx with the kernel rotated by 180°",
            array="dx (stride=1, padding=0)",
            code=CONV_BACKWARD.replace(
                '"no,ocij->ncij", delta[:, :, y, xx], W)',
                '"no,ocij->ncij", delta[:, :, y, xx], W[:, :, ::-1, ::-1])',
            ),
        ),
    ],
    "dx_full_correlation": [
        dict(
            what="kernel not rotated (the unflipped-kernel bug)",
            array="dx_full",
            hint="not rotated by 180°",
            code=(
                "W_rotated = W.transpose(1, 0, 2, 3)\n"
                "dx_full = conv_forward(delta, W_rotated, np.zeros(C_in), stride=1, padding=k - 1 - padding)"
            ),
        ),
        dict(
            what="kernel transposed (i and j swapped) instead of rotated",
            array="dx_full",
            code=(
                "W_rotated = W[:, :, ::-1, ::-1].transpose(1, 0, 3, 2)\n"
                "dx_full = conv_forward(delta, W_rotated, np.zeros(C_in), stride=1, padding=k - 1 - padding)"
            ),
        ),
        dict(
            what="δ padded by k − 1 (the full correlation) without undoing the forward padding",
            array="dx_full",
            code=(
                "W_rotated = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)\n"
                "dx_full = conv_forward(delta, W_rotated, np.zeros(C_in), stride=1, padding=k - 1)"
            ),
        ),
    ],
    "im2col": [
        dict(
            what="the stride ignored in the slices",
            array="z from im2col",
            code=IM2COL.replace(
                "i : i + stride * h_out : stride, j : j + stride * w_out : stride",
                "i : i + h_out, j : j + w_out",
            ),
        ),
        dict(
            what="kernel offsets i and j swapped",
            array="z from im2col",
            code=IM2COL.replace("cols[:, :, :, :, i, j]", "cols[:, :, :, :, j, i]"),
        ),
    ],
    "col2im": [
        dict(
            what="= instead of += (overlapping windows overwrite each other)",
            array="⟨x, col2im(c)⟩ (stride 1)",
            code=COL2IM.replace("] += cols[", "] = cols["),
        ),
        dict(
            what="the stride ignored",
            array="⟨x, col2im(c)⟩ (stride 2)",
            code=COL2IM.replace(
                "x_pad[:, :, i : i + stride * h_out : stride, j : j + stride * w_out : stride]",
                "x_pad[:, :, i : i + h_out, j : j + w_out]",
            ),
        ),
    ],
    "maxpool_backward": [
        dict(
            what="δ copied to every entry of the window",
            array="maxpool_backward(k=2, stride=2)",
            code=(
                "def maxpool_backward(delta, x, k, stride):\n"
                "    return np.repeat(np.repeat(delta, k, axis=2), k, axis=3)"
            ),
        ),
        dict(
            what="δ sent to the smallest entry (argmin)",
            array="maxpool_backward(k=2, stride=2)",
            code=MAXPOOL.replace("flat.argmax(axis=2)", "flat.argmin(axis=2)"),
        ),
        dict(
            what="= instead of += where windows overlap",
            array="maxpool_backward(k=3, stride=2)",
            code=MAXPOOL.replace("] += delta[:, :, y, xx]", "] = delta[:, :, y, xx]"),
        ),
    ],
    "avgpool_backward": [
        dict(
            what="the 1/k² forgotten",
            array="avgpool_backward(k=2, stride=2)",
            hint="missing 1/k² (k² = 4)",
            code=AVGPOOL.replace(" / k**2", ""),
        ),
        dict(  # issue 26: at batch 2 the hint offered "your batch size N" for this one
            what="δ/k instead of δ/k²",
            array="avgpool_backward(k=2, stride=2)",
            hint="missing 1/k (k = 2)",
            code=AVGPOOL.replace(" / k**2", " / k"),
        ),
        dict(
            what="= instead of += (overlapping windows)",
            array="avgpool_backward(k=3, stride=1)",
            code=AVGPOOL.replace("] += share", "] = share"),
        ),
    ],
}
