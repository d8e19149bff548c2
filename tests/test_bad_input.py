"""Bad input at every public entry point: the error type, and a message that names the
argument or layer, what was expected and what was received (issue 12)."""

import pickle
import re
import struct
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nanograd_ad as ng
from nanograd_ad import activations

# ---------------------------------------------------------------- activations


def test_a_misspelt_activation_keyword_is_refused_naming_the_accepted_ones():
    with pytest.raises(TypeError, match=r"ReLU: unknown keyword 'kk'.*accepted.*\['k'\]"):
        ng.ReLU(derivative="ad", kk=3.5)
    with pytest.raises(TypeError, match=r"Sigmoid: unknown keyword 'k'.*accepted: none"):
        ng.Sigmoid(derivative="ad", k=3.5)


@pytest.mark.parametrize("value", ["3.5", None, True, [3.5]])
def test_a_wrongly_typed_activation_keyword_is_refused_at_construction(value):
    with pytest.raises(
        TypeError, match=r"ReLU: keyword k must be a real number .*got " + type(value).__name__
    ):
        ng.ReLU(derivative="ad", k=value)


def test_a_keyword_of_another_registered_derivative_is_kept_for_switching():
    act = ng.ReLU(k=3.5)  # "true" takes no k, "ad" does: the switching rule needs it later
    act.set_derivative("ad")
    z = np.array([-1.0, 1.0], dtype=np.float32)
    act.forward(z)
    np.testing.assert_allclose(act.backward(np.ones(2, np.float32)), activations.sigmoid(3.5 * z))


def test_numpy_scalar_keywords_are_plain_numbers():
    act = ng.ReLU(derivative="ad", k=np.float64(3.5))
    assert repr(act) == "ReLU(derivative='ad', k=3.5)"
    act.forward(np.ones(3, np.float32))
    assert act.backward(np.ones(3, np.float32)).dtype == np.float32  # k does not promote to float64


def test_an_unknown_derivative_type_is_refused():
    with pytest.raises(
        TypeError, match=r"ReLU: derivative must be a registered name .* or a callable.*got int"
    ):
        ng.ReLU(derivative=3)


def test_overwriting_a_registered_derivative_needs_replace():
    with pytest.raises(ValueError, match=r"'relu' already has a derivative 'true'.*replace=True"):
        ng.register_derivative("relu", "true", lambda: lambda z, a: z * 0)
    z = np.array([-1.0, 2.0], dtype=np.float32)
    act = ng.ReLU()
    act.forward(z)
    np.testing.assert_array_equal(act.backward(np.ones(2, np.float32)), [0, 1])  # untouched
    ng.register_derivative("relu", "test_replace", lambda: lambda z, a: z * 0 + 2)
    ng.register_derivative("relu", "test_replace", lambda: lambda z, a: z * 0 + 3, replace=True)
    act = ng.ReLU(derivative="test_replace")
    act.forward(z)
    np.testing.assert_array_equal(act.backward(np.ones(2, np.float32)), [3, 3])


def test_register_derivative_checks_its_arguments():
    with pytest.raises(TypeError, match=r"factory must be callable.*got str"):
        ng.register_derivative("relu", "bad", "sigmoid")
    with pytest.raises(TypeError, match=r"name must be a str, got int"):
        ng.register_derivative("relu", 3, lambda: lambda z, a: z)


@pytest.mark.parametrize("returned, kind", [(None, "NoneType"), ([1.0, 1.0], "list")])
def test_a_derivative_returning_no_array_is_refused_naming_the_layer(returned, kind):
    act = ng.Tanh(derivative=lambda z, a: returned)
    act.forward(np.zeros(2, np.float32))
    with pytest.raises(
        TypeError, match=rf"Tanh.*derivative .*returned {kind}, expected an array of shape \(2,\)"
    ):
        act.backward(np.ones(2, np.float32))


# ---------------------------------------------------------------- losses


def test_integer_one_hot_targets_are_refused_even_when_n_equals_classes():
    logits = np.random.default_rng(0).standard_normal((10, 10)).astype(np.float32)
    one_hot = np.eye(10, dtype=np.int64)[np.arange(10) % 10]
    with pytest.raises(
        ValueError, match=r"integer target of shape \(10, 10\).*class labels of shape \(10,\)"
    ):
        ng.SoftmaxCrossEntropy().forward(logits, one_hot)
    # the same rows as floats, or as labels, give the same (correct) loss
    loss = ng.SoftmaxCrossEntropy()
    as_floats = loss.forward(logits, one_hot.astype(np.float32))
    assert np.isclose(as_floats, loss.forward(logits, np.arange(10)))


def test_labels_of_shape_n_by_1_are_refused():
    with pytest.raises(ValueError, match=r"integer target of shape \(4, 1\).*class labels of shape \(4,\)"):
        ng.SoftmaxCrossEntropy().forward(np.zeros((4, 3), np.float32), np.zeros((4, 1), np.int64))


def test_probability_rows_must_sum_to_one():
    target = np.full((4, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"rows of the target must sum to 1.*row 0 sums to 1.5"):
        ng.SoftmaxCrossEntropy().forward(np.zeros((4, 3), np.float32), target)
    smooth = np.full((4, 3), 0.1, np.float32) + 0.7 * np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    ng.SoftmaxCrossEntropy().forward(np.zeros((4, 3), np.float32), smooth)  # label smoothing is fine


def test_ensemble_labels_still_work():
    loss = ng.SoftmaxCrossEntropy()
    logits = np.random.default_rng(1).standard_normal((2, 5, 3))
    labels = np.array([[0, 1, 2, 0, 1], [2, 2, 1, 0, 0]])
    value = loss.forward(logits, labels)
    single = [ng.SoftmaxCrossEntropy().forward(logits[e], labels[e]) for e in range(2)]
    assert np.isclose(value, sum(single))


@pytest.mark.parametrize("loss", [ng.SoftmaxCrossEntropy(), ng.MSE()])
def test_losses_refuse_empty_batches_lists_and_backward_first(loss):
    name = type(loss).__name__
    with pytest.raises(RuntimeError, match=rf"{name}: backward called before forward"):
        type(loss)().backward()
    target = np.zeros(0, np.int64) if name == "SoftmaxCrossEntropy" else np.zeros((0, 3), np.float32)
    with pytest.raises(ValueError, match=rf"{name}: empty batch.*\(0, 3\)"):
        loss.forward(np.zeros((0, 3), np.float32), target)
    with pytest.raises(TypeError, match=rf"{name}: pred must be an array.*got list"):
        loss.forward([[0.0, 1.0, 2.0]], np.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match=rf"{name}: target must be an array.*got list"):
        loss.forward(np.zeros((1, 3), np.float32), [0])


# ---------------------------------------------------------------- layers


def test_numpy_integer_sizes_are_valid():
    dense = ng.Dense(np.int64(4), np.int32(3))
    assert dense.weight.shape == (4, 3) and type(dense.in_features) is int
    conv = ng.Conv2D(np.int64(1), np.int64(2), np.int64(3), stride=np.int64(1), padding=np.int64(1))
    assert conv.forward(np.zeros((1, 1, 4, 4), np.float32)).shape == (1, 2, 4, 4)
    assert ng.MaxPool2D(np.int64(2)).forward(np.zeros((1, 1, 4, 4), np.float32)).shape == (1, 1, 2, 2)


@pytest.mark.parametrize("k", [12, 13])
def test_max_pool_takes_any_window_size(k):
    x = np.random.default_rng(0).permutation(k * k).reshape(1, 1, k, k).astype(np.float32)
    pool = ng.MaxPool2D(k)
    assert pool.forward(x)[0, 0, 0, 0] == k * k - 1
    dx = pool.backward(np.ones((1, 1, 1, 1), np.float32))
    assert dx.sum() == 1 and dx[x == k * k - 1] == 1


def test_assigning_data_of_another_dtype_moves_the_gradient_with_it():
    dense = ng.Dense(3, 2)
    dense.weight.data = dense.weight.data.astype(np.float64)
    assert dense.weight.grad.dtype == np.float64
    dense.forward(np.ones((1, 3)))
    dense.backward(np.full((1, 2), 1 / 3))
    assert dense.weight.grad.dtype == np.float64
    np.testing.assert_array_equal(dense.weight.grad, np.full((3, 2), 1 / 3))  # not rounded to float32


def test_assigning_data_of_the_wrong_shape_or_type_is_refused():
    dense = ng.Dense(3, 2)
    with pytest.raises(ValueError, match=r"Parameter weight: expected shape \(3, 2\), got \(2, 3\)"):
        dense.weight.data = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"Parameter bias: data must be an array, got list"):
        dense.bias.data = [0.0, 0.0]


