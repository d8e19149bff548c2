"""The ics experiment: the network of the protocol, the data selection, and a --quick run."""

import json

import numpy as np
import pytest
from conftest import write_fake_cifar10

import nanograd_ad as ng
from nanograd_ad.cli import main
from nanograd_ad.experiments import ics
from nanograd_ad.experiments.common import ExperimentConfig
from nanograd_ad.ics import RegularizedReLU


def test_network_has_six_convs_two_mean_poolings_and_a_two_class_output():
    net = ics.build_net("regularized-relu", (3, 32, 32))
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds.count("Conv2D") == 6 and kinds.count("AvgPool2D") == 2
    assert kinds.count("RegularizedReLU") == 6 and kinds[0] == "Scale"
    assert isinstance(net[-1], ng.Dense) and net[-1].out_features == 2
    assert net.shapes[-1] == (2,)
    # the first conv: c = 3·32·32, s = 32·32, n = 8, m = 3·9 → r = 1/72
    first = next(layer for layer in net.layers if isinstance(layer, RegularizedReLU))
    assert (first.c, first.s, first.n, first.m) == (3072, 1024, 8, 27)
    assert first.r == pytest.approx(1 / 72)
    weights = [p.data for name, p in net.named_parameters() if name.endswith("weight")]
    assert all(np.abs(w).max() <= 1 for w in weights) and max(np.abs(w).max() for w in weights) > 0.9
    assert all(np.all(p.data == 0) for name, p in net.named_parameters() if name.endswith("bias"))


def test_cifar_selection_takes_the_first_images_of_classes_0_and_1_in_file_order(tmp_path, monkeypatch):
    write_fake_cifar10(
        tmp_path / "cifar-10-batches-py", per_batch=60, test=90
    )  # 5·12 = 60 train, 18 test of classes 0/1
    monkeypatch.setattr(ics, "TRAIN_FIRST", 25)
    monkeypatch.setattr(ics, "TEST_FIRST", 10)
    data, note = ics.load_two_classes(ExperimentConfig(data="cifar10", data_dir=tmp_path))
    assert (data.n_train, data.n_test) == (25, 10)
    assert data.y_train.tolist() == [0, 1] * 12 + [0]  # file order, both classes together
    assert note == "first 25 train / 10 test images of classes 0 and 1"


def test_digits_has_fewer_images_and_says_so():
    data, note = ics.load_two_classes(ExperimentConfig())
    assert data.n_train < 800 and data.n_test < 1000
    assert set(np.unique(data.y_train)) == {0, 1}
    assert "fewer than the paper's 800 / 1000" in note


def test_quick_run_writes_results_json_and_plots(tmp_path, capsys):
    out = tmp_path / "ics"
    assert main(["reproduce", "ics", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "77.74" in printed and "76.93" in printed and "82.98" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "ics"
    assert {r["model"] for r in results["runs"]} == {"sigmoid", "relu", "regularized-relu"}
    for r in results["runs"]:
        assert r["same_initial_weights"] is True
        assert 0 <= r["best_test_acc"] <= 1 and r["epochs_run"] >= 1
        assert len(r["scale_init"]) == len(r["scale_end"]) == 7
    # one weight draw for all three models, untouched by the others' training (Σ|w| before training)
    assert len({r["initial_weights_checksum"] for r in results["runs"]}) == 1
    regularized = next(r for r in results["runs"] if r["model"] == "regularized-relu")
    assert regularized["input_scale"] > 1e3
    assert regularized["logits_rms_init"] == pytest.approx(1.0, rel=1e-2)
    assert "regularized_relu_keeps_scale" in results["summary"]
    assert results["paper"]["regularized-relu"] == 82.98
    assert (out / "ics_accuracy.png").stat().st_size > 0
    assert (out / "ics_activation_scale.png").stat().st_size > 0


def test_the_paper_input_reading_binarizes_every_model_and_scales_by_1e4(tmp_path, capsys):
    """--input-reading paper (Wang §4.1): inputs in {0, 100}, the regularized ReLU's ×10⁴;
    both readings' factors are recorded and printed whichever ran."""
    base = {"data": "digits", "data_dir": None}
    paper = ics.load_settings({**base, "input_reading": "paper"})
    derived = ics.load_settings({**base, "input_reading": "derived"})
    assert set(np.unique(paper.x_train)) == {0.0, 100.0} and derived.x_train.max() <= 1.0
    np.testing.assert_array_equal(paper.x_test, 100.0 * (derived.x_test > 0.5))
    runs = {}
    for reading in ("derived", "paper"):
        argv = ["reproduce", "ics", "--quick", "--epochs", "1", "--models", "relu", "regularized-relu"]
        argv += ["--input-reading", reading, "--out", str(tmp_path / reading), "--no-progress"]
        assert main(argv) == 0
        printed = capsys.readouterr().out
        assert f"input (--input-reading {reading}" in printed
        assert "derived (logits RMS 1 at init) on these inputs: x" in printed
        assert "the paper's: x10000 on inputs binarized to {0, 100}" in printed
        results = json.loads((tmp_path / reading / "results.json").read_text())
        assert results["config"]["extra"]["input_reading"] == reading
        runs[reading] = {r["model"]: r for r in results["runs"]}
    assert runs["paper"]["regularized-relu"]["input_scale"] == 1e4
    assert runs["paper"]["relu"]["input_scale"] == 1.0  # binarized, not magnified
    for reading in runs:
        rr = runs[reading]["regularized-relu"]
        assert rr["input_factor_paper"] == 1e4 and rr["input_factor_derived"] > 0
    derived_run = runs["derived"]["regularized-relu"]
    assert derived_run["input_scale"] == derived_run["input_factor_derived"]  # the derived one ran
    assert derived_run["logits_rms_init"] == pytest.approx(1.0, rel=1e-2)
    assert runs["paper"]["regularized-relu"]["logits_rms_init"] != pytest.approx(1.0, rel=1e-2)
