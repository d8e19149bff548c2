"""pn-depth and pn-cnn: the networks, the recipe pieces, and tiny end-to-end runs."""

import json

import numpy as np
import pytest
from conftest import write_fake_cifar10, write_fake_cifar100

import nanograd_ad as ng
from nanograd_ad.cli import main
from nanograd_ad.experiments import get, pn
from nanograd_ad.experiments.common import ExperimentConfig
from nanograd_ad.pseudo_normalization import PseudoNormalize


def test_both_experiments_are_registered():
    assert get("pn-depth").run == pn.run_depth and get("pn-cnn").run == pn.run_cnn


def test_deep_mlp_and_pn_model1_shapes_and_init():
    net = pn.deep_mlp(20, 32, 64, 10)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds.count("Dense") == 21 and kinds.count("Tanh") == 20
    assert all(np.all(p.data == 0) for name, p in net.named_parameters() if name.endswith("bias"))
    w = net.layers[2].weight.data
    assert abs(float(w.std()) - 1 / np.sqrt(32)) < 0.02  # LeCun normal: std 1/sqrt(fan_in)

    for shape, width, flat in [((1, 8, 8), 16, 256), ((3, 32, 32), 32, 2048)]:
        cnn = ng.models.pn_model1(10, input_shape=shape, width=width)
        kinds = [type(layer).__name__ for layer in cnn.layers]
        assert kinds.count("Conv2D") == 8 and kinds.count("Dense") == 2 and kinds.count("Tanh") == 9
        dense = [layer for layer in cnn.layers if isinstance(layer, ng.Dense)]
        assert dense[0].in_features == flat and cnn.shapes[-1] == (10,)
    rule = PseudoNormalize(two_path=True)
    cnn.add_feedback(rule)  # every PN layer sits on a Conv2D/Dense
    assert len(rule.hidden_layers) == 9 and len(rule.pn_layers) == 4  # L−2, L−4, L−6, L−8 (L = 10)
    assert rule.pn_layers == [rule.hidden_layers[i] for i in (1, 3, 5, 7)]  # hidden layers 2, 4, 6, 8


