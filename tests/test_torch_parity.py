"""Parity with PyTorch autograd in float64 (skipped where torch is absent; CI installs it).

AD derivatives are not autograd's gradients, so they are compared with a custom
``torch.autograd.Function`` whose backward uses the same artificial derivative.
"""

import numpy as np
import pytest

import nanograd_ad as ng

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: parity tests need `pip install torch==2.13.0`"
)
F = torch.nn.functional


class ReLUAD(torch.autograd.Function):
    """ReLU forward, sigmoid(k·z) backward (AD paper eq. 8)."""

    @staticmethod
    def forward(ctx, z, k):
        ctx.save_for_backward(z)
        ctx.k = k
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad * torch.sigmoid(ctx.k * z), None


class SigmoidAD(torch.autograd.Function):
    """Sigmoid forward, min(y, 1 − y) backward (AD paper eq. 11)."""

    @staticmethod
    def forward(ctx, z):
        y = torch.sigmoid(z)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * torch.minimum(y, 1 - y)


def t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def torch_forward(net, x, params, acts):
    """Run our layer list in torch with the given parameter tensors."""
    h, it = x, iter(params)
    for layer in net.layers:
        if isinstance(layer, ng.Conv2D):
            h = F.conv2d(h, next(it), next(it), stride=layer.stride, padding=layer.padding)
        elif isinstance(layer, ng.Dense):
            h = h @ next(it) + next(it)
        elif isinstance(layer, ng.MaxPool2D):
            h = F.max_pool2d(h, layer.kernel_size, layer.stride)
        elif isinstance(layer, ng.AvgPool2D):
            h = F.avg_pool2d(h, layer.kernel_size, layer.stride)
        elif isinstance(layer, ng.Flatten):
            h = h.flatten(1)
        else:
            h = acts[type(layer).__name__, layer.derivative_name](h)
    return h


ACTS = {
    ("ReLU", "true"): F.relu,
    ("Tanh", "true"): torch.tanh,
    ("Sigmoid", "true"): torch.sigmoid,
    ("LeakyReLU", "true"): lambda h: F.leaky_relu(h, 0.01),
    ("ReLU", "ad"): lambda h: ReLUAD.apply(h, 3.5),
    ("Sigmoid", "ad"): SigmoidAD.apply,
}


@pytest.mark.parametrize("derivative", ["true", "ad"])
def test_conv_net_gradients_match_torch(derivative):
    ng.seed(3)
    net = ng.Sequential(
        ng.Conv2D(2, 4, 3, padding=1),
        ng.ReLU(derivative=derivative, k=3.5),
        ng.MaxPool2D(2),
        ng.Conv2D(4, 3, 2, stride=2),
        ng.Sigmoid(derivative=derivative),
        ng.AvgPool2D(2, stride=1),
        ng.Flatten(),
        ng.Dense(3, 5),
        ng.Tanh(),
        ng.Dense(5, 4),
    ).astype(np.float64)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 2, 8, 8)), np.array([0, 3, 1])
    loss = ng.SoftmaxCrossEntropy()
    loss.forward(net(x), y)
    net.zero_grad()
    dx = net.backward(loss.backward())

    params = [t(p.data) for p in net.parameters()]
    xt = t(x)
    out = torch_forward(net, xt, params, ACTS)
    F.cross_entropy(out, torch.tensor(y)).backward()
    for (name, p), pt in zip(net.named_parameters(), params):
        np.testing.assert_allclose(p.grad, pt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_mse_mlp_with_leaky_relu_matches_torch():
    ng.seed(4)
    net = ng.Sequential(
        ng.Dense(1, 2), ng.LeakyReLU(), ng.Dense(2, 2), ng.LeakyReLU(), ng.Dense(2, 1)
    ).astype(np.float64)
    x = np.random.default_rng(1).uniform(-1.7, 1.7, (10, 1))
    loss = ng.MSE()
    loss.forward(net(x), np.abs(x))
    net.zero_grad()
    net.backward(loss.backward())
    params = [t(p.data) for p in net.parameters()]
    F.mse_loss(torch_forward(net, torch.tensor(x), params, ACTS), torch.tensor(np.abs(x))).backward()
    for (name, p), pt in zip(net.named_parameters(), params):
        np.testing.assert_allclose(p.grad, pt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_optimizer_trajectories_match_torch(opt_name):
    ng.seed(5)
    net = ng.Sequential(ng.Dense(3, 4), ng.Tanh(), ng.Dense(4, 2)).astype(np.float64)
    params = [torch.tensor(p.data.copy(), requires_grad=True) for p in net.parameters()]
    if opt_name == "sgd":
        ours = ng.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
        theirs = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)
    else:
        ours = ng.Adam(net.parameters(), lr=0.01, weight_decay=0.01)
        theirs = torch.optim.Adam(params, lr=0.01, weight_decay=0.01)
    rng = np.random.default_rng(2)
    loss = ng.SoftmaxCrossEntropy()
    for _ in range(5):
        x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
        ours.zero_grad()
        loss.forward(net(x), y)
        net.backward(loss.backward())
        ours.step()
        theirs.zero_grad()
        F.cross_entropy(torch_forward(net, torch.tensor(x), params, ACTS), torch.tensor(y)).backward()
        theirs.step()
    for p, pt in zip(net.parameters(), params):
        np.testing.assert_allclose(p.data, pt.detach().numpy(), rtol=1e-9, atol=1e-12)
