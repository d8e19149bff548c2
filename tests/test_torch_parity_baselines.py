"""Parity with PyTorch in float64 for the baselines: nn.BatchNorm1d/2d (forward, backward,
running statistics, evaluation) and a ResNet basic block with a projection shortcut."""

import numpy as np
import pytest

import nanograd_ad as ng
from nanograd_ad import backend

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: parity tests need `pip install torch==2.13.0`"
)
nn = torch.nn


def _copy_bn(ours, theirs, rng):
    gamma, beta = rng.uniform(0.5, 2, ours.num_features), rng.standard_normal(ours.num_features)
    ours.weight.data[...] = gamma
    ours.bias.data[...] = beta
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))


@pytest.mark.parametrize("dims", [1, 2])
def test_batch_norm_matches_torch(dims):
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(dims)
    ours = ng.BatchNorm1D(3) if dims == 1 else ng.BatchNorm2D(3)
    theirs = (nn.BatchNorm1d(3) if dims == 1 else nn.BatchNorm2d(3)).double()
    _copy_bn(ours, theirs, rng)
    shape = (6, 3) if dims == 1 else (4, 3, 3, 2)
    for step in range(3):  # three training steps: forward, backward, running statistics
        x = rng.standard_normal(shape) * (1 + step) + step
        upstream = rng.standard_normal(shape)
        ours.weight.zero_grad(), ours.bias.zero_grad()
        y = ours(x)
        dx = ours.backward(upstream)
        xt = torch.tensor(x, requires_grad=True)
        theirs.zero_grad()
        yt = theirs(xt)
        yt.backward(torch.from_numpy(upstream))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.training = False
    theirs.eval()
    x, upstream = rng.standard_normal(shape), rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.backward(upstream), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


