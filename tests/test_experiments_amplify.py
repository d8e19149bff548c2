"""The amplify experiment: threshold sweep, phases, shared-prefix runs, the CLI end to end."""

import json

import numpy as np
import pytest

from nanograd_ad.amplify import weight_layers
from nanograd_ad.cli import main
from nanograd_ad.datasets import load
from nanograd_ad.experiments import amplify as experiment


def test_threshold_range_includes_both_ends():
    sweep = experiment.threshold_range(0.7, 2.5, 0.1)
    assert len(sweep) == 19 and sweep[0] == 0.7 and sweep[-1] == 2.5 and sweep[3] == 1.0
    assert experiment.threshold_range(1.0, 3.0, 0.25) == [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0]
    assert experiment.threshold_range(1.0, 1.0, 0.5) == [1.0]


@pytest.mark.parametrize(
    "args, message",
    [
        ((1.0, 2.0, 0.0), "step must be > 0"),
        ((2.0, 1.0, 0.1), "stop"),
        ((float("nan"), 1.0, 0.1), "finite number"),
    ],
)
def test_threshold_range_refuses_bad_sweeps(args, message):
    with pytest.raises(ValueError, match=message):
        experiment.threshold_range(*args)


def test_paper_phases_at_150_epochs_are_the_papers_params1():
    phases = experiment.paper_phases(150, 0.1)
    assert [(e, a, f) for e, _, a, f in phases] == [(50, 0, 1), (100, 1, 2), (130, 1, 2), (150, 0, 1)]
    assert [lr for _, lr, _, _ in phases] == pytest.approx([0.1, 0.1, 0.01, 0.01])
    assert [p[0] for p in experiment.paper_phases(24, 0.05)] == [8, 16, 21, 24]
    with pytest.raises(ValueError, match="at least 6 epochs"):
        experiment.paper_phases(5, 0.1)


def test_the_net_is_vgg_style_with_eight_weight_layers():
    net = experiment.build_net((1, 8, 8), 10)
    assert len(weight_layers(net)) == 8
    assert net.shapes[-1] == (10,)
    cifar = experiment.build_net((3, 32, 32), 100, widths=(4, 8, 16), hidden=16)
    assert len(weight_layers(cifar)) == 8 and cifar.shapes[-1] == (100,)


def small_digits(*args, **kw):
    """The first 200 training and 100 test digits: the same code path, a fifth of the time."""
    data = load("digits")
    return type(data)(
        data.x_train[:200],
        data.y_train[:200],
        data.x_test[:100],
        data.y_test[:100],
        data.description,
        data.num_classes,
        data.name,
    )


@pytest.fixture(scope="module")
def small_setup():
    data = small_digits()
    return experiment.Setup(
        data=data,
        phases=experiment.paper_phases(6, 0.05),
        widths=(2, 2, 4),
        hidden=8,
        momentum=0.9,
        batch_size=32,
        factor=2.0,
        ratio=0.5,
        scope="weights",
        reselect_every=None,
        progress=False,
    )


def test_a_measured_variant_without_a_threshold_is_refused(small_setup):
    with pytest.raises(ValueError, match="'G-case2' needs a threshold, got None"):
        experiment.train_variant(small_setup, 3, "G-case2", None, None)


def test_continuing_from_the_shared_prefix_equals_a_run_from_scratch(small_setup):
    prefix = experiment.train_prefix(small_setup, seed=3)
    # case 2 with threshold 0 amplifies every layer whose Ĝ is not exactly 0: amplification happens
    branched = experiment.train_variant(small_setup, 3, "G-case2", 0.0, prefix)
    again = experiment.train_variant(small_setup, 3, "G-case2", 0.0, prefix)  # the prefix is not consumed
    scratch = experiment.train_variant(small_setup, 3, "G-case2", 0.0, None)
    assert branched["selected"] and any(branched["selected"])
    for other in (again, scratch):
        assert other["selected"] == branched["selected"]
        for key in ("train_loss", "test_acc", "lr"):
            np.testing.assert_allclose(
                other["history"][key], branched["history"][key], rtol=1e-6, err_msg=key
            )
    original = experiment.train_variant(small_setup, 3, "original", None, prefix)
    assert (
        original["selected"] == [] and original["history"]["train_loss"] != branched["history"]["train_loss"]
    )


