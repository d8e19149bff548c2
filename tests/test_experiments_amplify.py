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
    assert "best test acc %" in printed and "paper % (VGG-19, CIFAR-10)" in printed and "threshold" in printed
    assert "overhead % (median)" in printed and "less than 2 %" in printed and "wall overhead" not in printed
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "amplify"
    assert set(experiment.VARIANTS) <= set(results["summary"])
    # original (twice), random, and 4 measure variants × 2 thresholds
    assert len(results["runs"]) == 3 + 4 * 2
    for variant in experiment.MEASURE_VARIANTS:
        entry = results["summary"][variant]
        assert set(entry["per_threshold"]) == {"0.0", "1.0"} and entry["best_threshold"] in (0.0, 1.0)
    assert results["summary"]["original"]["wall_overhead_pct"] == 0.0
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