class TorchBasicBlock(nn.Module):
    """torchvision's BasicBlock with a projection shortcut (CIFAR ResNet)."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def test_residual_block_matches_torch():
    backend.set_default_dtype("float64")
    rng = np.random.default_rng(7)
    theirs = TorchBasicBlock(2, 4, 2).double()
    ours = ng.Sequential(
        ng.Residual(
            ng.Sequential(
                ng.Conv2D(2, 4, 3, stride=2, padding=1, bias=False),
                ng.BatchNorm2D(4),
                ng.ReLU(),
                ng.Conv2D(4, 4, 3, padding=1, bias=False),
                ng.BatchNorm2D(4),
            ),
            ng.Sequential(ng.Conv2D(2, 4, 1, stride=2, bias=False), ng.BatchNorm2D(4)),
        ),
        ng.ReLU(),
    )
    block = ours.layers[0]
    pairs = [
        (block.branch[0], theirs.conv1),
        (block.branch[1], theirs.bn1),
        (block.branch[3], theirs.conv2),
        (block.branch[4], theirs.bn2),
        (block.shortcut[0], theirs.shortcut[0]),
        (block.shortcut[1], theirs.shortcut[1]),
    ]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    _check_against_torch(ours, theirs, pairs, (3, 2, 6, 6), (3, 4, 3, 3), rng)


def _check_against_torch(ours, theirs, pairs, x_shape, y_shape, rng):
    """Copy the weights of ``pairs`` (ours, torch's) over, then compare y, ∂x, ∂W and BN's
    running variance after one forward/backward in float64."""
    with torch.no_grad():
        for mine, torch_layer in pairs:
            if isinstance(mine, ng.BatchNorm2D):
                _copy_bn(mine, torch_layer, rng)
            else:
                torch_layer.weight.copy_(torch.from_numpy(np.asarray(mine.weight.data)))
    x, upstream = rng.standard_normal(x_shape), rng.standard_normal(y_shape)
    y = ours(x)
    ours.zero_grad()
    dx = ours.backward(upstream)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for mine, torch_layer in pairs:
        np.testing.assert_allclose(mine.weight.grad, torch_layer.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
        if isinstance(mine, ng.BatchNorm2D):
            np.testing.assert_allclose(mine.running_var, torch_layer.running_var.numpy(), rtol=1e-12)


# --------------------------------------------------------- parameter counts of the models


class TorchResNet(nn.Module):
    """The CIFAR ResNet (3×3 stem, four stages of basic blocks, global average pooling)."""

    def __init__(self, blocks, num_classes):
        super().__init__()
        layers, c_in = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()], 64
        for stage, count in enumerate(blocks):
            for b in range(count):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(TorchBasicBlock(c_in, 64 * 2**stage, stride))
                if stride == 1 and c_in == 64 * 2**stage:  # identity shortcut
                    layers[-1].shortcut = nn.Sequential()
                c_in = 64 * 2**stage
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


F = torch.nn.functional


def torch_vgg19_bn(num_classes):
    from nanograd_ad.models import VGG19

    layers, c_in = [], 3
    for entry in VGG19:
        if entry == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c_in, entry, 3, padding=1, bias=False), nn.BatchNorm2d(entry), nn.ReLU()]
            c_in = entry
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, num_classes))


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_model_parameter_counts_match_torch():
    from nanograd_ad import models

    resnet18 = TorchResNet((2, 2, 2, 2), 10)
    assert models.resnet18(10).num_parameters() == _count(resnet18) == 11_173_962
    assert models.resnet34(10).num_parameters() == _count(TorchResNet((3, 4, 6, 3), 10))
    vgg = torch_vgg19_bn(100)
    assert models.vgg19_bn(100).num_parameters() == _count(vgg)
    assert vgg(torch.zeros(2, 3, 32, 32)).shape == (2, 100)


class TorchBottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3×3 convolution), expansion 4."""

    expansion = 4

    def __init__(self, c_in, planes, stride):
        super().__init__()
        out = self.expansion * planes
        self.branch = nn.Sequential(
            nn.Conv2d(c_in, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        return F.relu(self.branch(x) + self.shortcut(x))


class TorchBottleneckResNet(nn.Module):
    """The CIFAR ResNet-50/101 (3×3 stem, no max-pool, four stages of bottlenecks, GAP)."""

    def __init__(self, blocks, num_classes, width=64):
        super().__init__()
        layers, c_in = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()], width
        for stage, count in enumerate(blocks):
            for b in range(count):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(TorchBottleneck(c_in, width * 2**stage, stride))
                c_in = 4 * width * 2**stage
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def test_bottleneck_resnet_parameter_counts_match_torch():
    """Basodi et al.'s deep models: ResNet-50 and -101 with bottleneck blocks (He et al. 2016)."""
    from nanograd_ad import models

    resnet50 = TorchBottleneckResNet((3, 4, 6, 3), 10)
    assert models.resnet50(10).num_parameters() == _count(resnet50) == 23_520_842
    resnet101 = TorchBottleneckResNet((3, 4, 23, 3), 100)
    assert models.resnet101(100).num_parameters() == _count(resnet101) == 42_697_380
    assert resnet50(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # per tensor, at a small width: the same shapes in the same order (a Dense weight is
    # (D_in, D_out), nn.Linear's (D_out, D_in))
    ours = models.resnet50(7, input_shape=(3, 16, 16), width=4)
    theirs = TorchBottleneckResNet((3, 4, 6, 3), 7, width=4)
    torch_shapes = [tuple(p.shape) for p in theirs.parameters()]
    torch_shapes[-2] = torch_shapes[-2][::-1]
    assert [tuple(p.shape) for p in ours.parameters()] == torch_shapes


def test_bottleneck_block_matches_torch_in_float64():
    from nanograd_ad.models import bottleneck_block

    backend.set_default_dtype("float64")
    rng = np.random.default_rng(5)
    ours = ng.Sequential(bottleneck_block(4, 2, stride=2), ng.ReLU())
    theirs = TorchBottleneck(4, 2, 2).double()
    mine = [layer for _, layer in ours.walk() if isinstance(layer, (ng.Conv2D, ng.BatchNorm2D))]
    torch_layers = [m for m in theirs.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    assert len(mine) == len(torch_layers) == 8
    _check_against_torch(ours, theirs, list(zip(mine, torch_layers)), (3, 4, 6, 6), (3, 8, 3, 3), rng)
