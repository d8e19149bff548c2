"""The papers' networks, each a function returning a built :class:`~nanograd_ad.network.Sequential`.

    from nanograd_ad import models
    net = models.alexnet(num_classes=100)               # 2,495,396 parameters
    net = models.extended_alexnet(num_classes=100)      # 7,488,292 parameters
    net = models.pn_model2(num_classes=10)              # 4 conv + 6 dense, tanh

Every function takes ``num_classes`` and ``input_shape`` (one sample, (C, H, W); default
CIFAR's (3, 32, 32)) and returns a network already built for that shape
(``net.shapes`` holds every layer's output shape). The output is the last Dense layer's
logits: pair it with :class:`~nanograd_ad.losses.SoftmaxCrossEntropy`.

| function | paper | layers |
|---|---|---|
| ``alexnet`` | Hu, Zhang & Ge 2021, Table 6 left | 5 conv, 3 max-pool, 1 dense |
| ``extended_alexnet`` | Hu, Zhang & Ge 2021, Table 6 right | 13 conv, 3 max-pool, 1 dense |
| ``pn_model1`` / ``pn_model2`` / ``pn_model3`` | Bu, Jiang, Lu & Zhang 2026, §4 | 8+2 / 4+6 / 5+5, tanh |
| ``regularized_relu_net`` | Wang, §4 | 6 conv, 2 mean-pool, 2-class dense |
| ``small_vgg`` | Basodi et al. (gradient amplification), a VGG-style stand-in for VGG-19 | 6 conv + 2 dense |
| ``resnet18`` / ``resnet34`` | Basodi et al.; He et al. 2016, CIFAR | 3×3 stem, 8 / 16 blocks, GAP, dense |
| ``resnet50`` / ``resnet101`` | Basodi et al. (deep); He et al. 2016 | 3×3 stem, 16 / 33 bottlenecks, GAP |
| ``vgg19_bn`` | Basodi et al.; Simonyan & Zisserman 2015 + BN, CIFAR | 16 conv + BN, 5 max-pool, dense |

Where a paper's table of layer sizes is lost, the widths are a reading, stated in the
function's docstring. Weights come from :mod:`nanograd_ad.init` (seed it with
``init.seed`` for a reproducible draw).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .activations import Activation
from .base import Layer
from .fast.activations import ReLU, Sigmoid, Tanh
from .fast.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
from .network import Sequential
from .normalization import BatchNorm2D
from .residual import Residual

__all__ = [
    "ACTIVATIONS",
    "alexnet",
    "extended_alexnet",
    "make_activation",
    "pn_model1",
    "pn_model2",
    "pn_model3",
    "regularized_relu_net",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "small_vgg",
    "vgg19_bn",
]

CIFAR = (3, 32, 32)


def _regularized_relu() -> Activation:
    from .ics import RegularizedReLU

    return RegularizedReLU()


# name → a fresh activation layer; "ad-…" swaps in the AD paper's artificial derivative
# (ReLU: d = sigmoid(k·z) with eq. 8's k = 1 — the paper's experiments use 3.5: pass
# lambda: ReLU(derivative="ad", k=3.5), as ad-cifar --k does; sigmoid: eq. 11), nothing else changes.
ACTIVATIONS: dict[str, Callable[[], Activation]] = {
    "relu": ReLU,
    "ad-relu": lambda: ReLU(derivative="ad"),
    "sigmoid": Sigmoid,
    "ad-sigmoid": lambda: Sigmoid(derivative="ad"),
    "tanh": Tanh,
    "regularized-relu": _regularized_relu,
}


def make_activation(activation: str | Callable[[], Activation]) -> Activation:
    """A fresh activation layer: a name of ``ACTIVATIONS`` or a zero-argument factory."""
    if callable(activation):
        layer = activation()
        if not isinstance(layer, Activation):
            raise TypeError(
                f"activation: a factory must return an Activation layer, got {type(layer).__name__}"
            )
        return layer
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: unknown name {activation!r}; known: {list(ACTIVATIONS)}")
    return ACTIVATIONS[activation]()


def _check(num_classes: int, input_shape: Sequence[int], name: str) -> tuple:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{name}: num_classes must be an int ≥ 1, got {num_classes!r}")
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"{name}: input_shape must be (C, H, W) of positive ints, got {input_shape!r}")
    return shape


def _finish(layers: list[Layer], num_classes: int, input_shape: tuple, weight_init, bias_init) -> Sequential:
    """Append Flatten (if missing) and the output Dense from the flattened size; build."""
    if not isinstance(layers[-1], Flatten):
        layers.append(Flatten())
    flat = Sequential(*layers).build(input_shape)[0]
    layers.append(Dense(flat, num_classes, weight_init=weight_init, bias_init=bias_init))
    net = Sequential(*layers)
    net.build(input_shape)
    return net


def _default_init(activation) -> str:
    """He normal for the ReLU family, Xavier normal for sigmoids (Hu, Zhang & Ge 2021, Table 5)."""
    name = activation if isinstance(activation, str) else ""
    return "xavier_normal" if "sigmoid" in name else "he_normal"


# --------------------------------------------------------------------- AD paper (Table 6)


def alexnet(
    num_classes: int = 100,
    *,
    activation: str | Callable[[], Activation] = "relu",
    input_shape: Sequence[int] = CIFAR,
    weight_init: str | None = None,
    bias_init: str = "zeros",
) -> Sequential:
    """The AD paper's AlexNet for CIFAR-100 (Hu, Zhang & Ge 2021, Table 6 left; 2,495,396 parameters).

    On (3, 32, 32), with f the activation (``"relu"``, ``"ad-relu"``, ``"sigmoid"``,
    ``"ad-sigmoid"`` or a factory):

        Conv(3, 64, 11, stride 4, pad 5) → f → MaxPool 2      (64, 8, 8) → (64, 4, 4)
        Conv(64, 192, 5, pad 2) → f → MaxPool 2              (192, 4, 4) → (192, 2, 2)
        Conv(192, 384, 3, pad 1) → f → Conv(384, 256) → f → Conv(256, 256) → f → MaxPool 2
                                                             (256, 2, 2) → (256, 1, 1)
        Flatten → Dense(256, num_classes)

    The table names only the channels; the kernels are the common CIFAR AlexNet's, the
    one layout that gives the paper's count (with 100 classes). Default init: He normal
    for ReLUs, Xavier normal for sigmoids (Table 5); **biases zero (reading: not given)**.
    """
    shape = _check(num_classes, input_shape, "alexnet")
    init = weight_init or _default_init(activation)

    def conv(c_in, c_out, k, stride=1):
        return [
            Conv2D(c_in, c_out, k, stride=stride, padding=k // 2, weight_init=init, bias_init=bias_init),
            make_activation(activation),
        ]

    layers = [
        *conv(shape[0], 64, 11, stride=4),
        MaxPool2D(2),
        *conv(64, 192, 5),
        MaxPool2D(2),
        *conv(192, 384, 3),
        *conv(384, 256, 3),
        *conv(256, 256, 3),
        MaxPool2D(2),
    ]
    return _finish(layers, num_classes, shape, init, bias_init)


EXTENDED_CHANNELS = (48, 64, 96, 128, 160, 224, 288, 352, 416, 352, 288, 224, 224)


def extended_alexnet(
    num_classes: int = 100,
    *,
    activation: str | Callable[[], Activation] = "relu",
    input_shape: Sequence[int] = CIFAR,
    weight_init: str | None = None,
    bias_init: str = "zeros",
) -> Sequential:
    """The AD paper's extended AlexNet (Hu, Zhang & Ge 2021, Table 6 right; 7,488,292 parameters).

    13 convolutions with Table 6's channels 48 64 96 128 160 | 224 288 352 | 416 352 288
    224 224, a 2×2 max-pool after the 5th, 8th and 13th, then Dense(224, num_classes).
    **Kernels (reading; the table gives channels only): 11×11 stride 4 pad 5 for the
    first, 5×5 pad 2 for convolutions 2–5, 3×3 pad 1 after** — the assignment that gives
    the paper's count with 100 classes. On (3, 32, 32): 8×8 after the first convolution,
    4, 2, 1 after the pools. Init as :func:`alexnet`.
    """
    shape = _check(num_classes, input_shape, "extended_alexnet")
    init = weight_init or _default_init(activation)
    layers: list[Layer] = []
    c_in = shape[0]
    for i, c_out in enumerate(EXTENDED_CHANNELS):
        k, stride = (11, 4) if i == 0 else (5, 1) if i < 5 else (3, 1)
        layers += [
            Conv2D(c_in, c_out, k, stride=stride, padding=k // 2, weight_init=init, bias_init=bias_init),
            make_activation(activation),
        ]
        if i in (4, 7, 12):
            layers.append(MaxPool2D(2))
        c_in = c_out
    return _finish(layers, num_classes, shape, init, bias_init)


# ---------------------------------------------------------------- PN paper (§4, models 1–3)


def _tanh_stack(
    input_shape: tuple, conv_widths: Sequence[int], pools: set[int], dense_widths: Sequence[int], num_classes
) -> Sequential:
    """[Conv 3×3 pad 1 → tanh (→ MaxPool 2 after the convs in ``pools``)] … → Flatten
    → [Dense → tanh] per ``dense_widths`` → Dense(num_classes); LeCun normal, zero biases."""
    layers: list[Layer] = []
    channels = input_shape[0]
    for i, out in enumerate(conv_widths):
        layers += [Conv2D(channels, out, 3, padding=1, weight_init="lecun_normal", bias_init="zeros"), Tanh()]
        if i in pools:
            layers.append(MaxPool2D(2))
        channels = out
    layers.append(Flatten())
    fan_in = Sequential(*layers).build(input_shape)[0]
    for width in dense_widths:
        layers += [Dense(fan_in, width, weight_init="lecun_normal", bias_init="zeros"), Tanh()]
        fan_in = width
    layers.append(Dense(fan_in, num_classes, weight_init="lecun_normal", bias_init="zeros"))
    net = Sequential(*layers)
    net.build(input_shape)
    return net


def _pools(size: int, wanted: Sequence[int]) -> set[int]:
    """The pooling positions that fit: a third 2×2 pool only when the image is ≥ 16 px."""
    return set(wanted[:2]) | (set(wanted[2:]) if size >= 16 else set())


def pn_model1(num_classes: int = 10, *, input_shape: Sequence[int] = CIFAR, width: int = 32) -> Sequential:
    """PN model 1 (Bu et al. 2026, §4.1): 8 conv + 2 dense, tanh; 80.5 % on CIFAR-10 (90 epochs).

        [Conv 3×3 → tanh] × 2 (w) → MaxPool 2 → [Conv → tanh] × 2 (2w) → MaxPool 2
        → [Conv → tanh] × 4 (4w) (→ MaxPool 2 when the image is ≥ 16 px)
        → Flatten → Dense(·, 4w) → tanh → Dense(4w, num_classes)

    **Reading: the paper's Table 1 is lost; the widths (w = 32 on CIFAR) are ours.**
    LeCun normal weights, zero biases (the paper's init).
    """
    shape = _check(num_classes, input_shape, "pn_model1")
    convs = [width, width, 2 * width, 2 * width] + [4 * width] * 4
    return _tanh_stack(shape, convs, _pools(shape[1], [1, 3, 7]), [4 * width], num_classes)


def pn_model2(num_classes: int = 10, *, input_shape: Sequence[int] = CIFAR, width: int = 32) -> Sequential:
    """PN model 2 (Bu et al. 2026, §4.1): 4 conv "with more filters" + 6 dense, tanh; 84.19 %
    on CIFAR-10 with augmentation.

        [Conv 3×3 → tanh] × 2 (2w) → MaxPool 2 → [Conv → tanh] × 2 (4w) → MaxPool 2
        → Flatten → [Dense → tanh] × 5 (16w 8w 8w 4w 4w)
        → Dense(4w, num_classes)

    **Reading: the paper's table is lost; these widths (w = 32: convs 64 64 128 128,
    dense 512 256 256 128 128) are ours.** LeCun normal weights, zero biases.
    """
    shape = _check(num_classes, input_shape, "pn_model2")
    convs = [2 * width, 2 * width, 4 * width, 4 * width]
    dense = [16 * width, 8 * width, 8 * width, 4 * width, 4 * width]
    return _tanh_stack(shape, convs, {1, 3}, dense, num_classes)


def pn_model3(num_classes: int = 100, *, input_shape: Sequence[int] = CIFAR, width: int = 32) -> Sequential:
    """PN model 3 (Bu et al. 2026, §4.2): 5 conv + 5 dense, tanh, "increased the width";
    61.23 % on CIFAR-100 (160 epochs, cosine warm-up, augmentation).

        [Conv 3×3 → tanh] × 2 (2w) → MaxPool 2 → [Conv → tanh] × 2 (4w) → MaxPool 2
        → Conv (8w) → tanh (→ MaxPool 2 when ≥ 16 px) → Flatten
        → [Dense → tanh] × 4 (32w 16w 16w 8w) → Dense(8w, num_classes)

    **Reading: the paper's Table 4 is lost; these widths (w = 32: convs 64 64 128 128
    256, dense 1024 512 512 256) are ours.** LeCun normal weights, zero biases.
    """
    shape = _check(num_classes, input_shape, "pn_model3")
    convs = [2 * width, 2 * width, 4 * width, 4 * width, 8 * width]
    dense = [32 * width, 16 * width, 16 * width, 8 * width]
    return _tanh_stack(shape, convs, _pools(shape[1], [1, 3, 4]), dense, num_classes)


# ------------------------------------------------------------------- ICS paper (Wang, §4)

WANG_CHANNELS = (8, 8, 16, 16, 32, 32)


def regularized_relu_net(
    num_classes: int = 2,
    *,
    activation: str | Callable[[], Activation] = "regularized-relu",
    input_shape: Sequence[int] = CIFAR,
    channels: Sequence[int] = WANG_CHANNELS,
    bias_init: str = "zeros",
    input_scale: float = 1.0,
) -> Sequential:
    """The regularized-ReLU paper's network (Wang, §4): 6 conv, 2 mean-pools, a 2-class output.

        Scale(α) → 6 × [Conv2D 3×3, padding 1 → f] with AvgPool 2 after the 2nd and 4th
        → Flatten → Dense(·, num_classes)

    f is ``"regularized-relu"`` (default), ``"relu"``, ``"sigmoid"`` or a factory. Weights
    U(−1, 1) (the paper draws "every initial weight" in [−1, 1]); **biases zero (reading;
    ``bias_init="uniform"`` draws them U(−1, 1) too)**. **Reading: the paper's Table 1 is
    lost; the widths 8 8 16 16 32 32 are ours.** ``input_scale`` is α of the Scale layer.
    """
    from . import init
    from .ics import Scale

    shape = _check(num_classes, input_shape, "regularized_relu_net")
    if len(channels) != 6:
        raise ValueError(f"regularized_relu_net: channels must be 6 widths, got {list(channels)}")
    if bias_init not in ("zeros", "uniform"):
        raise ValueError(f"regularized_relu_net: bias_init must be 'zeros' or 'uniform', got {bias_init!r}")
    weight_init = init.uniform(-1, 1)
    bias = weight_init if bias_init == "uniform" else "zeros"
    layers: list[Layer] = [Scale(float(input_scale))]
    c_in = shape[0]
    for i, c_out in enumerate(channels):
        layers += [
            Conv2D(c_in, c_out, 3, padding=1, weight_init=weight_init, bias_init=bias),
            make_activation(activation),
        ]
        if i in (1, 3):
            layers.append(AvgPool2D(2))
        c_in = c_out
    return _finish(layers, num_classes, shape, weight_init, bias)


# ------------------------------------------------------ amplification paper (Basodi et al.)


def small_vgg(
    num_classes: int = 10,
    *,
    input_shape: Sequence[int] = CIFAR,
    widths: Sequence[int] = (8, 16, 32),
    hidden: int = 64,
) -> Sequential:
    """A VGG-style CNN (the amplification experiment's stand-in for VGG-19, Basodi et al.).

    VGG's pattern of two 3×3 convolutions per block and a max-pool, one block per width:

        [Conv(c, w₁, 3, p=1) → ReLU → Conv(w₁, w₁, 3, p=1) → ReLU → MaxPool(2)]   8 → 4
        … one block per width (3 by default) …
        Flatten → Dense(·, hidden) → ReLU → Dense(hidden, num_classes)

    He-normal weights, PyTorch-default biases, no batch norm.
    """
    shape = _check(num_classes, input_shape, "small_vgg")
    channels, side = shape[0], shape[1]
    layers: list[Layer] = []
    for width in widths:
        layers += [
            Conv2D(channels, width, 3, padding=1, weight_init="he_normal"),
            ReLU(),
            Conv2D(width, width, 3, padding=1, weight_init="he_normal"),
            ReLU(),
            MaxPool2D(2),
        ]
        channels, side = width, side // 2
    if side < 1:
        raise ValueError(f"small_vgg: input {shape} is too small for {len(widths)} pooling blocks")
    layers += [
        Flatten(),
        Dense(channels * side * side, hidden, weight_init="he_normal"),
        ReLU(),
        Dense(hidden, num_classes, weight_init="he_normal"),
    ]
    net = Sequential(*layers)
    net.build(shape)
    return net


# ------------------------------------------------ the amplification paper's own networks


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[Layer]:
    """3×3 convolution without bias (batch norm's β takes its place) → BatchNorm2D → ReLU."""
    return [
        Conv2D(c_in, c_out, 3, stride=stride, padding=1, weight_init="he_normal", bias=False),
        BatchNorm2D(c_out),
        ReLU(),
    ]


def basic_block(c_in: int, c_out: int, stride: int = 1) -> Residual:
    """ResNet's basic block (He et al. 2016, Fig. 2), before the ReLU that follows the sum:

    branch    Conv3×3(stride) → BN → ReLU → Conv3×3 → BN
    shortcut  identity, or Conv1×1(stride) → BN where the shape changes (option B)
    """
    branch = Sequential(
        *_conv_bn_relu(c_in, c_out, stride),
        Conv2D(c_out, c_out, 3, padding=1, weight_init="he_normal", bias=False),
        BatchNorm2D(c_out),
    )
    return Residual(branch, _projection(c_in, c_out, stride))


def _projection(c_in: int, c_out: int, stride: int) -> Sequential | None:
    """A residual block's shortcut: None (the identity) where the shape stays, else
    Conv1×1(c_in → c_out, stride) → BN (He et al.'s option B)."""
    if stride == 1 and c_in == c_out:
        return None
    return Sequential(
        Conv2D(c_in, c_out, 1, stride=stride, weight_init="he_normal", bias=False), BatchNorm2D(c_out)
    )


#: output channels of a bottleneck block per ``planes`` (He et al. 2016: 64 → 256, …)
BOTTLENECK_EXPANSION = 4


def bottleneck_block(c_in: int, planes: int, stride: int = 1) -> Residual:
    """ResNet's bottleneck block (He et al. 2016, Fig. 5 right), before the ReLU that follows the sum:

    branch    Conv1×1(c_in → p) → BN → ReLU → Conv3×3(p → p, stride) → BN → ReLU → Conv1×1(p → 4p) → BN
    shortcut  identity, or Conv1×1(c_in → 4p, stride) → BN where the shape changes (option B)

    p = ``planes``; the output has 4p channels. The stride sits on the 3×3 convolution, as in
    torchvision's ResNet ("v1.5"); He et al. put it on the first 1×1.
    """
    out = BOTTLENECK_EXPANSION * planes
    branch = Sequential(
        Conv2D(c_in, planes, 1, weight_init="he_normal", bias=False),
        BatchNorm2D(planes),
        ReLU(),
        *_conv_bn_relu(planes, planes, stride),
        Conv2D(planes, out, 1, weight_init="he_normal", bias=False),
        BatchNorm2D(out),
    )
    return Residual(branch, _projection(c_in, out, stride))


def _resnet(
    name: str, blocks: Sequence[int], num_classes: int, input_shape, width: int, bottleneck: bool = False
) -> Sequential:
    shape = _check(num_classes, input_shape, name)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"{name}: width must be a positive int, got {width!r}")
    layers: list[Layer] = _conv_bn_relu(shape[0], width)
    channels, side = width, shape[1]
    for stage, count in enumerate(blocks):
        planes = width * 2**stage
        for b in range(count):
            stride = 2 if stage > 0 and b == 0 else 1
            if bottleneck:
                layers += [bottleneck_block(channels, planes, stride), ReLU()]
                channels = BOTTLENECK_EXPANSION * planes
            else:
                layers += [basic_block(channels, planes, stride), ReLU()]
                channels = planes
    _, height, side = Sequential(*layers).build(shape)
    if height != side:
        raise ValueError(f"{name}: needs square images, got input_shape {shape}")
    # global average pooling: one mean per channel over the last H×W
    layers += [AvgPool2D(side), Flatten(), Dense(channels, num_classes)]
    net = Sequential(*layers)
    net.build(shape)
    return net


def resnet18(num_classes: int = 10, *, input_shape: Sequence[int] = CIFAR, width: int = 64) -> Sequential:
    """ResNet-18 for CIFAR (the amplification paper's network; He, Zhang, Ren & Sun 2016).

    The CIFAR variant commonly used for 32×32 images: a 3×3 stem instead of the 7×7
    convolution and max-pool of the ImageNet network, then four stages of two basic
    blocks (widths w, 2w, 4w, 8w; w = 64; the first block of stages 2–4 halves H and W
    with a 1×1 projection shortcut), global average pooling and one Dense layer::

        Conv3×3(c, w) → BN → ReLU → [Residual → ReLU] × (2, 2, 2, 2) → AvgPool(4) → Flatten
        → Dense(8w, classes)

    11,173,962 parameters for 10 classes (tested against the same network built in PyTorch).
    Convolutions carry no bias (batch norm follows each); He-normal convolution weights,
    PyTorch's default for the Dense layer, γ = 1 and β = 0.
    """
    return _resnet("resnet18", (2, 2, 2, 2), num_classes, input_shape, width)


def resnet34(num_classes: int = 10, *, input_shape: Sequence[int] = CIFAR, width: int = 64) -> Sequential:
    """ResNet-34 for CIFAR: :func:`resnet18` with (3, 4, 6, 3) basic blocks per stage
    (21,282,122 parameters for 10 classes)."""
    return _resnet("resnet34", (3, 4, 6, 3), num_classes, input_shape, width)


def resnet50(num_classes: int = 10, *, input_shape: Sequence[int] = CIFAR, width: int = 64) -> Sequential:
    """ResNet-50 for CIFAR (the amplification paper's deep model; He, Zhang, Ren & Sun 2016).

    The stem of :func:`resnet18` (a 3×3 convolution, no max-pool), then four stages of
    (3, 4, 6, 3) :func:`bottleneck_block` s with planes w, 2w, 4w, 8w (w = 64; outputs 4w …
    32w = 2048 channels; the first block of stages 2–4 halves H and W, the first of every
    stage has a 1×1 projection shortcut), global average pooling and one Dense layer::

        Conv3×3(c, w) → BN → ReLU → [Bottleneck → ReLU] × (3, 4, 6, 3) → AvgPool(4) → Flatten
        → Dense(32w, classes)

    23,520,842 parameters for 10 classes (tested against the torchvision-style network built
    in PyTorch). Convolutions carry no bias; He-normal convolution weights, PyTorch's
    default for the Dense layer, γ = 1 and β = 0. Basodi et al. train it with the
    deep-model strategy ``amplify.PARAMS_DEEP`` and thresholds ``amplify.THRESHOLDS_DEEP``.
    """
    return _resnet("resnet50", (3, 4, 6, 3), num_classes, input_shape, width, bottleneck=True)


def resnet101(num_classes: int = 10, *, input_shape: Sequence[int] = CIFAR, width: int = 64) -> Sequential:
    """ResNet-101 for CIFAR: :func:`resnet50` with (3, 4, 23, 3) bottleneck blocks per stage
    (42,512,970 parameters for 10 classes)."""
    return _resnet("resnet101", (3, 4, 23, 3), num_classes, input_shape, width, bottleneck=True)


#: VGG-19's configuration: convolution widths, "M" for a 2×2 max-pool
VGG19 = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)