def test_optimizer_state_follows_the_parameter_dtype():
    net = ng.Sequential(ng.Dense(3, 2))
    opt = ng.Adam(net.parameters(), lr=1e-2)
    net.astype(np.float64)
    net.forward(np.ones((1, 3)))
    net.backward(np.full((1, 2), 1 / 3))
    opt.step()
    assert all(m.dtype == np.float64 for m in opt.m + opt.v)
    assert all(p.data.dtype == np.float64 for p in net.parameters())
    state = opt.state_dict()
    fresh = ng.Adam(net.parameters(), lr=1e-2)
    fresh.load_state_dict(state)
    assert all(m.dtype == np.float64 for m in fresh.m + fresh.v)


def _layers_and_inputs():
    rng = np.random.default_rng(0)
    return [
        (ng.Dense(3, 2), rng.standard_normal((4, 3)).astype(np.float32), (4, 2)),
        (ng.Conv2D(1, 2, 3), rng.standard_normal((2, 1, 5, 5)).astype(np.float32), (2, 2, 3, 3)),
        (ng.MaxPool2D(2), rng.standard_normal((2, 1, 4, 4)).astype(np.float32), (2, 1, 2, 2)),
        (ng.AvgPool2D(2), rng.standard_normal((2, 1, 4, 4)).astype(np.float32), (2, 1, 2, 2)),
        (ng.Flatten(), rng.standard_normal((2, 1, 2, 2)).astype(np.float32), (2, 4)),
        (ng.ReLU(), rng.standard_normal((4, 3)).astype(np.float32), (4, 3)),
    ]


@pytest.mark.parametrize("index", range(6))
def test_backward_refuses_a_wrong_delta_naming_layer_and_shapes(index):
    layer, x, out_shape = _layers_and_inputs()[index]
    name = re_name(layer)
    with pytest.raises(RuntimeError, match=rf"{name}.*backward called before forward"):
        layer.backward(np.ones(out_shape, np.float32))
    layer.forward(x)
    wrong = (*out_shape[:-1], out_shape[-1] + 1)
    with pytest.raises(
        ValueError, match=rf"{name}.*delta of shape {re_shape(out_shape)}.*got {re_shape(wrong)}"
    ):
        layer.backward(np.ones(wrong, np.float32))
    with pytest.raises(TypeError, match=rf"{name}.*delta must be an array.*got list"):
        layer.backward(np.ones(out_shape).tolist())
    with pytest.raises(TypeError, match=rf"{name}.*expects an array.*got list"):
        layer.forward(x.tolist())


def re_name(layer):
    return re.escape(repr(layer))


def re_shape(shape):
    return re.escape(str(tuple(shape)))


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 4),
    width=st.integers(1, 4),
    wrong=st.lists(st.integers(0, 5), min_size=0, max_size=4),
)
def test_any_wrong_delta_shape_is_refused_with_both_shapes(rows, width, wrong):
    layer = ng.Dense(3, width)
    layer.forward(np.ones((rows, 3), np.float32))
    wrong = tuple(wrong)
    if wrong == (rows, width):
        return
    expected = re.escape(str((rows, width)))
    with pytest.raises(ValueError, match=rf"Dense\(3, {width}\).*{expected}.*got {re.escape(str(wrong))}"):
        layer.backward(np.ones(wrong, np.float32))


def test_a_float64_state_loads_into_a_float32_network_in_its_dtype():
    net = ng.Sequential(ng.Dense(3, 2))
    net.load_state_dict({k: v.astype(np.float64) for k, v in net.state_dict().items()})
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in net.parameters())
    net.astype(np.float64)
    net.load_state_dict({k: v.astype(np.float32) for k, v in net.state_dict().items()})
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())


def test_conv_refuses_an_empty_batch():
    with pytest.raises(ValueError, match=r"Conv2D\(1, 2, 3\): empty batch \(input of shape \(0, 1, 5, 5\)\)"):
        ng.Conv2D(1, 2, 3).forward(np.zeros((0, 1, 5, 5), np.float32))


# ---------------------------------------------------------------- network


def test_sequential_backward_names_the_layer_for_a_wrong_delta():
    net = ng.Sequential(ng.Dense(3, 4), ng.ReLU(), ng.Dense(4, 2))
    with pytest.raises(
        RuntimeError, match=r"Sequential layer 2: Dense\(4, 2\).*backward called before forward"
    ):
        net.backward(np.ones((5, 2), np.float32))
    net.forward(np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"Sequential layer 2: Dense\(4, 2\).*\(5, 2\).*got \(5, 3\)"):
        net.backward(np.ones((5, 3), np.float32))


def test_sequential_refuses_a_python_list():
    net = ng.Sequential(ng.Dense(3, 2))
    with pytest.raises(TypeError, match=r"Sequential.*expects an array.*got list"):
        net.forward([[1.0, 2.0, 3.0]])


class _TwoArgumentError(Exception):
    def __init__(self, code, detail):
        super().__init__(f"code {code}: {detail}")
        self.code = code


class _Failing(ng.Layer):
    def forward(self, x):
        raise _TwoArgumentError(7, "broken")


def test_sequential_forward_wraps_errors_without_reconstructing_them():
    net = ng.Sequential(ng.Dense(3, 3), _Failing())
    with pytest.raises(_TwoArgumentError, match=r"Sequential layer 1.*code 7: broken") as info:
        net.forward(np.ones((1, 3), np.float32))
    assert info.value.code == 7


# ---------------------------------------------------------------- optimizers


def test_numpy_scalar_rates_are_valid():
    params = ng.Sequential(ng.Dense(2, 2)).parameters()
    adam = ng.Adam(
        params, lr=np.float32(1e-3), betas=(np.float32(0.9), np.float64(0.999)), eps=np.float32(1e-8)
    )
    assert type(adam.lr) is float and adam.lr == pytest.approx(1e-3)
    sgd = ng.SGD(params, lr=np.float32(0.1), momentum=np.float32(0.5), weight_decay=np.int64(0))
    assert type(sgd.lr) is float and type(sgd.momentum) is float
    with pytest.raises(ValueError, match=r"SGD: lr must be > 0, got '0.1'"):
        ng.SGD(params, lr="0.1")


# ---------------------------------------------------------------- checkpoints


def _small_net():
    return ng.Sequential(ng.Dense(3, 2))


def test_an_adam_checkpoint_is_refused_by_an_sgd_optimizer(tmp_path):
    from nanograd_ad.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint

    net = _small_net()
    path = save_checkpoint(tmp_path / "adam.npz", net, ng.Adam(net.parameters(), lr=1e-3))
    sgd = ng.SGD(net.parameters(), lr=0.5)
    with pytest.raises(CheckpointMismatchError, match=r"holds Adam optimizer state.*into SGD"):
        load_checkpoint(path, net, sgd)
    assert sgd.lr == 0.5  # untouched
    with pytest.raises(
        ValueError, match=r"SGD.load_state_dict: unexpected entries \['m.0', 'm.1', 'v.0', 'v.1'\]"
    ):
        sgd.load_state_dict(ng.Adam(net.parameters()).state_dict())


def _rewrite_entry(path, entry, content: bytes):
    import zipfile

    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files[entry] = content
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def test_a_corrupt_array_header_names_the_entry(tmp_path):
    from nanograd_ad.checkpoint import CheckpointError, read_checkpoint, save_checkpoint

    path = save_checkpoint(tmp_path / "c.npz", _small_net())
    _rewrite_entry(path, "net/0.weight.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': garbage")
    with pytest.raises(CheckpointError, match=r"c.npz: entry 'net/0.weight' is corrupt"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "meta",
    ["{not json", '["a list"]', '{"format": 1, "optimizer": {"state": {"__array__": "optim/x"}}}'],
)
def test_corrupt_metadata_names_the_entry(tmp_path, meta):
    from nanograd_ad.checkpoint import CheckpointError, read_checkpoint

    path = tmp_path / "m.npz"
    np.savez(path, __meta__=np.array(meta), **{"net/0.weight": np.zeros((3, 2))})
    with pytest.raises(CheckpointError, match=r"m.npz: entry '__meta__'"):
        read_checkpoint(path)


# ---------------------------------------------------------------- datasets and the CLI