def test_step_overhead_reports_every_round_on_both_clocks(small_setup):
    result = experiment.step_overhead(small_setup, seed=0, steps=2, repeats=3)
    for clock in ("wall", "cpu"):
        for mode in experiment.STEP_MODES:
            assert len(result[f"{clock}_{mode}_s"]) == 3 and min(result[f"{clock}_{mode}_s"]) > 0


def test_overhead_summary_pairs_rounds_and_flags_spread_wider_than_the_effect():
    def rounds(plain, amplified):
        times = {f"{c}_{m}_s": list(plain) for c in ("wall", "cpu") for m in experiment.STEP_MODES}
        times["wall_amplify_all_s"] = list(amplified)
        return times

    # a clear 10 % cost in every round, the plain step itself drifting 1.0 → 2.0 ms
    clear = experiment.overhead_summary([rounds([1e-3, 1.5e-3, 2e-3], [1.1e-3, 1.65e-3, 2.2e-3])])
    entry = clear["wall_amplify_all"]
    assert entry["overhead_pct"] == pytest.approx(10) and not entry["noisy"]
    assert clear["wall_plain"]["median_ms"] == pytest.approx(1.5) and clear["rounds"] == 3
    assert clear["wall_plain"]["iqr_ms"] == pytest.approx([1.25, 1.75])
    # +1 % median, rounds from -9 % to +11 %: the spread exceeds the effect
    noisy = experiment.overhead_summary([rounds([1e-3] * 4, [0.91e-3, 1.0e-3, 1.02e-3, 1.11e-3])])
    assert (
        noisy["wall_amplify_all"]["overhead_pct"] == pytest.approx(1) and noisy["wall_amplify_all"]["noisy"]
    )
    assert noisy["cpu_statistics"]["overhead_pct"] == 0 and noisy["cpu_statistics"]["noisy"]  # no effect


