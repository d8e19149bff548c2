"""ad-relu / ad-sigmoid: the networks of METHODS §5, the paper's numbers, a --quick run."""

import json

import numpy as np
import pytest

from nanograd_ad.activations import ISigmoid, LeakyReLU, ReLU, Sigmoid
from nanograd_ad.cli import main
from nanograd_ad.ensemble import from_seeds
from nanograd_ad.experiments import ad_tables, get
from nanograd_ad.experiments.common import RESULTS_KEYS
from nanograd_ad.layers import Dense


def counts(net):
    weights = sum(p.data.size for name, p in net.named_parameters() if name.endswith("weight"))
    biases = sum(p.data.size for name, p in net.named_parameters() if name.endswith("bias"))
    return weights, biases


@pytest.mark.parametrize("variant", ad_tables.TASKS["ad-relu"].variants)
@pytest.mark.parametrize("n", [2, 3, 4, 6, 8])
def test_relu_nets_have_the_papers_parameter_counts(n, variant):
    for hyper in ad_tables.TASKS["ad-relu"].sets.values():
        net = ad_tables.build_net("ad-relu", variant, n, hyper)
        assert counts(net) == (4 + 4 * (n - 2), 3 + 2 * (n - 2))
        assert sum(isinstance(layer, Dense) for layer in net) == n
        assert sum(isinstance(layer, (ReLU, LeakyReLU)) for layer in net) == n - 1
        assert isinstance(net[-1], Dense)  # linear output
        ensemble = from_seeds(lambda: ad_tables.build_net("ad-relu", variant, n, hyper), range(5))
        assert counts(ensemble) == (5 * (4 + 4 * (n - 2)), 5 * (3 + 2 * (n - 2)))


@pytest.mark.parametrize("variant", ad_tables.TASKS["ad-sigmoid"].variants)
@pytest.mark.parametrize("n", [4, 7, 12, 15])
def test_sigmoid_nets_have_the_papers_parameter_counts(n, variant):
    for hyper in ad_tables.TASKS["ad-sigmoid"].sets.values():
        net = ad_tables.build_net("ad-sigmoid", variant, n, hyper)
        assert counts(net) == (6 + 4 * (n - 2), 3 + 2 * (n - 2))
        assert sum(isinstance(layer, (Sigmoid, ISigmoid)) for layer in net) == n  # the output too
        ensemble = from_seeds(lambda: ad_tables.build_net("ad-sigmoid", variant, n, hyper), range(3))
        assert counts(ensemble) == (3 * (6 + 4 * (n - 2)), 3 * (3 + 2 * (n - 2)))


def test_set_b_initialisation_and_variants():
    relu_b = ad_tables.TASKS["ad-relu"].sets["B"]
    net = ad_tables.build_net("ad-relu", "AD ReLU", 8, relu_b)
    assert all((layer.bias.data == 0).all() for layer in net if isinstance(layer, Dense))
    assert net[1].derivative_name == "ad" and net[1].params == {"k": 3.5}
    assert (
        ad_tables.build_net("ad-sigmoid", "AD sigmoid", 4, ad_tables.TASKS["ad-sigmoid"].sets["A"])[
            1
        ].derivative_name
        == "ad"
    )
    with pytest.raises(ValueError, match="depth"):
        ad_tables.build_net("ad-relu", "ReLU", 1, relu_b)


def test_paper_numbers_are_read_from_the_shipped_csv():
    rows = ad_tables.paper_rows(2)
    assert len(rows) == 24 and len(ad_tables.paper_rows(4)) == 24
    row = next(r for r in rows if r["set"] == "A" and r["layers"] == 8 and r["activation"] == "ReLU")
    assert row["mean_test_loss"] == pytest.approx(0.217)
    variants = {r["activation"] for r in rows}
    assert variants == set(ad_tables.TASKS["ad-relu"].variants)
    assert {r["activation"] for r in ad_tables.paper_rows(4)} == set(ad_tables.TASKS["ad-sigmoid"].variants)


def test_interval_counts():
    losses = [0.0005, 0.005, 0.02, 0.07, 0.15, 0.25, 0.9, float("nan")]
    assert ad_tables.interval_counts(losses) == [1, 1, 1, 1, 1, 1, 1]
    assert len(ad_tables.interval_labels()) == len(ad_tables.EDGES) - 1


@pytest.mark.parametrize("name", ["ad-relu", "ad-sigmoid"])
def test_quick_run_writes_results_with_the_documented_keys(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["reproduce", name, "--quick", "--epochs", "3", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "paper" in printed and f"Table {ad_tables.TASKS[name].table}, set A" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(RESULTS_KEYS) <= set(results)
    task = ad_tables.TASKS[name]
    cells = results["summary"]["cells"]
    assert len(cells) == 2 * 4 * 3 and results["config"]["extra"]["sets"] is None
    runs = 10  # --quick default
    assert len(results["runs"]) == len(cells) * runs
    for cell in cells:
        assert cell["paper_mean_test_loss"] is not None
        assert sum(cell["counts"]) + cell["nonfinite"] == runs
        mine = [
            r["lowest_test_loss"]
            for r in results["runs"]
            if (r["set"], r["layers"], r["activation"]) == (cell["set"], cell["layers"], cell["activation"])
        ]
        assert cell["mean_lowest_test_loss"] == pytest.approx(np.mean(mine))
    for run in results["runs"]:
        assert {"seed", "lowest_test_loss", "best_epoch", "final_test_loss", "switches"} <= set(run)
        assert 0 <= run["best_epoch"] < 3 and run["lowest_test_loss"] <= run["final_test_loss"] + 1e-12
        assert run["switches"] == 0 or run["activation"] == "AD ReLU"  # METHODS §5: AD ReLU switches
    assert results["paper"]["table"] == task.table and len(results["paper"]["rows"]) == 24
    for s in ("A", "B"):
        assert (out / f"{name}_set_{s}.png").stat().st_size > 1000


def test_options_choose_sets_and_depths(tmp_path):
    experiment = get("ad-relu")
    from nanograd_ad.experiments.common import ExperimentConfig

    config = ExperimentConfig(
        runs=2, epochs=2, out=tmp_path, extra={"sets": ["B"], "depths": [3], "switching": "off"}
    )
    results = experiment.run(config)
    assert [(c["set"], c["layers"]) for c in results["summary"]["cells"]] == [("B", 3)] * 3
    assert all(r["switches"] == 0 for r in results["runs"])
    assert results["summary"]["cells"][0]["paper_mean_test_loss"] is None  # the paper has no 3-layer row
    sigmoid = get("ad-sigmoid").run(
        ExperimentConfig(
            runs=3,
            epochs=3,
            out=tmp_path,
            extra={"sets": ["A"], "depths": [4], "switching": "on", "switch_a": 0.5},
        )
    )
    switched = {r["activation"] for r in sigmoid["runs"] if r["switches"]}
    assert switched == {"AD sigmoid"}  # A = 0.5: every AD model switches, the others never
    with pytest.raises(ValueError, match="--data"):
        experiment.run(ExperimentConfig(runs=1, epochs=1, out=tmp_path, data="digits"))