def _cifar_root(tmp_path):
    from conftest import write_fake_cifar10

    root = tmp_path / "data"
    write_fake_cifar10(root / "cifar-10-batches-py", per_batch=4, test=4)
    return root


class _RunsCode:
    """Unpickling this calls os.mkdir(path): a stand-in for any code a crafted file could run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.mkdir, (str(self.path),))


def test_cifar_batches_are_read_with_a_restricted_unpickler(tmp_path):
    from nanograd_ad.datasets import load_cifar10

    root = _cifar_root(tmp_path)
    marker = tmp_path / "code-ran"
    with open(root / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _RunsCode(marker), b"labels": [0]}, f)
    with pytest.raises(ValueError, match=r"data_batch_3.*refusing to load the global 'posix.mkdir'"):
        load_cifar10(root)
    assert not marker.exists()


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes, as the official (Python 2) CIFAR files hold them."""

    def save_bytes(self, obj):
        size = len(obj)
        if size < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([size]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", size) + obj)
        self.memoize(obj)

    dispatch: ClassVar[dict] = {**pickle._Pickler.dispatch, bytes: save_bytes}


@pytest.mark.parametrize("protocol", ["python2", 2, 4, 5])
def test_the_restricted_unpickler_reads_real_numpy_pickles(tmp_path, protocol):
    from nanograd_ad.datasets import _read_batch

    path = tmp_path / "batch"
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    batch = {b"data": data, b"labels": [np.int64(1), 2], b"filenames": [b"a.png", b"b.png"]}
    with open(path, "wb") as f:
        if protocol == "python2":
            _Python2Pickler(f, protocol=2).dump(batch)
        else:
            pickle.dump(batch, f, protocol=protocol)
    got, labels = _read_batch(path, b"labels", 10)
    np.testing.assert_array_equal(got, data)
    np.testing.assert_array_equal(labels, [1, 2])


@pytest.mark.parametrize("content", [b"", b"\x80\x04\x95\x10", b"not a pickle at all"])
def test_corrupt_cifar_files_name_the_file(tmp_path, content):
    from nanograd_ad.datasets import load_cifar10

    root = _cifar_root(tmp_path)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(content)
    with pytest.raises(ValueError, match=r"test_batch: cannot read this CIFAR batch"):
        load_cifar10(root)


def test_an_installed_package_never_points_at_site_packages(tmp_path, monkeypatch):
    from nanograd_ad import datasets

    installed = tmp_path / "lib" / "site-packages" / "nanograd_ad" / "datasets.py"
    monkeypatch.setattr(datasets, "__file__", str(installed))
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert "site-packages" not in str(datasets.default_data_dir())
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_cifar10(None)
    assert "site-packages" not in str(info.value) and "repository" not in str(info.value)


def _main(argv, capsys):
    from nanograd_ad.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("where", ["file", "file/below"])
def test_an_out_path_at_or_under_a_file_is_refused_before_any_work(tmp_path, capsys, where):
    (tmp_path / "file").write_text("x")
    code, out, err = _main(["reproduce", "digits-ad", "--quick", "--out", str(tmp_path / where)], capsys)
    assert code == 2
    assert "--out" in err and "is a file" in err and "file" in err
    assert out == ""  # nothing loaded, nothing trained


def test_a_missing_data_dir_is_refused_before_any_work(tmp_path, capsys):
    argv = ["reproduce", "digits-ad", "--quick", "--data", "cifar10", "--data-dir", str(tmp_path / "none")]
    code, out, err = _main([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--data-dir" in err and "does not exist" in err and out == ""


def test_a_missing_optional_dependency_exits_2_naming_the_extra(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    code, _, err = _main(["reproduce", "digits-ad", "--quick", "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "nanograd_ad[data]" in err and "Traceback" not in err


def test_a_corrupt_cifar_file_exits_2_naming_the_file(tmp_path, capsys):
    root = _cifar_root(tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"\x80\x04trunc")
    argv = ["reproduce", "digits-ad", "--quick", "--data", "cifar10", "--data-dir", str(root)]
    code, _, err = _main([*argv, "--out", str(tmp_path / "o"), "--no-progress"], capsys)
    assert code == 2 and "data_batch_2" in err and "Traceback" not in err


def test_results_record_the_settings_actually_used(tmp_path):
    import json

    from nanograd_ad.experiments.common import ExperimentConfig, write_results

    config = ExperimentConfig(quick=True, out=tmp_path, extra={"lr": None, "width": 8})
    assert config.choose("runs", 2, 5) == 2
    assert config.choose("lr", 3e-3, 1e-3) == 3e-3
    assert config.setting("data", "digits") == "digits"
    write_results(config, "x", [], {}, wall_time_s=0.0)
    written = json.loads((tmp_path / "results.json").read_text())["config"]
    assert (written["runs"], written["data"], written["extra"]) == (2, "digits", {"lr": 3e-3, "width": 8})
    assert written["epochs"] is None  # never chosen: the experiment did not use it
    # written like open() writes a file (and matplotlib a plot): 0o666 less the umask, not mkstemp's 0o600
    (tmp_path / "plot.png").write_bytes(b"png")
    mode = (tmp_path / "results.json").stat().st_mode & 0o777
    assert mode == (tmp_path / "plot.png").stat().st_mode & 0o777


# ---------------------------------------------------------------- the training loop


def _regression(n=24, dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2)).astype(dtype)
    return x, (x[:, :1] * 0.5).astype(dtype)


def test_the_trainer_casts_inputs_to_the_networks_dtype():
    from nanograd_ad.train import Trainer

    x, y = _regression()  # float64 data, float32 network
    net = ng.Sequential(ng.Dense(2, 3), ng.Tanh(), ng.Dense(3, 1))
    Trainer(
        net, ng.MSE(), ng.SGD(net.parameters(), lr=0.1), (x, y), (x, y), batch_size=8, progress=False
    ).fit(1)
    assert net.layers[0].x.dtype == np.float32  # the pass ran in the layers' dtype
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in net.parameters())


def test_the_trainer_casts_an_ensembles_inputs_to_the_networks_dtype():
    from nanograd_ad.ensemble import flat_parameter, from_seeds

    x, y = _regression()
    net = from_seeds(lambda: ng.Sequential(ng.Dense(2, 3), ng.Tanh(), ng.Dense(3, 1)), range(2))
    flat = flat_parameter(net)
    ng.Trainer(
        net, ng.MSE(), ng.SGD([flat], lr=0.1), (x, y), (x, y), batch_size=8, rng=range(2), progress=False
    ).fit(1)
    assert net.layers[0].x.dtype == np.float32
    assert flat.data.dtype == np.float32


def test_load_state_dict_after_flat_parameter_keeps_training_the_layers():
    from nanograd_ad.ensemble import flat_parameter

    net = ng.Sequential(ng.Dense(2, 3), ng.Tanh(), ng.Dense(3, 1))
    flat = flat_parameter(net)
    loaded = {name: value + 1.0 for name, value in net.state_dict().items()}
    net.load_state_dict(loaded)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, loaded[name])
    x, y = _regression(dtype=np.float32)
    optimizer = ng.SGD([flat], lr=0.1)
    loss = ng.MSE()
    net.zero_grad()
    loss.forward(net.forward(x), y)
    net.backward(loss.backward())
    optimizer.step()  # updates θ: the layers must read the update
    after = net.state_dict()
    assert all(not np.array_equal(after[name], loaded[name]) for name in loaded)
    np.testing.assert_array_equal(flat.data[:6], after["0.weight"].ravel())


# ------------------------------------------------- issue 28: one layer instance used twice


def test_one_dense_instance_used_twice_is_refused_naming_both_positions():
    shared = ng.Dense(3, 3)
    with pytest.raises(
        ValueError, match=r"Sequential: layer 2 is layer 0 again \(the same Dense\(3, 3\) object\).*new layer"
    ):
        ng.Sequential(shared, ng.Tanh(), shared)


def test_one_activation_instance_used_twice_is_refused():
    act = ng.Tanh()
    with pytest.raises(ValueError, match=r"layer 3 is layer 1 again \(the same Tanh\(\) object\)"):
        ng.Sequential(ng.Dense(3, 3), act, ng.Dense(3, 3), act)


def test_a_layer_shared_with_a_nested_block_is_refused_naming_both_positions():
    dense = ng.Dense(4, 4)
    block = ng.Residual(ng.Sequential(dense, ng.Tanh()))
    with pytest.raises(ValueError, match=r"layer 1\.branch\.0 is layer 0 again \(the same Dense\(4, 4\)"):
        ng.Sequential(dense, block)
    act = ng.ReLU()
    with pytest.raises(ValueError, match=r"Residual: layer shortcut\.0 is layer branch\.1 again"):
        ng.Residual(ng.Sequential(ng.Dense(4, 4), act), ng.Sequential(act))


def test_separate_instances_give_the_right_gradient():
    """The refused network's gradient was wrong in sign; two instances pass gradcheck."""
    ng.seed(0)
    net = ng.Sequential(ng.Dense(3, 3), ng.Tanh(), ng.Dense(3, 3))
    x = np.random.default_rng(1).standard_normal((4, 3))
    assert ng.gradcheck(net, None, x).passed


# ------------------------------------------------------- issue 28: gradcheck's own arguments


class _SignFlippedDense(ng.Dense):
    """A planted bug: ∂C/∂W with the wrong sign."""

    def backward(self, delta, input_grad=True):
        out = super().backward(delta, input_grad=input_grad)
        self.weight.grad *= -1
        return out


def _broken_net():
    ng.seed(0)
    return ng.Sequential(_SignFlippedDense(3, 2), ng.Tanh())


_X3 = np.random.default_rng(2).standard_normal((4, 3))


def test_gradcheck_fails_the_planted_sign_flip_with_its_defaults():
    assert not ng.gradcheck(_broken_net(), None, _X3).passed


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(h=1e-30), r"gradcheck: h must be a finite number in \[1e-10, 0.1\].*got 1e-30"),
        (dict(h=float("nan")), r"gradcheck: h must be .*got nan"),
        (dict(h=0), r"gradcheck: h must be .*got 0"),
        (dict(h=-1e-5), r"gradcheck: h must be .*got -1e-05"),
        (dict(tol=0), r"gradcheck: tol must be a finite number in \(0, 1\), got 0"),
        (dict(tol=float("inf")), r"gradcheck: tol must be .*got inf"),
        (dict(max_entries=0), r"gradcheck: max_entries must be None or an integer ≥ 1.*got 0"),
        (dict(max_entries=2.5), r"gradcheck: max_entries must be None or an integer ≥ 1.*got 2.5"),
        (dict(max_entries=True), r"gradcheck: max_entries must be .*got True"),
        (dict(atol=float("nan")), r"gradcheck: atol must be None or a finite number ≥ 0, got nan"),
        (dict(atol=-1.0), r"gradcheck: atol must be .*got -1.0"),
    ],
)
def test_gradcheck_refuses_settings_under_which_a_broken_backward_passes(options, message):
    with pytest.raises(ValueError, match=message):
        ng.gradcheck(_broken_net(), None, _X3, **options)
    with pytest.raises(ValueError, match=message.replace("gradcheck", "check_layer")):
        ng.check_layer(_SignFlippedDense(3, 2), _X3, **options)


