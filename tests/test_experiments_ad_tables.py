"""ad-relu / ad-sigmoid (Hu, Zhang & Ge 2021, §III): networks, the paper's numbers, options, --quick."""

import dataclasses
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
        ensemble = from_seeds(lambda h=hyper: ad_tables.build_net("ad-relu", variant, n, h), range(5))
        assert counts(ensemble) == (5 * (4 + 4 * (n - 2)), 5 * (3 + 2 * (n - 2)))


@pytest.mark.parametrize("variant", ad_tables.TASKS["ad-sigmoid"].variants)
@pytest.mark.parametrize("n", [4, 7, 12, 15])
def test_sigmoid_nets_have_the_papers_parameter_counts(n, variant):
    for hyper in ad_tables.TASKS["ad-sigmoid"].sets.values():
        net = ad_tables.build_net("ad-sigmoid", variant, n, hyper)
        assert counts(net) == (6 + 4 * (n - 2), 3 + 2 * (n - 2))
        assert sum(isinstance(layer, (Sigmoid, ISigmoid)) for layer in net) == n  # the output too
        ensemble = from_seeds(lambda h=hyper: ad_tables.build_net("ad-sigmoid", variant, n, h), range(3))
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
    assert f"Table {ad_tables.TASKS[name].table} of the AD paper" in printed
    assert "24 cells × 10 seeds × 3 epochs" in printed and "100 runs × 300 epochs" in printed
    header = next(line for line in printed.splitlines() if line.startswith("set "))
    assert header.split()[:5] == ["set", "layers", "activation", "mean", "lowest"] and "paper" in header
    assert "batches reshuffled every epoch" in printed and "test loss once per epoch" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(RESULTS_KEYS) <= set(results)
    task = ad_tables.TASKS[name]
    cells = results["summary"]["cells"]
    assert len(cells) == 2 * 4 * 3 and results["config"]["extra"]["sets"] == ["A", "B"]
    assert None not in results["config"]["extra"].values()  # every effective setting, no null
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
        assert run["switches"] == 0 or run["activation"] == "AD ReLU"  # only AD ReLU switches by default
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


# --- the settings the paper leaves unstated -------------------------------------------------


@pytest.fixture
def small_abs():
    """A small |x| data set in float64 (train_cell's equivalences hold to rounding)."""
    from nanograd_ad import backend
    from nanograd_ad.datasets import abs_task

    backend.set_default_dtype("float64")
    return ad_tables.with_dtype(abs_task(300, 100, seed=1), "float64")


def cell(hyper, data, seeds=(0, 1, 2), variant="Leaky ReLU", epochs=3, **options):
    return ad_tables.train_cell("ad-relu", hyper, 4, variant, list(seeds), epochs, data, **options)


def test_summed_loss_is_the_mean_with_b_times_the_sgd_rate(small_abs):
    hyper = ad_tables.TASKS["ad-relu"].sets["B"]  # batch 100, SGD
    summed = cell(dataclasses.replace(hyper, lr=1e-4), small_abs, reduction="sum")
    mean = cell(dataclasses.replace(hyper, lr=1e-4 * 100), small_abs, reduction="mean")
    np.testing.assert_allclose(summed["lowest_test_loss"], mean["lowest_test_loss"], rtol=1e-9)
    other = cell(dataclasses.replace(hyper, lr=1e-4), small_abs, reduction="mean")
    assert np.abs(other["lowest_test_loss"] - mean["lowest_test_loss"]).max() > 1e-3  # it does change


def test_summed_loss_is_the_mean_with_adam_eps_over_b(small_abs):
    hyper = ad_tables.TASKS["ad-relu"].sets["A"]  # batch 50, Adam
    summed = cell(hyper, small_abs, reduction="sum", adam_eps=1.0)
    mean = cell(hyper, small_abs, reduction="mean", adam_eps=1.0 / 50)
    np.testing.assert_allclose(summed["lowest_test_loss"], mean["lowest_test_loss"], rtol=1e-9)
    np.testing.assert_allclose(summed["lowest_train_loss"], mean["lowest_train_loss"], rtol=1e-9)
    default_eps = cell(hyper, small_abs, reduction="sum")
    assert np.abs(default_eps["lowest_test_loss"] - summed["lowest_test_loss"]).max() > 1e-4


def test_lowest_train_loss_is_the_lowest_epoch_mean(small_abs):
    from nanograd_ad.history import History

    history = History(models=2)
    for epoch, row in enumerate([[0.5, np.nan], [0.2, np.nan], [0.3, np.inf]]):
        history.log({"epoch": epoch, "train_loss": np.array(row)})
    np.testing.assert_array_equal(ad_tables.lowest_finite(history.train_loss), [0.2, np.nan])
    result = cell(ad_tables.TASKS["ad-relu"].sets["A"], small_abs, epochs=4)
    assert result["lowest_train_loss"].shape == (3,) and np.isfinite(result["lowest_train_loss"]).all()


