"""The nanograd-ad command, the experiment registry and the shared experiment helpers."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nanograd_ad import backend, experiments
from nanograd_ad.cli import main
from nanograd_ad.experiments import register
from nanograd_ad.experiments.common import (
    RESULTS_KEYS,
    ExperimentConfig,
    format_mean_std,
    format_table,
    mean_std,
    write_results,
)
from nanograd_ad.train import TrainingDiverged

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_experiment():
    """Register 'test-echo' (with its own options) for one test, then remove it."""
    calls = []

    def add_arguments(parser):
        parser.add_argument("--thresholds", type=float, nargs="+", default=[1.0, 2.0])
        parser.add_argument("--fail", choices=["none", "diverge", "value"], default="none")

    @register("test-echo", "echo the config back", paper="nobody 2024", add_arguments=add_arguments)
    def run(config):
        calls.append(config)
        if config.extra["fail"] == "diverge":
            raise TrainingDiverged("training diverged: loss is nan at epoch 3, batch 1", epoch=3, batch=1)
        if config.extra["fail"] == "value":
            raise ValueError("depth must be even")
        return write_results(config, "test-echo", [{"seed": config.seed}], {"ok": True}, wall_time_s=0.5)

    yield calls
    experiments._REGISTRY.pop("test-echo", None)


def test_list_shows_the_experiments(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "digits-ad" in out and "AD ReLU" in out
    assert max(len(line) for line in out.splitlines()) <= 100  # wrapped, not cut
    assert "Table 2]" in out.replace("\n", " ")


def test_experiment_options_reach_config_extra(fake_experiment, tmp_path, capsys):
    code = main(
        [
            "reproduce",
            "test-echo",
            "--quick",
            "--seed",
            "4",
            "--epochs",
            "3",
            "--out",
            str(tmp_path),
            "--thresholds",
            "0.5",
            "1.5",
            "--data",
            "cifar10",
        ]
    )
    assert code == 0
    (config,) = fake_experiment
    assert config.quick and config.seed == 4 and config.epochs == 3 and config.runs is None
    assert config.data == "cifar10" and config.out == tmp_path and config.backend == "numpy"
    assert config.extra == {"thresholds": [0.5, 1.5], "fail": "none"}
    results = json.loads((tmp_path / "results.json").read_text())
    assert tuple(results) == RESULTS_KEYS
    assert results["config"]["extra"]["thresholds"] == [0.5, 1.5]
    assert "finished in 0.5 s" in capsys.readouterr().out


def test_experiment_help_shows_its_own_options(fake_experiment, capsys):
    assert main(["reproduce", "test-echo", "-h"]) == 0
    out = capsys.readouterr().out
    assert "--thresholds" in out and "--quick" in out and "--backend" in out
    assert main(["reproduce", "digits-ad", "-h"]) == 0
    assert "--variants" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "no-such-exp"], "digits-ad"),  # unknown names list the known ones
        (["reproduce", "digits-ad", "--data", "imagenet"], "cifar100"),
        (["reproduce", "digits-ad", "--epochs", "-1"], "must be >= 1"),
        (["reproduce", "digits-ad", "--runs", "0"], "must be >= 1"),
        (["reproduce", "digits-ad", "--lr", "0"], "positive"),
        (["reproduce", "digits-ad", "--batch-size", "0"], "must be >= 1"),
        (["reproduce", "digits-ad", "--backend", "tpu"], "numpy"),
        (["frobnicate"], "reproduce"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_errors_inside_an_experiment(fake_experiment, tmp_path, capsys):
    assert main(["reproduce", "test-echo", "--out", str(tmp_path), "--fail", "diverge"]) == 1
    assert "epoch 3, batch 1" in capsys.readouterr().err
    assert main(["reproduce", "test-echo", "--out", str(tmp_path), "--fail", "value"]) == 2
    assert "depth must be even" in capsys.readouterr().err
    with pytest.raises(ValueError, match="even"):
        main(["--traceback", "reproduce", "test-echo", "--out", str(tmp_path), "--fail", "value"])


def cupy_usable():
    try:
        backend.use("cupy")
    except backend.BackendError:
        return False
    finally:
        backend.use("numpy")
    return True


@pytest.mark.skipif(cupy_usable(), reason="CuPy and a GPU are present here")
def test_cupy_backend_without_gpu_is_a_clear_error(fake_experiment, tmp_path, capsys):
    assert main(["reproduce", "test-echo", "--backend", "cupy", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "CuPy" in err and "Traceback" not in err
    assert fake_experiment == []  # refused before the experiment ran
    assert backend.name() == "numpy"


def test_missing_experiment_modules_are_skipped_with_a_warning(monkeypatch):
    monkeypatch.setattr(experiments, "MODULES", ["digits_ad", "no_such_module_yet"])
    monkeypatch.setattr(experiments, "_loaded", False)
    monkeypatch.setattr(experiments, "skipped_modules", [])
    with pytest.warns(RuntimeWarning, match="no_such_module_yet"):
        experiments.load_all()
    assert experiments.skipped_modules == ["no_such_module_yet"]
    assert "digits-ad" in experiments.names()
    with pytest.raises(experiments.UnknownExperimentError, match=r"known experiments: .*digits-ad"):
        experiments.get("nope")


def test_a_name_cannot_be_taken_twice_by_different_modules(fake_experiment):
    def other(config):
        return {}

    other.__module__ = "somewhere.else"
    with pytest.raises(ValueError, match="already registered"):
        register("test-echo", "again")(other)


# ----------------------------------------------------------------- shared helpers


def test_format_table_aligns_and_marks_missing_numbers():
    rows = [
        {"variant": "relu", "ours": 0.97123, "paper": 0.9},
        {"variant": "ad-relu-switch", "ours": float("nan"), "paper": None},
    ]
    text = format_table(rows, ["variant", ("ours", "ours %", 2), ("paper", "paper")])
    lines = text.splitlines()
    assert lines[0].split() == ["variant", "ours", "%", "paper"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["relu", "0.97", "0.9000"]
    assert lines[3].split() == ["ad-relu-switch", "—", "—"]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule have the same width


def test_mean_std_and_results_json_are_strict(tmp_path):
    assert mean_std([1.0, 3.0, float("nan"), None]) == (2.0, 1.0)
    assert math.isnan(mean_std([])[0])
    assert format_mean_std([0.9, 0.95], scale=100, digits=1) == "92.5 ± 2.5"
    assert format_mean_std([0.9, float("nan")], scale=100, digits=1) == "90.0"  # one value: no "± 0"
    config = ExperimentConfig(quick=True, out=tmp_path / "o")
    assert config.choose("runs", 2, 5) == 2 and config.choose("epochs", 3, 30) == 3
    assert ExperimentConfig(runs=7).choose("runs", 2, 5) == 7
    assert ExperimentConfig(extra={"depths": [2]}).choose("depths", [4], [8]) == [2]
    with pytest.raises(ValueError, match="runs"):
        ExperimentConfig(runs=0)
    written = write_results(
        config, "x", [{"loss": float("inf")}], {"mean": float("nan")}, wall_time_s=1.0, paper={"acc": 0.805}
    )
    text = (tmp_path / "o" / "results.json").read_text()
    assert json.loads(text) == written
    assert written["runs"] == [{"loss": None}] and written["summary"] == {"mean": None}
    assert written["paper"] == {"acc": 0.805} and written["config"]["out"] == str(tmp_path / "o")
    assert "NaN" not in text and "Infinity" not in text


# ----------------------------------------------------------- the real quick run


def test_quick_digits_ad_in_a_subprocess(tmp_path):
    out = tmp_path / "q"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # tiny matrices: one BLAS thread is faster and keeps the time stable on a busy machine
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "nanograd_ad", "reproduce", "digits-ad", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert tuple(results) == RESULTS_KEYS
    assert results["experiment"] == "digits-ad" and results["config"]["quick"] is True
    assert results["version"] and results["wall_time_s"] > 0
    variants = {"relu", "ad-relu", "ad-relu-switch", "leaky-relu"}
    assert set(results["summary"]) == variants
    assert len(results["runs"]) == 2 * len(variants)  # quick: 2 seeds
    for run in results["runs"]:
        assert run["best_test_acc"] > 0.8  # a working CNN on digits, even in a few epochs
        assert len(run["history"]["test_acc"]) == results["runs"][0]["history"]["epoch"][-1] + 1
    assert (out / "digits_ad_curves.png").stat().st_size > 1000
    assert "final test acc %" in result.stdout and "ad-relu-switch" in result.stdout
    assert "quick run" in result.stdout and "2 seeds × 15 epochs" in result.stdout
    units = sorted(p.stem for p in (out / "units").iterdir())
    assert units[0] == "seed=0,variant=ad-relu" and len(units) == 8  # every axis in the key
    # results.json records the settings quick mode actually used, not null (issue 12)
    config = results["config"]
    assert (config["runs"], config["epochs"], config["data"]) == (2, 15, "digits")
    assert config["extra"]["lr"] == 3e-3 and config["extra"]["optimizer"] == "adam"
    assert None not in config["extra"].values()
    # and is readable like the plots next to it
    assert (out / "results.json").stat().st_mode & 0o777 == (
        out / "digits_ad_curves.png"
    ).stat().st_mode & 0o777
    assert "Traceback" not in result.stderr