def test_a_report_that_compared_nothing_does_not_pass():
    report = ng.gradcheck(ng.Sequential(ng.Tanh()), None, _X3, check_input=False)
    assert not report.passed
    assert "nothing was compared" in str(report)


def test_a_nan_difference_quotient_fails_the_check():
    from nanograd_ad.gradcheck import GradcheckReport, _compare

    values = np.array([1.0, 2.0])
    worst = _compare("w", np.array([1.0, 1.0]), lambda: float("nan"), values, 1e-5, [(0,), (1,)], 1e-8)
    report = GradcheckReport([worst])
    assert not report.passed and worst.max_rel_error == float("inf")


def test_gradcheck_names_a_bare_layer_and_a_loss_class():
    with pytest.raises(TypeError, match=r"gradcheck: net must be a Sequential.*got Dense.*check_layer"):
        ng.gradcheck(ng.Dense(3, 2), None, _X3)
    net = ng.Sequential(ng.Dense(3, 2))
    message = r"gradcheck: loss must be a loss object such as SoftmaxCrossEntropy\(\).*got the class"
    with pytest.raises(TypeError, match=message + " SoftmaxCrossEntropy"):
        ng.gradcheck(net, ng.SoftmaxCrossEntropy, _X3, np.array([0, 1, 0, 1]))
    with pytest.raises(TypeError, match=r"check_layer: layer must be a Layer, got Sequential"):
        ng.check_layer(net, _X3)


# -------------------------------------------------- issue 28: what a CIFAR batch may contain


def _write_batch(root, data, labels, name="data_batch_2", protocol=4):
    with open(root / "cifar-10-batches-py" / name, "wb") as f:
        pickle.dump({b"data": data, b"labels": labels}, f, protocol=protocol)


_GOOD_PIXELS = np.zeros((4, 3072), np.uint8)


@pytest.mark.parametrize(
    "data, message",
    [
        (np.full((4, 3072), 0.5), r"data_batch_2: b'data' must be uint8 .*got dtype float64"),
        (np.full((4, 3072), 300, np.int16), r"data_batch_2: b'data' must be uint8 .*got dtype int16"),
        (np.full((4, 3072), -5, np.int64), r"data_batch_2: b'data' must be uint8 .*got dtype int64"),
        (np.full((4, 3072), np.nan, np.float32), r"data_batch_2: b'data' .*got dtype float32"),
        ([[0] * 3072] * 4, r"data_batch_2: b'data' must be uint8 .*got list"),
    ],
)
def test_cifar_pixels_other_than_uint8_are_refused_naming_file_key_and_dtype(tmp_path, data, message):
    from nanograd_ad.datasets import load_cifar10

    root = _cifar_root(tmp_path)
    _write_batch(root, data, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=message):
        load_cifar10(root)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 1, 42, 3], r"test_batch: b'labels' must be integers in \[0, 10\); entry 2 is 42"),
        ([0, -1, 2, 3], r"test_batch: b'labels' must be integers in \[0, 10\); entry 1 is -1"),
        ([0, 1.5, 2, 3], r"test_batch: b'labels' must be integers in \[0, 10\); entry 1 is 1.5 \(float\)"),
        (["cat", 1, 2, 3], r"test_batch: b'labels' must be integers .*entry 0 is 'cat' \(str\)"),
        ([True, 1, 2, 3], r"test_batch: b'labels' must be integers .*entry 0 is True \(bool\)"),
        (np.array([0, 1, 2, 3.0]), r"test_batch: b'labels' must be integers .*float64"),
    ],
)
def test_cifar_labels_out_of_range_or_not_integers_are_refused(tmp_path, labels, message):
    from nanograd_ad.datasets import load_cifar10

    root = _cifar_root(tmp_path)
    _write_batch(root, _GOOD_PIXELS, labels, name="test_batch")
    with pytest.raises(ValueError, match=message):
        load_cifar10(root)


def test_an_empty_bytes_value_in_a_protocol_2_pickle_is_harmless(tmp_path):
    from nanograd_ad.datasets import _read_batch

    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": _GOOD_PIXELS, b"labels": [0, 1, 2, 3], b"batch_label": b""}, f, protocol=2)
    _, labels = _read_batch(path, b"labels", 10)
    np.testing.assert_array_equal(labels, [0, 1, 2, 3])


# ------------------------------------------- issue 28: cross-entropy with masked logits


def test_a_minus_inf_logit_on_another_class_gives_the_finite_loss():
    loss = ng.SoftmaxCrossEntropy()
    value = float(loss(np.array([[0.0, -np.inf, 1.0]]), np.array([0])))
    assert value == pytest.approx(np.log1p(np.e), rel=1e-12)  # log(1 + e) = 1.3133
    np.testing.assert_allclose(loss.backward(), [[1 / (1 + np.e) - 1, 0.0, np.e / (1 + np.e)]], rtol=1e-12)
    one_hot = float(loss(np.array([[0.0, -np.inf, 1.0]]), np.array([[1.0, 0.0, 0.0]])))
    assert one_hot == pytest.approx(1.3132616875182228, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 5), classes=st.integers(2, 6), seed=st.integers(0, 1000))