def test_cosine_schedule_follows_the_recipe():
    schedule = pn.cosine_schedule(90, 0.05, 10, 0.0)
    assert schedule.final_start == 70 and schedule.lr_at(70) == schedule.lr_at(89) == 1e-4
    assert schedule.lr_at(0) == schedule.lr_at(10) == 0.05 and schedule.lr_at(5) < 0.05
    warm = pn.cosine_schedule(30, 0.05, None, 0.5)  # CIFAR-100: rising first half
    assert warm.lr_at(0) < warm.lr_at(warm.period // 2)


def test_noise_table_has_ten_draws_per_kind_and_level():
    data = pn.load_data(ExperimentConfig(), flat=True)
    net = pn.deep_mlp(2, 8, 64, 10)
    table = pn.noise_table(net, data, [0.1, 0.5], draws=3, seed=0)
    assert set(table) == {"gaussian", "uniform"}
    for kind in table:
        assert list(table[kind]) == [0.1, 0.5] and all(len(v) == 3 for v in table[kind].values())
        assert len(set(table[kind][0.5])) > 1  # different draws


def test_pn_depth_tiny_run_writes_results_and_plots(tmp_path, capsys):
    out = tmp_path / "depth"
    assert (
        main(
            [
                "reproduce",
                "pn-depth",
                "--epochs",
                "1",
                "--depths",
                "3",
                "6",
                "--width",
                "8",
                "--lrs",
                "0.01",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "∇W¹ init" in printed and "pn2 = two-path PN" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "pn-depth" and results["paper"] is None
    runs = results["runs"]
    assert {(r["depth"], r["variant"]) for r in runs} == {
        (d, v) for d in (3, 6) for v in ("plain", "pn", "pn2")
    }
    for r in runs:
        assert r["grad1_init"] > 0 and 0 <= r["final_test_acc"] <= 1
        assert len(r["delta_init"]["depths"]) == r["depth"] + 1
    by = {(r["depth"], r["variant"]): r for r in runs}
    assert by[(6, "pn")]["grad1_init"] > by[(6, "plain")]["grad1_init"]  # PN lifts the first layer
    # depth 6 (L = 7): PN at L−2, L−4, L−6 = 5, 3, 1 — layer 1 is a PN layer, so single path (its own
    # gradient sees norm(d^1)) lifts it more than two paths (the local error e^1 does not)
    assert by[(6, "plain")]["grad1_init"] < by[(6, "pn2")]["grad1_init"] < by[(6, "pn")]["grad1_init"]
    assert results["summary"]["depth 6, lr 0.01, pn"]["grad1_init_ratio"] > 1
    for name in ("pn_depth_delta_init.png", "pn_depth_delta_train_lr0.01.png"):
        assert (out / name).stat().st_size > 0


def test_pn_cnn_tiny_run_on_digits_writes_noise_table_and_plots(tmp_path, capsys):
    out = tmp_path / "cnn"
    assert (
        main(
            [
                "reproduce",
                "pn-cnn",
                "--quick",
                "--epochs",
                "1",
                "--width",
                "2",
                "--noise-levels",
                "0.3",
                "--noise-draws",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "noise test" in printed and "gaussian" in printed and "uniform" in printed
    assert "no paper number for model 1 on digits" in printed and "paper %" not in printed
    results = json.loads((out / "results.json").read_text())
    assert {(p["model"], p["data"], p["augment"], p["test_acc"]) for p in results["paper"]} == {
        (1, "cifar10", False, 80.5),
        (1, "cifar10", True, 82.61),
        (2, "cifar10", True, 84.19),
        (3, "cifar100", True, 61.23),
    }
    assert {r["variant"] for r in results["runs"]} == {"plain", "pn2"}
    for r in results["runs"]:
        assert len(r["noise"]["gaussian"]["0.3"]) == 2 and len(r["noise"]["uniform"]["0.3"]) == 2
        assert len(r["delta_init"]["depths"]) == 10  # 8 conv + 2 dense
    for name in ("pn_cnn_accuracy.png", "pn_cnn_delta.png", "pn_cnn_contribution.png"):
        assert (out / name).stat().st_size > 0


def test_pn_cnn_on_cifar10_prints_the_papers_number(tmp_path, capsys):
    write_fake_cifar10(tmp_path / "data" / "cifar-10-batches-py")
    out = tmp_path / "cnn"
    assert (
        main(
            [
                "reproduce",
                "pn-cnn",
                "--data",
                "cifar10",
                "--data-dir",
                str(tmp_path / "data"),
                "--epochs",
                "1",
                "--width",
                "2",
                "--variants",
                "pn2",
                "--noise-levels",
                "0.3",
                "--noise-draws",
                "1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "paper % (model 1, 90 epochs)" in printed and "80.50" in printed
    assert "the paper trained 90 epochs, ours 1: not the same protocol" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["runs"][0]["width"] == 2 and results["summary"]["paper_setting"] == "model 1, 90 epochs"


@pytest.mark.parametrize(
    "model, data, recipe, paper_acc, paper_epochs",
    [
        (2, "cifar10", "model 2, 90 epochs (reading), augmentation", "84.19", 90),
        (3, "cifar100", "model 3, 160 epochs, cosine warm-up, augmentation", "61.23", 160),
    ],
)
def test_pn_cnn_models_2_and_3_print_their_own_paper_numbers(
    tmp_path, capsys, model, data, recipe, paper_acc, paper_epochs
):
    if data == "cifar100":
        write_fake_cifar100(tmp_path / "data" / "cifar-100-python", train=20, test=10)
    else:
        write_fake_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=4, test=10)
    out = tmp_path / "cnn"
    argv = ["reproduce", "pn-cnn", "--quick", "--model", str(model), "--augment", "--data", data]
    argv += ["--data-dir", str(tmp_path / "data"), "--epochs", "1", "--width", "1", "--variants", "pn2"]
    argv += ["--noise-levels", "0.3", "--noise-draws", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"model {model}, 1 variant;" in printed and "augmentation: crops of 4-px-padded images" in printed
    assert f"paper % ({recipe})" in printed and paper_acc in printed
    assert f"the paper trained {paper_epochs} epochs, ours 1" in printed
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert run["model"] == model and len(run["delta_init"]["depths"]) == 10  # 10 weight layers
    assert ("warmup_fraction=0.5" in run["schedule"]) == (model == 3)


def test_pn_cnn_without_augmentation_prints_no_augmented_number(tmp_path, capsys):
    write_fake_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=4, test=10)
    argv = ["reproduce", "pn-cnn", "--quick", "--model", "2", "--data", "cifar10", "--epochs", "1"]
    argv += ["--data-dir", str(tmp_path / "data"), "--width", "1", "--variants", "pn2", "--noise-levels"]
    argv += ["0.3", "--noise-draws", "1", "--out", str(tmp_path / "cnn"), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "no paper number for model 2 on cifar10 without augmentation" in printed
    assert "84.19" not in printed.split("(no paper number")[0]