def captured_cells(monkeypatch):
    """Replace train_cell by a recorder (arguments kept, 1 epoch trained) for option tests."""
    calls = []
    real = ad_tables.train_cell

    def record(name, hyper, depth, variant, seeds, epochs, data, **options):
        from nanograd_ad import backend

        calls.append(
            {"hyper": hyper, "seeds": list(seeds), "data": data, "dtype": backend.default_dtype(), **options}
        )
        return real(name, hyper, depth, variant, seeds, 1, data, **options)

    monkeypatch.setattr(ad_tables, "train_cell", record)
    return calls


def test_cli_passes_the_unstated_settings_to_every_cell(monkeypatch, tmp_path):
    calls = captured_cells(monkeypatch)
    argv = ["reproduce", "ad-relu", "--runs", "2", "--epochs", "1", "--depths", "2", "--no-progress"]
    argv += ["--out", str(tmp_path), "--reduction", "sum", "--adam-eps", "1e-10", "--lr-a", "0.002"]
    argv += ["--lr-b", "0.03", "--bias-init-a", "zeros", "--bias-init-b", "torch"]
    assert main(argv) == 0
    assert len(calls) == 2 * 3
    for call in calls:
        assert call["reduction"] == "sum" and call["adam_eps"] == 1e-10
        expected = {"A": (0.002, "zeros", "adam"), "B": (0.03, "torch", "sgd")}[call["hyper"].name]
        assert (call["hyper"].lr, call["hyper"].bias_init, call["hyper"].optimizer) == expected
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["extra"]["lr_b"] == 0.03 and results["config"]["extra"]["reduction"] == "sum"