def test_masked_logits_equal_the_loss_over_the_remaining_classes(rows, classes, seed):
    """Masking class k with −inf is the same as leaving k out (0·log 0 = 0)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((rows, classes))
    masked_class = int(rng.integers(classes))
    labels = (masked_class + 1 + rng.integers(0, classes - 1, rows)) % classes  # never the masked one
    masked = logits.copy()
    masked[:, masked_class] = -np.inf
    kept = [k for k in range(classes) if k != masked_class]
    remap = np.array([kept.index(k) if k in kept else -1 for k in range(classes)])
    expected = float(ng.SoftmaxCrossEntropy()(logits[:, kept], remap[labels]))
    assert float(ng.SoftmaxCrossEntropy()(masked, labels)) == pytest.approx(expected, rel=1e-12)


def test_a_float_target_row_holding_nan_is_refused():
    message = r"SoftmaxCrossEntropy: rows of the target must sum to 1.*row 1 holds NaN"
    with pytest.raises(ValueError, match=message):
        ng.SoftmaxCrossEntropy()(np.zeros((2, 3)), np.array([[1.0, 0, 0], [np.nan, 0.5, 0.5]]))


def test_boolean_logits_are_refused_naming_the_dtype():
    with pytest.raises(TypeError, match=r"SoftmaxCrossEntropy: logits must be real numbers.*got dtype bool"):
        ng.SoftmaxCrossEntropy()(np.array([[True, False]]), np.array([0]))


# ------------------------------------------- issue 28: the data and settings fit() is given


def _tiny_data():
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    return x, np.arange(8) % 2


def _fit(train, test=None, loss=None, **options):
    ng.seed(0)
    net = ng.Sequential(ng.Dense(3, 2))
    options.setdefault("lr", 0.1)
    loss = loss or ng.SoftmaxCrossEntropy()
    return ng.fit(net, loss, "sgd", train, 1, test=test, progress=False, **options)


def test_a_nan_in_the_test_inputs_is_named_before_training():
    x, y = _tiny_data()
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"test: the inputs hold NaN or inf \(1 entry\); first in row 5"):
        _fit((x, y), test=(bad, y))


def test_a_nan_in_the_training_inputs_is_named_before_training():
    x, y = _tiny_data()
    bad = x.copy()
    bad[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"train: the inputs hold NaN or inf \(1 entry\); first in row 2"):
        _fit((bad, y))


def test_a_nan_in_regression_targets_is_named_as_the_targets():
    x, _ = _tiny_data()
    targets = x[:, :2].copy()
    targets[6, 1] = np.nan
    with pytest.raises(ValueError, match=r"train: the targets hold NaN or inf \(1 entry\); first in row 6"):
        _fit((x, targets), loss=ng.MSE())


@pytest.mark.parametrize("which", ["x", "y"])
def test_python_lists_are_refused_naming_the_set_and_the_fix(which):
    x, y = _tiny_data()
    train = (x.tolist(), y) if which == "x" else (x, y.tolist())
    role = "inputs" if which == "x" else "targets"
    with pytest.raises(TypeError, match=rf"train: the {role} must be an array .*np.asarray.*got list"):
        _fit(train)


@pytest.mark.parametrize("value", [2.5, True, 0, -1, "8"])
def test_eval_batch_size_must_be_a_positive_integer(value):
    message = rf"eval_batch_size must be None or a positive integer, got {value!r}"
    with pytest.raises(ValueError, match=message):
        _fit(_tiny_data(), eval_batch_size=value)


@pytest.mark.parametrize("value", ["abc", -1, 1.5, True])
def test_fit_refuses_a_seed_that_is_not_a_non_negative_integer(value):
    message = rf"seed must be a non-negative integer or a numpy Generator, got {value!r}"
    with pytest.raises(ValueError, match=message):
        _fit(_tiny_data(), seed=value)


def test_a_schedule_given_as_a_function_is_refused_naming_lr_at():
    message = r"schedule must have an lr_at\(epoch\) method.*Constant.*got function"
    with pytest.raises(TypeError, match=message):
        _fit(_tiny_data(), schedule=lambda epoch: 0.1)


# ------------------------------------------------ issue 28: optimizers hold what they are given


def test_a_parameter_listed_twice_is_refused_naming_both_positions():
    params = ng.Sequential(ng.Dense(2, 2)).parameters()
    for cls in (ng.SGD, ng.Adam):
        with pytest.raises(ValueError, match=rf"{cls.__name__}: parameter 2 is parameter 0 again \(weight"):
            cls(params + params, lr=0.1)


@pytest.mark.parametrize("value", [float("nan"), -0.1, float("inf"), "0.1", None, True])
def test_lr_is_checked_on_assignment(value):
    opt = ng.Adam(ng.Sequential(ng.Dense(2, 2)).parameters(), lr=0.01)
    message = r"Adam: lr must be a finite number ≥ 0, got " + re.escape(repr(value))
    with pytest.raises(ValueError, match=message):
        opt.lr = value
    assert opt.lr == 0.01
    opt.lr = 0  # a schedule may reach 0 (the end of a cosine cycle)
    assert opt.lr == 0.0 and type(opt.lr) is float


@pytest.mark.parametrize("betas", [(1, 1), (0.9, 1.0), (-0.1, 0.9), (0.9,), "ab", (0.9, float("nan"))])
def test_betas_are_checked_on_assignment(betas):
    opt = ng.Adam(ng.Sequential(ng.Dense(2, 2)).parameters())
    with pytest.raises(ValueError, match=r"Adam: betas"):
        opt.betas = betas
    assert opt.betas == (0.9, 0.999)


def _adam_state(params=None):
    params = params or ng.Sequential(ng.Dense(2, 2)).parameters()
    opt = ng.Adam(params)
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    return opt.state_dict()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(lr=float("nan")), r"lr must be a finite number ≥ 0, got nan"),
        (dict(lr=-1.0), r"lr must be a finite number ≥ 0, got -1.0"),
        (dict(steps=-3), r"steps must be an integer ≥ 0, got -3"),
        (dict(steps=2.5), r"steps must be an integer ≥ 0, got 2.5"),
        ({"m.0": np.full((2, 2), np.nan, np.float32)}, r"m.0 holds NaN or inf"),
        ({"v.1": np.array([1 + 2j, 0j])}, r"v.1 must be a real float array, got dtype complex128"),
    ],
)
def test_load_state_dict_refuses_bad_values_before_changing_anything(change, message):
    params = ng.Sequential(ng.Dense(2, 2)).parameters()
    opt = ng.Adam(params, lr=0.5)
    state = {**_adam_state(), **change}
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: " + message):
        opt.load_state_dict(state)
    assert opt.lr == 0.5 and opt.steps == 0 and not np.any(opt.m[0])


def test_a_state_of_fewer_parameters_is_refused():
    state = _adam_state()  # 2 parameters
    opt = ng.Adam(ng.Sequential(ng.Dense(2, 2), ng.Dense(2, 2)).parameters())  # 4 parameters
    message = r"Adam.load_state_dict: unexpected entries \[\], missing \['m.2', 'm.3', 'v.2', 'v.3'\]"
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(state)


def test_load_state_dict_names_a_list():
    opt = ng.SGD(ng.Sequential(ng.Dense(2, 2)).parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"SGD.load_state_dict: state must be a dict .*got list"):
        opt.load_state_dict([("lr", 0.1)])


# ------------------------------------------- issue 28: callbacks, seeds and where files go


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(min_delta=float("nan")), r"EarlyStopping: min_delta must be a finite number ≥ 0, got nan"),
        (dict(min_delta=-0.1), r"EarlyStopping: min_delta must be a finite number ≥ 0, got -0.1"),
        (dict(patience=2.5), r"EarlyStopping: patience must be an integer ≥ 1, got 2.5"),
        (dict(patience="3"), r"EarlyStopping: patience must be an integer ≥ 1, got '3'"),
        (dict(patience=True), r"EarlyStopping: patience must be an integer ≥ 1, got True"),
        (dict(patience=0), r"EarlyStopping: patience must be an integer ≥ 1, got 0"),
        (dict(monitor=3), r"EarlyStopping: monitor must be the name of a logged value .*got 3"),
    ],
)
def test_early_stopping_checks_its_arguments(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ng.EarlyStopping(**options)


@pytest.mark.parametrize(
    "every, message",
    [(2.5, r"got 2.5"), (0, r"got 0"), ("1", r"got '1'"), (True, r"got True")],
)
def test_checkpointing_every_must_be_a_positive_integer(tmp_path, every, message):
    with pytest.raises(ValueError, match=r"Checkpointing: every must be an integer ≥ 1, " + message):
        ng.Checkpointing(tmp_path / "last.npz", every=every)


def test_checkpointing_onto_a_directory_is_refused_at_construction(tmp_path):
    with pytest.raises(ValueError, match=rf"Checkpointing: path {re.escape(str(tmp_path))} is a directory"):
        ng.Checkpointing(tmp_path)
    with pytest.raises(ValueError, match=r"Checkpointing: path must be a file name, got ''"):
        ng.Checkpointing("")


def test_saving_onto_a_directory_or_an_empty_path_is_refused(tmp_path):
    net = ng.Sequential(ng.Dense(2, 2))
    with pytest.raises(IsADirectoryError, match=rf"{re.escape(str(tmp_path))} is a directory.*file name"):
        ng.save_checkpoint(tmp_path, net)
    with pytest.raises(ValueError, match=r"save_checkpoint: path must be a file name, got ''"):
        ng.save_checkpoint("", net)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


@pytest.mark.parametrize("value", [-1, 1.5, "3", True, None])
def test_seed_must_be_a_non_negative_integer(value):
    message = r"seed: the seed must be an integer ≥ 0, got " + re.escape(repr(value))
    with pytest.raises((TypeError, ValueError), match=message):
        ng.seed(value)


def test_from_seeds_refuses_fractional_seeds():
    with pytest.raises((TypeError, ValueError), match=r"seed must be an integer ≥ 0, got 1.5"):
        ng.from_seeds(lambda: ng.Sequential(ng.Dense(1, 2)), [1.5, 2])


# ---------------------------------------- issue 28: state is checked whole before it is loaded


def _three_layer_net():
    ng.seed(0)
    return ng.Sequential(ng.Dense(3, 4), ng.ReLU(), ng.Dense(4, 2))


@pytest.mark.parametrize(
    "value, message",
    [
        (np.array([[None] * 2] * 4, dtype=object), r"2.weight must hold real numbers, got dtype object"),
        (np.full((4, 2), 1 + 1j), r"2.weight must hold real numbers, got dtype complex128"),
        (np.ones((4, 2), bool), r"2.weight must hold real numbers, got dtype bool"),
        (np.full((4, 2), 1e300), r"2.weight holds NaN or inf in float32 \(values beyond its range"),
        (np.full((4, 2), np.nan), r"2.weight holds NaN or inf"),
        ("ab", r"2.weight must be an array, got str"),
    ],
)
def test_load_state_dict_refuses_bad_values_and_changes_nothing(value, message):
    from nanograd_ad.checkpoint import CheckpointMismatchError

    net = _three_layer_net()
    before = net.state_dict()
    state = {name: np.zeros_like(v) for name, v in before.items()}
    state["2.weight"] = value
    with pytest.raises(CheckpointMismatchError, match=r"load_state_dict: (parameter )?" + message):
        net.load_state_dict(state)
    for name, array in net.state_dict().items():
        np.testing.assert_array_equal(array, before[name])  # the entries before it were not written


def test_load_state_dict_names_a_list_given_for_the_state():
    with pytest.raises(TypeError, match=r"load_state_dict: state must be a dict .*got list"):
        _three_layer_net().load_state_dict([np.zeros((3, 4))])


def test_load_checkpoint_with_a_mismatched_optimizer_changes_nothing(tmp_path):
    from nanograd_ad.checkpoint import CheckpointMismatchError

    source = _three_layer_net()
    small = ng.Sequential(ng.Dense(3, 4), ng.ReLU(), ng.Dense(4, 2))
    path = ng.save_checkpoint(tmp_path / "c.npz", small, ng.Adam(ng.Sequential(ng.Dense(3, 4)).parameters()))
    before = source.state_dict()
    adam = ng.Adam(source.parameters(), lr=0.5)
    with pytest.raises(CheckpointMismatchError, match=r"Adam.load_state_dict: .*missing \['m.2', 'm.3'"):
        ng.load_checkpoint(path, source, adam)
    for name, array in source.state_dict().items():
        np.testing.assert_array_equal(array, before[name])
    assert adam.lr == 0.5


def test_a_checkpoint_of_other_layer_kinds_is_refused_naming_the_layer(tmp_path):
    from nanograd_ad.checkpoint import CheckpointMismatchError

    path = ng.save_checkpoint(tmp_path / "relu.npz", _three_layer_net())
    tanh = ng.Sequential(ng.Dense(3, 4), ng.Tanh(), ng.Dense(4, 2))
    before = tanh.state_dict()
    with pytest.raises(CheckpointMismatchError, match=r"layer 1 is ReLU in the checkpoint but Tanh here"):
        ng.load_checkpoint(path, tanh)
    np.testing.assert_array_equal(tanh.state_dict()["0.weight"], before["0.weight"])
    tanh.load_state_dict(ng.read_checkpoint(path).net_state)  # the documented way round
    ng.load_checkpoint(path, ng.Sequential(ng.Dense(3, 4), ng.ReLU(derivative="ad"), ng.Dense(4, 2)))


def test_a_subclass_of_the_same_name_counts_as_the_same_layer(tmp_path):
    """The fast wing subclasses the reference classes under their names."""
    path = ng.save_checkpoint(tmp_path / "c.npz", _three_layer_net())
    fast_dense = type("Dense", (ng.Dense,), {"__module__": "nanograd_ad.fast.layers"})
    net = ng.Sequential(fast_dense(3, 4), ng.ReLU(), fast_dense(4, 2))
    ng.load_checkpoint(path, net)
    np.testing.assert_array_equal(net.state_dict()["2.weight"], _three_layer_net().state_dict()["2.weight"])


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(format=2), r"c.npz: entry '__meta__' gives checkpoint format 2; this nanograd_ad reads format"),
        (dict(format=None), r"gives checkpoint format None; this nanograd_ad reads format 1"),
        (dict(version=3), r"version must be a string, found 3"),
    ],
)
def test_the_format_and_version_fields_are_checked(tmp_path, change, message):
    import json

    from nanograd_ad.checkpoint import CheckpointError

    path = ng.save_checkpoint(tmp_path / "c.npz", _three_layer_net())
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta.update(change)
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=message):
        ng.read_checkpoint(path)


def test_check_refuses_a_complex_answer_naming_it():
    with pytest.raises(ng.CheckError, match=r"check 'delta': yours should be real numbers, got .*complex128"):
        ng.check("delta", np.array([1.0 + 0.5j, 2.0]), np.array([1.0, 2.0]))
    with pytest.raises(ng.CheckError, match=r"the expected value should be real numbers, got .*complex128"):
        ng.check("delta", np.array([1.0, 2.0]), np.array([1.0 + 0j, 2.0]))


# ------------------------------------------------- issue 28: ng.seed belongs to the thread


def _build_in_steps(barrier, layers=4):
    """Dense layers built one by one, every thread waiting for the others between them, so the
    draws of two threads interleave."""
    built = []
    for _ in range(layers):
        barrier.wait()
        built.append(ng.Dense(5, 5))
    return ng.Sequential(*built).state_dict()


def test_each_threads_seeded_build_equals_the_same_build_done_alone():
    import threading

    alone = {}
    for s in (1, 2):
        ng.seed(s)
        alone[s] = ng.Sequential(*[ng.Dense(5, 5) for _ in range(4)]).state_dict()
    barrier, results = threading.Barrier(2), {}

    def work(s):
        ng.seed(s)
        barrier.wait()  # both have seeded before either draws
        results[s] = _build_in_steps(barrier)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in (1, 2):
        for name, value in alone[s].items():
            np.testing.assert_array_equal(results[s][name], value, err_msg=f"seed {s}, {name}")


def test_a_thread_that_never_seeded_draws_from_the_process_wide_generator():
    import threading

    ng.seed(7)
    expected = ng.Dense(3, 3).weight.data.copy()
    ng.seed(7)
    found = {}
    thread = threading.Thread(target=lambda: found.update(w=ng.Dense(3, 3).weight.data.copy()))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(found["w"], expected)
    assert not np.array_equal(ng.Dense(3, 3).weight.data, expected)  # the thread drew from it


def test_an_older_checkpoint_without_stored_kinds_is_checked_from_its_description(tmp_path):
    import json

    from nanograd_ad.checkpoint import CheckpointMismatchError

    path = ng.save_checkpoint(tmp_path / "old.npz", _three_layer_net())
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["__meta__"]))
    del meta["architecture"]["layers"]
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.raises(CheckpointMismatchError, match=r"layer 1 is ReLU in the checkpoint but Sigmoid here"):
        ng.load_checkpoint(path, ng.Sequential(ng.Dense(3, 4), ng.Sigmoid(), ng.Dense(4, 2)))
    ng.load_checkpoint(path, _three_layer_net())


# ------------------------------------------- issue 28, round 2: activations and derivatives

WINGS = pytest.mark.parametrize("wing", [ng, ng.fast], ids=["reference", "fast"])
ACTIVATION_NAMES = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ISigmoid", "Identity"]


@pytest.fixture
def registry(monkeypatch):
    """A copy of the derivative registry for this test: what it registers is gone afterwards."""
    from nanograd_ad import derivatives

    monkeypatch.setattr(derivatives, "_REGISTRY", dict(derivatives._REGISTRY))


@WINGS
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_activations_refuse_integer_and_boolean_input_like_dense(wing, name, dtype):
    act = getattr(wing, name)()
    with pytest.raises(
        TypeError, match=rf"^{name}\(.*\) expects a floating-point input, got dtype {np.dtype(dtype)}$"
    ):
        act.forward(np.ones((2, 3), dtype))
    assert act.z is None  # nothing cached
    z = np.linspace(-1, 1, 6).reshape(2, 3)
    a = act.forward(z)
    act.backward(np.ones((2, 3)))
    d = act.derivative_value.copy()
    with pytest.raises(TypeError, match=r"expects a floating-point input"):
        act.forward(np.ones((2, 3), dtype))
    assert act.z is z  # the last step's cache is untouched
    np.testing.assert_array_equal(act.a, a)
    np.testing.assert_array_equal(act.derivative_value, d)


@WINGS
@pytest.mark.parametrize(
    "derivative, received",
    [(lambda z, a: (1 - a * a) + 0j, "dtype complex64"), (lambda z, a: 1j, "complex")],
)
def test_a_derivative_returning_complex_values_is_refused(wing, derivative, received):
    act = wing.Tanh(derivative=derivative)
    act.forward(np.zeros(2, np.float32))
    with pytest.raises(
        TypeError,
        match=rf"Tanh\(derivative='<lambda>'\): derivative '<lambda>' returned {received}, expected "
        r"an array of shape \(2,\) \(the shape of z\) or a scalar, with real values",
    ):
        act.backward(np.ones(2, np.float32))


@WINGS
@pytest.mark.parametrize(
    "derivative, shown",
    [
        (lambda z: 1 - z, r"<lambda>\(z\)"),
        (lambda: 1.0, r"<lambda>\(\)"),
        (lambda z, a, b: z, r"<lambda>\(z, a, b\)"),
    ],
)
def test_a_derivative_that_cannot_be_called_as_d_z_a_is_refused_at_construction(wing, derivative, shown):
    accepted = r"a registered name \['true'\] or a callable d\(z, a\) of two arguments"
    with pytest.raises(TypeError, match=rf"^Tanh: derivative must be {accepted}.*, got {shown}"):
        wing.Tanh(derivative=derivative)
    act = wing.Tanh()
    with pytest.raises(TypeError, match=rf"Tanh: derivative must be {accepted}"):
        act.set_derivative(derivative)
    assert act.derivative_name == "true"  # the old derivative is kept
    act.forward(np.zeros(2))
    np.testing.assert_array_equal(act.backward(np.full(2, 3.0)), [3.0, 3.0])


@pytest.mark.parametrize(
    "derivative",
    [
        lambda z, a, k=3.5: z,
        lambda *args: args[0],
        np.multiply,
        __import__("functools").partial(lambda z, a, k: k * a, k=2.0),
    ],
    ids=["default", "varargs", "ufunc", "partial"],
)
def test_callables_that_take_z_and_a_are_still_accepted(derivative):
    act = ng.Tanh(derivative=derivative)
    act.forward(np.zeros(2))
    assert act.backward(np.ones(2)).shape == (2,)


@pytest.mark.parametrize("activation", ["swish", "", "rel u"])
def test_register_derivative_refuses_an_unknown_activation(registry, activation):
    with pytest.raises(
        ValueError,
        match=rf"^register_derivative: unknown activation {activation!r}; known: \[.*'relu', 'sigmoid', "
        r"'tanh'\].*a new activation registers its 'true' derivative first",
    ):
        ng.register_derivative(activation, "mine", lambda: lambda z, a: z)
    assert ng.derivative_names(activation) == []


def test_register_derivative_refuses_an_empty_name(registry):
    with pytest.raises(ValueError, match=r"register_derivative: name must be a non-empty str, got ''"):
        ng.register_derivative("relu", "", lambda: lambda z, a: z)


def test_a_new_activation_registers_its_true_derivative_first_and_names_stay_case_insensitive(registry):
    ng.register_derivative("Swish", "true", lambda: lambda z, a: a + activations.sigmoid(z) * (1 - a))
    ng.register_derivative("SWISH", "ad", lambda: lambda z, a: 1.0)
    assert ng.derivative_names("swish") == ["true", "ad"]
    ng.register_derivative("ReLU", "r2_half", lambda: lambda z, a: 0.5 * (z >= 0))
    act = ng.ReLU(derivative="r2_half")
    act.forward(np.array([-1.0, 1.0]))
    np.testing.assert_array_equal(act.backward(np.ones(2)), [0.0, 0.5])


@pytest.mark.parametrize(
    "factory, shown",
    [
        (lambda k: lambda z, a: z, r"<lambda>\(k\) needs k"),
        (lambda z, a: z, r"<lambda>\(z, a\) needs z, a"),
    ],
)
def test_a_factory_needing_arguments_is_refused_at_registration(registry, factory, shown):
    with pytest.raises(
        TypeError,
        match=rf"^register_derivative: factory {shown}; a factory is called as factory\(\*\*params\) -> "
        r"d\(z, a\), each parameter with a default \(e.g. lambda k=1.0: lambda z, a: \.\.\.\)",
    ):
        ng.register_derivative("relu", "needs", factory)
    assert "needs" not in ng.derivative_names("relu")


@WINGS
@pytest.mark.parametrize(
    "factory, made",
    [(lambda: 3, "int 3"), (lambda: None, "NoneType None"), (lambda: lambda z: z, r"<lambda>\(z\)")],
)
def test_a_factory_whose_product_is_not_a_derivative_is_refused_at_construction(
    registry, wing, factory, made
):
    ng.register_derivative("relu", "r2_bad", factory)
    with pytest.raises(
        TypeError,
        match=rf"^ReLU: derivative 'r2_bad': its factory <lambda>\(\) made {made}, expected a callable "
        r"d\(z, a\) of two arguments",
    ):
        wing.ReLU(derivative="r2_bad")
    act = wing.ReLU()
    with pytest.raises(TypeError, match=r"derivative 'r2_bad': its factory"):
        act.set_derivative("r2_bad")
    assert act.derivative_name == "true"


# ------------------------------------------- issue 28, round 2: ensembles and empty batches


@WINGS
@pytest.mark.parametrize("shape", [(4, 2, 3), (1, 2, 3), (6, 2, 3), (5, 5, 2, 3), (3,)])
def test_an_ensemble_dense_refuses_x_whose_model_axis_is_not_models(wing, shape):
    layer = wing.Dense(3, 4, models=5)
    with pytest.raises(
        ValueError,
        match=rf"^Dense\(3, 4, models=5\) expects input of shape \(N, 3\) shared by the models or "
        rf"\(5, N, 3\) \(models=5\), got {re.escape(str(shape))}$",
    ):
        layer.forward(np.zeros(shape))
    assert layer.x is None
    with pytest.raises(TypeError, match=r"^Dense\(3, 4, models=5\) expects an array .*got list"):
        layer.forward(np.zeros(shape).tolist())


@WINGS
def test_an_ensemble_dense_takes_shared_and_per_model_batches(wing):
    layer = wing.Dense(3, 4, models=5)
    assert layer.forward(np.zeros((2, 3))).shape == (5, 2, 4)
    assert layer.forward(np.zeros((5, 2, 3))).shape == (5, 2, 4)


@pytest.mark.parametrize("pool", ["MaxPool2D", "AvgPool2D"])
def test_pooling_an_empty_batch_gives_an_empty_batch_on_both_wings(pool):
    """Pooling is per sample: no samples in, no samples out, forward and backward, both wings alike."""
    from threadpoolctl import threadpool_limits

    x = np.zeros((0, 3, 4, 4), np.float32)
    for threads in (1, 2):  # the fast wing splits the batch over threads
        with threadpool_limits(threads):
            results = []
            for wing in (ng, ng.fast):
                layer = getattr(wing, pool)(2)
                y = layer.forward(x)
                dx = layer.backward(np.zeros((0, 3, 2, 2), np.float32))
                results.append((y.shape, y.dtype, dx.shape, dx.dtype))
            assert results[0] == results[1] == ((0, 3, 2, 2), np.float32, (0, 3, 4, 4), np.float32)


# ------------------------------------------- issue 28, round 2: items 1 and 10 on the fast wing


@WINGS
def test_one_layer_object_used_twice_is_refused_on_both_wings(wing):
    dense, act, conv = wing.Dense(3, 3), wing.Tanh(), wing.Conv2D(1, 1, 3, padding=1)
    with pytest.raises(
        ValueError, match=r"layer 2 is layer 0 again \(the same Dense\(3, 3\) object\).*new layer"
    ):
        ng.Sequential(dense, wing.Tanh(), dense)
    with pytest.raises(ValueError, match=r"layer 3 is layer 1 again \(the same Tanh\(\) object\)"):
        ng.Sequential(wing.Dense(3, 3), act, wing.Dense(3, 3), act)
    with pytest.raises(
        ValueError, match=r"layer 1\.branch\.0 is layer 0 again \(the same Conv2D\(1, 1, 3, padding=1\)"
    ):
        ng.Sequential(conv, ng.Residual(ng.Sequential(conv, wing.ReLU())))
    pool = wing.MaxPool2D(2)
    with pytest.raises(ValueError, match=r"layer 3 is layer 1 again \(the same MaxPool2D\(2\) object\)"):
        ng.Sequential(wing.Conv2D(1, 1, 3, padding=1), pool, wing.Conv2D(1, 1, 3, padding=1), pool)


def _small_cnn(wing, seed):
    ng.seed(seed)
    return ng.Sequential(
        wing.Conv2D(1, 2, 3), wing.ReLU(), wing.MaxPool2D(2), wing.Flatten(), wing.Dense(18, 3), wing.Tanh()
    )


@pytest.mark.parametrize(
    "source, target", [(ng.fast, ng), (ng, ng.fast)], ids=["fast-to-reference", "reference-to-fast"]
)
def test_a_checkpoint_moves_between_the_wings(tmp_path, source, target):
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    saved, net = _small_cnn(source, 1), _small_cnn(target, 2)
    optimizer = ng.Adam(saved.parameters(), lr=0.01)
    saved.zero_grad()
    saved.forward(x)
    saved.backward(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32))
    optimizer.step()
    path = ng.save_checkpoint(tmp_path / "c.npz", saved, optimizer)
    loaded_optimizer = ng.Adam(net.parameters(), lr=0.5)
    ng.load_checkpoint(path, net, loaded_optimizer)
    for name, array in saved.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[name], array, strict=True)
    assert loaded_optimizer.lr == 0.01
    np.testing.assert_allclose(net.forward(x), saved.forward(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "source, target", [(ng.fast, ng), (ng, ng.fast)], ids=["fast-to-reference", "reference-to-fast"]
)
def test_a_checkpoint_of_another_activation_is_refused_across_the_wings(tmp_path, source, target):
    from nanograd_ad.checkpoint import CheckpointMismatchError

    path = ng.save_checkpoint(tmp_path / "c.npz", _small_cnn(source, 1))
    other = ng.Sequential(
        target.Conv2D(1, 2, 3),
        target.Sigmoid(),
        target.MaxPool2D(2),
        target.Flatten(),
        target.Dense(18, 3),
        target.Tanh(),
    )
    before = other.state_dict()
    with pytest.raises(CheckpointMismatchError, match=r"layer 1 is ReLU in the checkpoint but Sigmoid here"):
        ng.load_checkpoint(path, other)
    for name, array in before.items():
        np.testing.assert_array_equal(other.state_dict()[name], array)


# ------------------------------------------------------- the command line (issue 28, items 13, 17)


def test_the_missing_matplotlib_note_is_printed_once_per_run(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    argv = ["reproduce", "pn-depth", "--depths", "2", "--width", "4", "--epochs", "1"]
    argv += ["--lrs", "0.01", "0.05", "--variants", "plain", "--no-progress"]
    for run in range(2):  # three figures a run (init, two rates): one note each run
        code, out, _ = _main([*argv, "--out", str(tmp_path / f"o{run}")], capsys)
        assert code == 0 and out.count("matplotlib is not installed") == 1
        assert not list((tmp_path / f"o{run}").glob("*.png"))


@pytest.mark.parametrize(
    "argv, named, says",
    [
        (["digits-ad", "--runs", "100000000"], "--runs", "must be <= 10000"),
        (["digits-ad", "--out", ""], "--out", "expected a folder, got ''"),
        (["digits-ad", "--data-dir", ""], "--data-dir", "expected a folder, got ''"),
        (["digits-ad", "--out", "/proc/x"], "--out /proc/x", "cannot write in /proc"),
        (["digits-ad", "--variants", "relu", "relu"], "--variants", "relu given more than once"),
        (["pn-depth", "--depths", "1", "4"], "--depths 1", "at least --start = 2 hidden layers"),
        (["pn-depth", "--depths", "3", "--start", "4"], "--depths 3", "at least --start = 4 hidden layers"),
        (["pn-depth", "--lrs", "0.1", "0.1"], "--lrs", "0.1 given more than once"),
        (["digits-ad", "--switch-a", "0.5"], "--switch-a 0.5", "A < 1 switches after every epoch"),
        (["ad-relu", "--switch-a", "0.99"], "--switch-a 0.99", "give A >= 1"),
        (["digits-ad", "--worker-threads", "4"], "--worker-threads 4", "give --workers N or --scheduler"),
    ],
)
def test_command_line_refusals_exit_2_with_one_line_naming_the_option(tmp_path, capsys, argv, named, says):
    out = [] if "--out" in argv else ["--out", str(tmp_path / "o")]
    argv = ["reproduce", argv[0], "--quick", *argv[1:], *out]
    code, out, err = _main(argv, capsys)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert named in last and says in last and "Traceback" not in err
    assert out == ""  # refused before anything was loaded or trained
    assert not (tmp_path / "o").exists()


def test_depths_at_the_minimum_and_plain_only_shallow_depths_are_accepted(tmp_path, capsys):
    argv = ["reproduce", "pn-depth", "--depths", "1", "--variants", "plain", "--width", "4", "--epochs", "1"]
    assert _main([*argv, "--no-progress", "--out", str(tmp_path / "o")], capsys)[0] == 0  # no PN layer needed
    argv = ["reproduce", "pn-depth", "--depths", "2", "--variants", "pn", "--width", "4", "--epochs", "1"]
    assert _main([*argv, "--no-progress", "--out", str(tmp_path / "p")], capsys)[0] == 0  # L-2 = layer 1


def test_runs_beyond_the_bound_are_refused_by_the_config_too():
    from nanograd_ad.argtypes import MAX_RUNS
    from nanograd_ad.experiments.common import ExperimentConfig

    assert ExperimentConfig(runs=MAX_RUNS).runs == MAX_RUNS
    with pytest.raises(ValueError, match=r"runs must be in 1 … 10000, got 10001"):
        ExperimentConfig(runs=MAX_RUNS + 1)


@pytest.mark.parametrize("option", ["--student", "--solutions"])
@pytest.mark.parametrize("below", [False, True])
def test_lessons_into_a_file_names_the_option_not_errno_17(tmp_path, capsys, option, below):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "sub" if below else tmp_path / "afile"
    code, _, err = _main(["lessons", option, str(target)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{option} {target}" in err and "afile is a file, not a folder" in err and "Errno" not in err


def test_a_blown_up_run_is_reported_as_diverged(tmp_path, capsys):
    argv = ["reproduce", "digits-ad", "--quick", "--lr", "1e6", "--epochs", "1", "--variants", "relu"]
    code, out, _ = _main([*argv, "--runs", "1", "--no-progress", "--out", str(tmp_path / "o")], capsys)
    assert code == 0  # the results are written; the notice says what happened
    assert "DIVERGED: 1 of 1 run (lower the learning rate):" in out
    assert "seed=0,variant=relu: training loss" in out and "> 10 × ln 10 = 23" in out


def test_a_run_that_trains_is_not_reported_as_diverged():
    from nanograd_ad.experiments.runner import diverged

    assert diverged({"history": {"train_loss": [2.3, 0.4]}}, 10) is None
    assert diverged({"history": {"train_loss": [2.3, 24.0]}}, 10).startswith("training loss 24")
    assert diverged({"history": {"train_loss": [2.3, float("nan")]}}, 10) is not None
    assert diverged({"diverged": True}, None) == "a non-finite loss stopped it"
    assert diverged({"final_train_loss": 1e9}, None) is None  # a regression: no chance level to compare