def vgg19_bn(
    num_classes: int = 10, *, input_shape: Sequence[int] = CIFAR, width_scale: float = 1.0
) -> Sequential:
    """VGG-19 with batch normalization for CIFAR (the amplification paper's network).

    Simonyan & Zisserman's 16 3×3 convolutions in five blocks, each followed by batch norm
    and ReLU, a 2×2 max-pool after each block (32 → 1), and, as in the CIFAR variant, a
    single Dense(512, classes) classifier instead of the three ImageNet ones::

        [Conv3×3 → BN → ReLU] × (2, 2, 4, 4, 4) with widths 64 … 512, MaxPool(2) after each → Flatten → Dense

    Convolutions carry no bias (batch norm follows): 20,035,018 parameters for 10 classes
    (the common CIFAR code keeps the biases: 5,504 more). ``width_scale`` multiplies every
    width (e.g. 0.25 for a quick run). Needs inputs of at least 32×32 (five poolings).
    """
    shape = _check(num_classes, input_shape, "vgg19_bn")
    if isinstance(width_scale, bool) or not isinstance(width_scale, (int, float)) or not width_scale > 0:
        raise ValueError(f"vgg19_bn: width_scale must be a number > 0, got {width_scale!r}")
    if min(shape[1:]) < 32:
        raise ValueError(f"vgg19_bn: input {shape} is too small for five 2×2 poolings (needs ≥ 32×32)")
    layers: list[Layer] = []
    channels = shape[0]
    for entry in VGG19:
        if entry == "M":
            layers.append(MaxPool2D(2))
            continue
        out = max(1, round(int(entry) * width_scale))
        layers += _conv_bn_relu(channels, out)
        channels = out
    return _finish(layers, num_classes, shape, "torch", "torch")
