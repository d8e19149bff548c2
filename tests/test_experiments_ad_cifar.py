"""ad-cifar: the arms' networks and recipes, and a tiny run on a CIFAR-100-format fixture."""

import json

import numpy as np
import pytest
from conftest import write_fake_cifar100

import nanograd_ad as ng
from nanograd_ad.cli import main
from nanograd_ad.experiments import ad_cifar, get
from nanograd_ad.experiments.common import ExperimentConfig, seeded


def test_arms_pair_the_same_network_with_only_the_derivative_changed():
    assert get("ad-cifar").run == ad_cifar.run  # the declaration's bound run
    for first, second in ad_cifar.PAIRS.values():
        seeded(0)
        a = ad_cifar.build(first, 100, (3, 32, 32))
        seeded(0)
        b = ad_cifar.build(second, 100, (3, 32, 32))
        for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
            np.testing.assert_array_equal(p.data, q.data, err_msg=name)
        acts = [layer for layer in b.layers if isinstance(layer, ng.Activation)]
        assert all(act.derivative_name == "ad" for act in acts)
    assert ad_cifar.build("alexnet-relu", 100, (3, 32, 32)).num_parameters() == 2_495_396
    assert ad_cifar.build("extended-ad-relu", 100, (3, 32, 32)).num_parameters() == 7_488_292
    assert (
        ad_cifar.RECIPES["relu"]["optimizer"] == "sgd" and ad_cifar.RECIPES["sigmoid"]["optimizer"] == "adam"
    )


def test_digits_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--data must be cifar100"):
        ad_cifar.load_data(ExperimentConfig(data="digits"))


def test_tiny_run_on_a_cifar100_fixture_writes_results_and_a_plot(tmp_path, capsys):
    write_fake_cifar100(tmp_path / "data" / "cifar-100-python", train=30, test=10)
    out = tmp_path / "out"
    data = ["--data", "cifar100", "--data-dir", str(tmp_path / "data")]
    options = [
        "--epochs",
        "1",
        "--batch-size",
        "15",
        "--augment",
        "--arms",
        "alexnet-relu",
        "alexnet-ad-relu",
    ]
    code = main(["reproduce", "ad-cifar", "--quick", *data, "--out", str(out), "--no-progress", *options])
    assert code == 0
    printed = capsys.readouterr().out
    assert "quick run" in printed and "the paper: 5 trainings × 300 epochs" in printed
    assert "augmentation: crops of 4-px-padded images" in printed and "Fig. 9" in printed
    results = json.loads((out / "results.json").read_text())
    assert [r["arm"] for r in results["runs"]] == ["alexnet-relu", "alexnet-ad-relu"]
    assert all(len(r["history"]["test_acc"]) == 1 for r in results["runs"])
    assert results["summary"]["alexnet-relu"]["parameters"] == 2_495_396
    assert (out / "ad_cifar_accuracy.png").stat().st_size > 0


def _slopes(net) -> set:
    return {layer.params.get("k") for layer in net.layers if isinstance(layer, ng.ReLU)}


def test_the_ad_relu_arms_use_k_3_5_by_default_and_follow_k():
    """The paper's experiments use sigmoid(3.5·z) (eq. 8 writes k = 1): the arms pass k through."""
    assert _slopes(ad_cifar.build("alexnet-ad-relu", 100, (3, 32, 32))) == {3.5}
    assert _slopes(ad_cifar.build("extended-ad-relu", 100, (3, 32, 32), k=2.0)) == {2.0}
    net = ad_cifar.build("alexnet-ad-relu", 100, (3, 32, 32), k=2.0)
    relu = next(layer for layer in net.layers if isinstance(layer, ng.ReLU))
    z = np.array([[-1.0, 0.5, 2.0]], dtype=np.float32)
    relu(z)
    np.testing.assert_allclose(relu.d(relu.z, relu.a), 1 / (1 + np.exp(-2.0 * z)), rtol=1e-6)
    assert _slopes(ad_cifar.build("alexnet-relu", 100, (3, 32, 32), k=2.0)) == {None}  # true derivative


def test_the_header_and_results_say_which_k_ran(tmp_path, capsys):
    write_fake_cifar100(tmp_path / "data" / "cifar-100-python", train=20, test=10)
    argv = ["reproduce", "ad-cifar", "--quick", "--data-dir", str(tmp_path / "data"), "--epochs", "1"]
    argv += ["--arms", "alexnet-ad-relu", "--k", "2", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "AD ReLU: d = sigmoid(k·z) with k = 2 (--k; the paper's experiments: 3.5" in printed
    assert json.loads((tmp_path / "o" / "results.json").read_text())["config"]["extra"]["k"] == 2.0
    with pytest.raises(SystemExit):
        from nanograd_ad.cli import build_parser

        build_parser().parse_args(["reproduce", "ad-cifar", "-h"])
    assert "default 3.5, the paper's experimental slope" in " ".join(capsys.readouterr().out.split())
