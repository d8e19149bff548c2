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


# ------------------------------------------- the schedule and L2 readings (issue 29, items 1, 4, 5)


def _cosine(u: float, w: float, lo: float, hi: float) -> float:
    """The cosine of one period at position u ∈ [0, 1), warm-up fraction w (by hand)."""
    if w and u < w:
        return lo + (hi - lo) * 0.5 * (1 - np.cos(np.pi * u / w))
    return lo + (hi - lo) * 0.5 * (1 + np.cos(np.pi * (u - w) / (1 - w)))


@pytest.mark.parametrize("period, warmup", [(1.0, 0.0), (0.5, 0.0), (1.4, 0.5)])
def test_the_per_step_cosine_follows_the_formula_at_every_step(period, warmup):
    steps = 27  # 1347 digits / batch 50
    schedule = pn.step_cosine_schedule(90, 0.1, period, warmup, steps)
    assert schedule.resolution == "step" and pn.final_epochs(90) == 20
    for t in range(70 * steps):  # 70 cosine epochs, then the paper's last 20 at 1e-4
        u = (t % (period * steps)) / (period * steps)
        assert schedule.lr_at(t) == pytest.approx(_cosine(u, warmup, 1e-4, 0.1), rel=1e-12, abs=1e-15)
    assert all(schedule.lr_at(t) == 1e-4 for t in range(70 * steps, 90 * steps))
    assert 70 / period >= 50  # "after 50 periods" fits in the 70 cosine epochs


def test_make_schedule_picks_the_reading_and_model_3s_warm_up():
    base = {"epochs": 90, "lr_max": 0.1, "cosine_period": 1, "model": 1}
    step = pn.make_schedule({**base, "lr_schedule": "step"}, 27)
    epoch = pn.make_schedule({**base, "lr_schedule": "epoch"}, 27)
    assert type(step).__name__ == "StepCosineRestarts" and step.period == 27
    assert type(epoch).__name__ == "CosineRestarts" and epoch.lr_at(5) == 0.1  # per epoch: a constant
    warm = pn.make_schedule({**base, "lr_schedule": "step", "model": 3}, 27)
    assert warm.warmup_fraction == 0.5 and warm.lr_at(0) == 1e-4 and warm.lr_at(13) > warm.lr_at(1)


def test_the_per_epoch_option_gives_the_earlier_quick_numbers(tmp_path, capsys):
    """`pn-cnn --quick --lr-schedule epoch` equals the quick run of main before the per-step
    default (46371c7): these numbers are that run's results.json."""
    out = tmp_path / "cnn"
    argv = ["reproduce", "pn-cnn", "--quick", "--lr-schedule", "epoch", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert "lr: cosine set once per epoch (--lr-schedule epoch" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    runs = {r["variant"]: r for r in results["runs"]}
    assert runs["plain"]["final_test_acc"] == 393 / 450 and runs["pn2"]["final_test_acc"] == 401 / 450
    assert runs["plain"]["grad1_init"] == pytest.approx(0.002252709527965635, rel=1e-12)
    assert runs["pn2"]["grad1_init"] == pytest.approx(0.0030610442627221346, rel=1e-12)
    assert runs["pn2"]["history"]["lr"] == [0.1, 0.1, 0.1, 0.0001]
    assert runs["pn2"]["schedule"].startswith("CosineRestarts(lr_max=0.1, lr_min=0.0001, period=1,")
    noise = results["summary"]["pn2"]["noise"]
    assert noise["gaussian"]["0.2"] == pytest.approx(0.8673333333333334, abs=1e-12)
    assert noise["uniform"]["0.5"] == pytest.approx(0.8526666666666667, abs=1e-12)
    assert results["config"]["extra"]["lr_schedule"] == "epoch"


def test_pn_cnn_header_names_the_schedule_and_every_reading(tmp_path, capsys):
    out = tmp_path / "cnn"
    argv = ["reproduce", "pn-cnn", "--quick", "--epochs", "3", "--width", "2", "--variants", "pn2"]
    argv += ["--cosine-period", "0.5", "--noise-levels", "0.3", "--noise-draws", "1"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "lr: cosine stepped per iteration (--lr-schedule step, the paper's reading)" in printed
    assert "period 0.5 epochs (a reading, --cosine-period" in printed and "<= 1.4 epochs" in printed
    assert "the last 1 of 3 epochs at 1e-4 (the paper: 20 of 90)" in printed
    assert "lr peak 0.1 (a reading" in printed and "chosen on the TEST split" in printed
    assert "widths (a reading: the paper's layer tables are lost): w = 2; convs 2 2 4 4 8 8 8 8" in printed
    assert "L2 0.003 as after_clip (a reading, --l2" in printed
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert run["schedule"].startswith("StepCosineRestarts(") and "period_steps=13.5" in run["schedule"]
    assert 1e-4 < run["history"]["lr"][0] < 0.1 and run["history"]["lr"][-1] == 1e-4


def test_pn_help_marks_the_readings(capsys):
    from nanograd_ad.cli import build_parser

    helps = {}
    for name in ("pn-cnn", "pn-depth"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["reproduce", name, "-h"])
        helps[name] = " ".join(capsys.readouterr().out.split())
        assert "--l2 {after_clip,loss}" in helps[name] and "where L2 enters, a reading" in helps[name]
    assert "--lr-schedule {step,epoch}" in helps["pn-cnn"] and "bounds it to <= 1.4 epochs" in helps["pn-cnn"]
    assert "judged on the TEST split" in helps["pn-cnn"]


@pytest.mark.parametrize(
    "argv, says",
    [
        (["pn-cnn", "--lr-schedule", "epoch", "--cosine-period", "0.5"], "--cosine-period 0.5: --lr-sch"),
        (["pn-cnn", "--weight-decay", "0", "--l2", "loss"], "--l2 loss: there is no L2 to place"),
        (["pn-depth", "--l2", "loss"], "--l2 loss: there is no L2 to place with --weight-decay 0"),
        (["pn-cnn", "--weight-decay", "-1"], "argument --weight-decay: must be a finite number >= 0"),
    ],
)
def test_pn_reading_options_are_refused_when_they_cannot_apply(tmp_path, capsys, argv, says):
    assert main(["reproduce", *argv, "--quick", "--out", str(tmp_path / "o")]) == 2
    assert says in capsys.readouterr().err


def test_the_l2_reading_changes_training_as_it_says(tmp_path, capsys):
    runs = {}
    for l2 in ("after_clip", "loss"):
        argv = ["reproduce", "pn-depth", "--depths", "3", "--width", "8", "--epochs", "1"]
        argv += ["--variants", "plain", "--weight-decay", "0.05", "--l2", l2]
        argv += ["--out", str(tmp_path / l2), "--no-progress"]
        assert main(argv) == 0
        assert f"L2 0.05 as {l2} (a reading, --l2" in capsys.readouterr().out
        results = json.loads((tmp_path / l2 / "results.json").read_text())
        assert results["config"]["extra"]["l2"] == l2
        runs[l2] = results["runs"][0]
    assert runs["after_clip"]["grad1_init"] == runs["loss"]["grad1_init"]  # same network at init
    assert runs["after_clip"]["history"]["train_loss"] != runs["loss"]["history"]["train_loss"]