def test_cli_defaults_are_todays_readings(monkeypatch, tmp_path):
    calls = captured_cells(monkeypatch)
    argv = ["reproduce", "ad-sigmoid", "--runs", "2", "--epochs", "1", "--depths", "4", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    for call in calls:
        assert call["reduction"] == "mean" and call["adam_eps"] == 1e-8 and call["dtype"] is np.float32
        assert call["hyper"] == ad_tables.TASKS["ad-sigmoid"].sets[call["hyper"].name]  # lr 1e-3 / 0.01


def test_bias_initialisation_of_set_b_can_be_pytorchs_default():
    hyper = dataclasses.replace(ad_tables.TASKS["ad-relu"].sets["B"], bias_init="torch")
    net = ad_tables.build_net("ad-relu", "ReLU", 4, hyper)
    biases = [layer.bias.data for layer in net if isinstance(layer, Dense)]
    assert all((b != 0).all() for b in biases)
    assert all(np.abs(b).max() <= 1 / np.sqrt(layer.in_features) for b, layer in zip(biases, net[::2]))


def test_seed_and_data_seed_are_separate(monkeypatch, tmp_path):
    from nanograd_ad.datasets import abs_task

    calls = captured_cells(monkeypatch)
    argv = ["reproduce", "ad-relu", "--runs", "3", "--epochs", "1", "--depths", "2", "--sets", "B"]
    assert main([*argv, "--seed", "7", "--data-seed", "4", "--no-progress", "--out", str(tmp_path)]) == 0
    assert all(call["seeds"] == [7, 8, 9] for call in calls)
    np.testing.assert_array_equal(calls[0]["data"].x_train, abs_task(3000, 1000, seed=4).x_train)
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert {(r["seed"], r["data_seed"]) for r in runs} == {(7, 4), (8, 4), (9, 4)}
    calls.clear()
    assert main([*argv, "--seed", "7", "--no-progress", "--out", str(tmp_path)]) == 0  # data seed 0
    np.testing.assert_array_equal(calls[0]["data"].x_train, abs_task(3000, 1000, seed=0).x_train)


def test_a_fresh_data_draw_per_run(monkeypatch, tmp_path):
    from nanograd_ad.datasets import abs_task

    calls = captured_cells(monkeypatch)
    argv = ["reproduce", "ad-relu", "--runs", "2", "--epochs", "1", "--depths", "2", "--sets", "A"]
    argv += ["--seed", "3", "--data-seed", "10", "--data-draw", "per-run", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert [call["seeds"] for call in calls[:2]] == [[3], [4]]  # one model at a time
    for call, data_seed in zip(calls[:2], (10, 11)):
        np.testing.assert_array_equal(call["data"].x_test, abs_task(3000, 1000, seed=data_seed).x_test)
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert [(r["seed"], r["data_seed"]) for r in runs[:2]] == [(3, 10), (4, 11)]


def test_float64_trains_in_float64_and_restores_the_default(monkeypatch, tmp_path):
    from nanograd_ad import backend

    calls = captured_cells(monkeypatch)
    argv = ["reproduce", "ad-sigmoid", "--runs", "2", "--epochs", "1", "--depths", "4", "--sets", "B"]
    assert main([*argv, "--dtype", "float64", "--no-progress", "--out", str(tmp_path)]) == 0
    assert all(call["dtype"] is np.float64 and call["data"].x_train.dtype == np.float64 for call in calls)
    assert backend.default_dtype() is np.float32


@pytest.mark.parametrize(
    "option, value",
    [
        ("--reduction", "max"),
        ("--adam-eps", "0"),
        ("--lr-b", "-1"),
        ("--bias-init-a", "ones"),
        ("--shuffle", "no"),
    ],
)
def test_bad_unstated_settings_are_refused(option, value, capsys):
    assert main(["reproduce", "ad-relu", option, value]) == 2
    assert option in capsys.readouterr().err


def test_variants_choose_the_columns(monkeypatch, tmp_path):
    calls = captured_cells(monkeypatch)
    argv = ["reproduce", "ad-sigmoid", "--runs", "2", "--epochs", "1", "--depths", "4", "--sets", "B"]
    assert main([*argv, "--variants", "sigmoid", "--no-progress", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(calls) == 1 and {r["activation"] for r in results["runs"]} == {"sigmoid"}
    with pytest.raises(ValueError, match=r"--variants: ad-relu compares .*, got 'sigmoid'"):
        get("ad-relu").run(
            ad_tables.ExperimentConfig(runs=1, epochs=1, out=tmp_path, extra={"variants": ["sigmoid"]})
        )


# --- the batch order (a reading: the paper gives none) ---------------------------------------


def epochs_seen(monkeypatch, run) -> list[np.ndarray]:
    """The training inputs each epoch of ``run()`` fed its models, (E, N, 1) per epoch, in order."""
    from nanograd_ad import backend, train

    batches: list[np.ndarray] = []
    real = train.Trainer._batches

    def spy(self):
        for batch, x_batch, y_batch in real(self):
            batches.append(np.array(backend.to_numpy(x_batch)))  # a copy: the buffer is reused
            yield batch, x_batch, y_batch

    monkeypatch.setattr(train.Trainer, "_batches", spy)
    run()
    per_epoch = len(batches) // 2
    return [np.concatenate(batches[e * per_epoch : (e + 1) * per_epoch], axis=1) for e in range(2)]


def test_shuffle_off_feeds_every_model_the_datas_order_every_epoch(monkeypatch, small_abs):
    hyper = ad_tables.TASKS["ad-relu"].sets["A"]  # batch 50: 6 batches of the 300 points
    fixed = epochs_seen(monkeypatch, lambda: cell(hyper, small_abs, seeds=(0, 1), epochs=2, shuffle=False))
    for epoch in fixed:
        assert epoch.shape == (2, 300, 1)
        for model in epoch:
            np.testing.assert_array_equal(model, small_abs.x_train)
    monkeypatch.undo()
    shuffled = epochs_seen(monkeypatch, lambda: cell(hyper, small_abs, seeds=(0, 1), epochs=2))
    assert not np.array_equal(shuffled[0][0], small_abs.x_train)  # the default reshuffles…
    assert not np.array_equal(shuffled[0][0], shuffled[1][0])  # …every epoch…
    assert not np.array_equal(shuffled[0][0], shuffled[0][1])  # …each model by its own generator
    np.testing.assert_array_equal(np.sort(shuffled[1][1], axis=0), np.sort(small_abs.x_train, axis=0))


def test_cli_shuffle_off_reaches_every_cell_and_the_header(monkeypatch, tmp_path, capsys):
    calls = captured_cells(monkeypatch)
    argv = ["reproduce", "ad-relu", "--runs", "2", "--epochs", "1", "--depths", "2", "--sets", "B"]
    assert main([*argv, "--shuffle", "off", "--no-progress", "--out", str(tmp_path)]) == 0
    assert len(calls) == 3 and all(call["shuffle"] is False for call in calls)
    assert "batches in the data's order every epoch" in capsys.readouterr().out
    assert json.loads((tmp_path / "results.json").read_text())["config"]["extra"]["shuffle"] == "off"
    calls.clear()
    assert main([*argv, "--no-progress", "--out", str(tmp_path)]) == 0  # the default: on
    assert all(call["shuffle"] is True for call in calls)
    assert "batches reshuffled every epoch" in capsys.readouterr().out


def test_workers_start_the_deepest_cells_first():
    """A cell's cost is its depth (every epoch passes the same 3000 rows through its layers,
    whatever the batch), so `--workers` hands out the deepest cells first."""
    from nanograd_ad.experiments.runner import units_of
    from nanograd_ad.sweep import longest_first

    for declaration in (ad_tables.AD_RELU, ad_tables.AD_SIGMOID):
        task = ad_tables.TASKS[declaration.name]
        cells = [
            {"set": s, "layers": n, "activation": v}
            for s, hyper in task.sets.items()
            for n in hyper.depths
            for v in task.variants
        ]
        units = longest_first(units_of(declaration, {}, cells, progress=False))
        depths = [unit.params["cell"]["layers"] for unit in units]
        assert depths == sorted(depths, reverse=True) and depths[0] == max(
            max(h.depths) for h in task.sets.values()
        )