def test_cli_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("nanograd_ad.datasets.load", small_digits)
    out = tmp_path / "amp"
    code = main(
        [
            "reproduce",
            "amplify",
            "--epochs",
            "6",
            "--runs",
            "1",
            "--thresholds",
            "0",
            "1",
            "1",
            "--widths",
            "2",
            "2",
            "4",
            "--hidden",
            "8",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "best run %" in printed and "paper %" in printed and "(paper column: VGG-19, CIFAR-10" in printed
    assert "91.08 mean" in printed and "93.35 best" in printed  # the paper's mean original, its best models
    assert "overhead %" in printed and "less than 2 %" in printed and "wall overhead" not in printed
    readings = "readings (the paper gives none): batch 32, SGD momentum 0.9, no weight decay, no augmentation"
    assert readings in printed
    assert "(ours: full mode, small VGG-style CNN (widths (2, 2, 4), hidden 8), 6 epochs," in printed
    assert "10 runs time Tables 1-2" in printed
    assert "VGG-19, 150 epochs, thresholds 0.7-2.5, 10 runs" not in printed  # the paper's timing runs
    tables = printed[printed.index("per-step cost") :].splitlines()  # its tables and notes
    assert [line for line in tables if len(line) > 100] == []
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "amplify"
    assert set(experiment.VARIANTS) <= set(results["summary"])
    # original (twice), random, and 4 measure variants × 2 thresholds
    assert len(results["runs"]) == 3 + 4 * 2
    for variant in experiment.MEASURE_VARIANTS:
        entry = results["summary"][variant]
        assert set(entry["per_threshold"]) == {"0.0", "1.0"} and entry["best_threshold"] in (0.0, 1.0)
    assert results["summary"]["original"]["wall_overhead_pct"] == 0.0
    for variant, entry in results["summary"].items():  # the best single run beside the mean over seeds
        if variant in experiment.VARIANTS:
            mine = [r for r in results["runs"] if r["variant"] == variant]
            assert entry["best_run_test_acc"] == max(r["best_test_acc"] for r in mine)
            assert entry["best_run_test_acc"] >= entry["best_test_acc_mean"]
    units = sorted(p.name for p in (out / "units").iterdir())
    assert "seed=0,threshold=1.0,variant=Gp-case1.json" in units  # G′ spelled Gp in a file name
    assert "repeat=True,seed=0,variant=original.json" in units
    run = next(r for r in results["runs"] if r["variant"] == "G-case1")
    events = [e["event"] for e in run["history"]["events"]]
    assert events.count("amplify_select") == 2 and events.count("amplify_phase") == 4
    assert (out / "amplify_thresholds.png").stat().st_size > 0
    assert (out / "amplify_measures.png").stat().st_size > 0


@pytest.mark.parametrize(
    "options, message",
    [
        (["--thresholds", "1", "0", "0.1"], "stop"),
        (["--ratio", "1.5"], r"ratio must be a number in \(0, 1\]"),
        (["--epochs", "4"], "at least 6 epochs"),
    ],
)
def test_cli_refuses_bad_options_before_training(tmp_path, capsys, options, message):
    code = main(["reproduce", "amplify", *options, "--out", str(tmp_path), "--no-progress"])
    assert code == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert not (tmp_path / "results.json").exists()


def test_cli_refuses_a_non_positive_factor(capsys):
    assert main(["reproduce", "amplify", "--factor", "0"]) == 2
    assert "positive" in capsys.readouterr().err


def settings_of(*options: str) -> dict:
    """The effective settings of ``amplify OPTIONS`` (nothing trained)."""
    from nanograd_ad.cli import build_parser
    from nanograd_ad.experiments.common import ExperimentConfig

    parsed = build_parser().parse_args(["reproduce", "amplify", *options])
    extra = {k: getattr(parsed, k) for k in experiment_option_names()}
    config = ExperimentConfig(quick=parsed.quick, epochs=parsed.epochs, runs=parsed.runs, extra=extra)
    return experiment.settings(config)


def experiment_option_names() -> list[str]:
    import argparse

    parser = argparse.ArgumentParser()
    experiment.add_arguments(parser)
    return [a.dest for a in parser._actions if a.dest != "help"]


def test_the_deep_models_get_params2_and_the_deep_thresholds_by_default():
    from nanograd_ad.amplify import PARAMS_DEEP, THRESHOLDS_DEEP, scale_phases

    for model in ("resnet50", "resnet101"):
        full = settings_of("--model", model)
        assert full["epochs"] == 150 and full["threshold_values"] == list(THRESHOLDS_DEEP)
        assert [tuple(p) for p in full["phases"]] == [tuple(p) for p in PARAMS_DEEP]
        quick = settings_of("--model", model, "--quick")
        assert [tuple(p) for p in quick["phases"]] == [tuple(p) for p in scale_phases(PARAMS_DEEP, 15)]
    shallow = settings_of("--model", "resnet18")
    assert shallow["threshold_values"] == experiment.threshold_range(0.7, 2.5, 0.3)
    assert [p[0] for p in shallow["phases"]] == [50, 100, 130, 150]
    assert settings_of("--model", "resnet50", "--thresholds", "1", "2", "1")["threshold_values"] == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"amplify: --model resnet50: scale_phases: 9 epochs are too few"):
        settings_of("--model", "resnet50", "--epochs", "9")


def test_the_papers_deep_model_rows_are_tables_1_to_4():
    rows = {key: (row["acc"], row["overhead"]) for key, row in experiment.PAPER_RESNETS.items()}
    acc, overhead = rows[("resnet50", "cifar10")]
    assert list(acc.values()) == [91.80, 92.68, 94.24, 94.43, 94.34, 94.02]
    assert list(overhead.values()) == [0.05, 0.31, 0.71, 1.01]
    acc, overhead = rows[("resnet101", "cifar100")]
    assert list(acc.values()) == [73.00, 73.72, 77.63, 77.51, 77.53, 77.63]
    assert list(overhead.values()) == [1.10, 1.07, 0.54, 1.00]
    assert experiment.paper_row("resnet101", "digits")["model"] == "ResNet-101, CIFAR-10"
    assert experiment.paper_row("small-vgg", "cifar100")["model"] == "VGG-19, CIFAR-100"


def test_the_readings_are_marked_in_the_help():
    import argparse

    parser = argparse.ArgumentParser()
    experiment.add_arguments(parser)
    helps = {a.dest: a.help for a in parser._actions}
    assert "the paper gives none" in helps["momentum"] and "the paper gives none" in helps["batch_size"]
    text = parser.format_help()
    assert "no weight decay" in text and "no augmentation" in text


def tiny_digits(*args, **kw):
    """64 training and 32 test digits: a ResNet-50 trains on them in seconds."""
    data = small_digits()
    return type(data)(data.x_train[:64], data.y_train[:64], data.x_test[:32], data.y_test[:32],
                      data.description, data.num_classes, data.name)  # fmt: skip


def test_resnet50_at_a_tiny_width_runs_through_the_experiment(tmp_path, capsys, monkeypatch):
    from nanograd_ad.amplify import PARAMS_DEEP, scale_phases

    monkeypatch.setattr("nanograd_ad.datasets.load", tiny_digits)
    timing = experiment.step_overhead  # the per-step timing: one round of one step here
    monkeypatch.setattr(experiment, "step_overhead", lambda *a, **k: timing(*a, steps=1, repeats=1))
    out = tmp_path / "deep"
    # 15 epochs: the fewest params₂ scales to (every phase needs an epoch)
    options = ["--model", "resnet50", "--base-width", "1", "--epochs", "15", "--runs", "1"]
    options += ["--variants", "G-case1"]
    code = main(["reproduce", "amplify", *options, "--thresholds", "1", "1", "1", "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "model ResNet-50 (base width 1); params₂ (deep models) scaled to 15 epochs" in printed
    assert "(end_epoch, lr, amplify, factor): [(1, 0.1, 0, 1.0), (10, 0.1, 1, 2.0)," in printed
    assert "(ours: full mode, ResNet-50 (base width 1), 15 epochs," in printed
    assert "the paper: ResNet-50, params₂, 150 epochs, thresholds 1.0-3.0 step 0.25" in printed
    assert "91.80 mean" in printed and "94.24 best" in printed  # its CIFAR-10 row, for scale
    results = json.loads((out / "results.json").read_text())
    assert [r["variant"] for r in results["runs"]] == ["original", "G-case1", "original"]
    assert results["config"]["extra"]["phases"] == [list(p) for p in scale_phases(PARAMS_DEEP, 15)]
    run = results["runs"][1]
    assert len(run["history"]["epoch"]) == 15 and len(run["selected"]) == 2  # two analyses: epochs 2, 11
    assert results["paper"]["model"] == "ResNet-50, CIFAR-10"


def test_the_grid_is_a_list_of_points_with_a_threshold_only_for_the_measures_and_one_repeat():
    from nanograd_ad.experiments.runner import cells_of, unit_key

    s = {"seed": 5, "runs": 2, "variants": ["original", "G'-case1"], "threshold_values": [1.0, 2.0]}
    points = cells_of(experiment.grid(s))
    assert points[:4] == [
        {"seed": 5, "variant": "original"},
        {"seed": 5, "variant": "G'-case1", "threshold": 1.0},
        {"seed": 5, "variant": "G'-case1", "threshold": 2.0},
        {"seed": 5, "variant": "original", "repeat": True},
    ]
    assert len(points) == 8 and points[4]["seed"] == 6
    assert unit_key(points[1]) == "seed=5,threshold=1.0,variant=Gp-case1"  # a file name: G′ spelled Gp
