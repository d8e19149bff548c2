"""Sweeps: units run in-process or on a Dask cluster, in declared order, resumable.

The Dask tests share one local cluster of two worker processes bound to 127.0.0.1 (the
``dask_cluster`` fixture); they are skipped, with the reason, where dask.distributed is
not installed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np
import pytest

from nanograd_ad import sweep
from nanograd_ad.sweep import SweepError, Unit, load_unit, run_units

CALLS: list[str] = []


def noisy_sum(seed: int, size: int = 8, delay: float = 0.0) -> dict:
    """A seeded 'training': float32 numbers a worker must reproduce bit for bit."""
    CALLS.append(f"noisy_sum-{seed}")
    if delay:
        time.sleep(delay)
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(size).astype(np.float32)
    return {"seed": seed, "total": float(values.sum()), "values": values, "nan": float("nan")}


def interrupt_at(seed: int, stop: int) -> dict:
    if seed == stop:
        raise KeyboardInterrupt
    return noisy_sum(seed)


def die_once(seed: int, marker: str) -> dict:
    """Kill this worker process the first time it runs (the marker file is the memory)."""
    if not os.path.exists(marker):
        with open(marker, "w") as handle:
            handle.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return noisy_sum(seed)


def units_of(seeds, function=noisy_sum, **params) -> list[Unit]:
    return [Unit(f"seed{s}", function, {"seed": s, **params}) for s in seeds]


# ----------------------------------------------------------------------------- in-process


def test_in_process_results_in_declared_order_as_json_reads_them(tmp_path):
    results = run_units(units_of([3, 1, 2]), out=tmp_path, progress=False)
    assert [r["seed"] for r in results] == [3, 1, 2]
    assert results[0]["nan"] is None  # NaN → None, as in results.json
    assert isinstance(results[0]["values"], list)
    stored = json.loads((tmp_path / "units" / "seed1.json").read_text())
    assert stored["result"] == results[1]
    assert stored["function"] == f"{__name__}:noisy_sum"


def test_resume_runs_only_missing_or_changed_units(tmp_path):
    first = run_units(units_of([0, 1, 2]), out=tmp_path, progress=False)
    (tmp_path / "units" / "seed1.json").unlink()
    CALLS.clear()
    again = run_units(units_of([0, 1, 2]), out=tmp_path, resume=True, progress=False)
    assert CALLS == ["noisy_sum-1"]
    assert again == first
    CALLS.clear()
    changed = run_units(units_of([0, 1, 2], size=4), out=tmp_path, resume=True, progress=False)
    assert CALLS == ["noisy_sum-0", "noisy_sum-1", "noisy_sum-2"]  # other params: other fingerprint
    assert len(changed[0]["values"]) == 4


def test_ctrl_c_keeps_the_finished_units(tmp_path):
    units = [Unit(f"seed{s}", interrupt_at, {"seed": s, "stop": 2}) for s in range(4)]
    with pytest.raises(KeyboardInterrupt):
        run_units(units, out=tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == ["seed0.json", "seed1.json"]
    assert load_unit(tmp_path, units[0])["seed"] == 0
    assert not list((tmp_path / "units").glob("*.tmp"))


def test_unreadable_stored_unit_is_named(tmp_path):
    run_units(units_of([0]), out=tmp_path, progress=False)
    (tmp_path / "units" / "seed0.json").write_text("{not json")
    with pytest.raises(SweepError, match=r"seed0\.json"):
        run_units(units_of([0]), out=tmp_path, resume=True, progress=False)


def test_resume_reruns_units_of_another_library_version_and_says_so(tmp_path, monkeypatch, capsys):
    from nanograd_ad import checkpoint

    first = run_units(units_of([0, 1]), out=tmp_path, progress=False)
    path = tmp_path / "units" / "seed1.json"
    stored = json.loads(path.read_text())
    assert stored["version"] == checkpoint.library_version()
    assert stored["checksum"] == sweep.checksum(first[1])
    stored["version"] = "0.0.1"
    path.write_text(json.dumps(stored))
    CALLS.clear()
    capsys.readouterr()
    again = run_units(units_of([0, 1]), out=tmp_path, resume=True, progress=False)
    assert CALLS == ["noisy_sum-1"] and again == first
    out = capsys.readouterr().out
    assert "re-running 1 unit(s) written by nanograd_ad 0.0.1" in out and "seed1" in out
    assert "1 unit(s) reused, 1 ran" in out
    assert json.loads(path.read_text())["version"] == checkpoint.library_version()  # rewritten


def test_resume_stops_on_a_unit_edited_by_hand(tmp_path):
    run_units(units_of([0]), out=tmp_path, progress=False)
    path = tmp_path / "units" / "seed0.json"
    stored = json.loads(path.read_text())
    stored["result"]["total"] += 0.01  # a number edited by hand; the checksum still the old one
    path.write_text(json.dumps(stored))
    CALLS.clear()
    with pytest.raises(SweepError, match=r"seed0\.json: its result does not match its checksum"):
        run_units(units_of([0]), out=tmp_path, resume=True, progress=False)
    assert CALLS == []


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Unit("a b", noisy_sum, {}), "file name"),
        (lambda: Unit("a", noisy_sum, {"x": np.float32(1)}), "plain JSON"),
        (lambda: Unit("a", "noisy_sum", {}), "callable"),
        (lambda: run_units(units_of([1, 1])), "unique"),
        (lambda: run_units(units_of([1]), workers=2, scheduler="tcp://127.0.0.1:1"), "not both"),
        (lambda: run_units(units_of([1]), workers=0), "workers must be an integer >= 1, got 0"),
        (lambda: run_units(units_of([1]), resume=True), "resume needs out"),
        (lambda: Unit("a", noisy_sum, {}, cost=-1.0), "cost must be a number >= 0, got -1.0"),
        (lambda: Unit("a", noisy_sum, {}, cost=float("nan")), "cost must be a number >= 0, got nan"),
    ],
)
def test_bad_sweeps_are_refused_before_any_work(make, message):
    CALLS.clear()
    with pytest.raises(SweepError, match=message):
        make()
    assert CALLS == []


def test_dask_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SweepError, match=r"nanograd_ad\[dask\]"):
        run_units(units_of([1]), workers=2)


# ----------------------------------------------------------------------------------- Dask


@pytest.fixture(scope="session")
def dask_cluster():
    """One local cluster of two worker processes on 127.0.0.1, shared by the Dask tests."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    yield cluster
    cluster.close()


def test_dask_results_are_identical_to_the_in_process_run(dask_cluster, tmp_path):
    units = units_of(range(6), delay=0.05)
    here = run_units(units, progress=False)
    there = run_units(units, scheduler=dask_cluster.scheduler_address, out=tmp_path, progress=False)
    assert there == here
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == [f"seed{s}.json" for s in range(6)]


def test_a_killed_worker_is_retried_and_the_sweep_completes(dask_cluster, tmp_path):
    marker = tmp_path / "killed-once"
    units = [*units_of([0, 1]), Unit("victim", die_once, {"seed": 7, "marker": str(marker)})]
    results = run_units(units, scheduler=dask_cluster.scheduler_address, out=tmp_path, progress=False)
    assert marker.exists(), "the victim unit never ran"
    assert results[2] == sweep.execute(Unit("x", noisy_sum, {"seed": 7}), 1, "numpy")
    assert [r["seed"] for r in results] == [0, 1, 7]
    dask_cluster.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler"):
        run_units(units_of([0]), scheduler="tcp://127.0.0.1:9", progress=False)


# ------------------------------------------------------------------------ experiments


def without_timings(value):
    """results.json minus what is measured rather than computed (wall times, per-epoch seconds)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in ("time_s", "wall_time_s")}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


AD_RELU = ["reproduce", "ad-relu", "--runs", "3", "--epochs", "2", "--sets", "A", "B", "--depths", "2"]
AD_RELU += ["--no-progress"]


def test_an_experiment_gives_the_same_results_file_in_process_and_on_dask(dask_cluster, tmp_path):
    from nanograd_ad import cli

    assert cli.main([*AD_RELU, "--out", str(tmp_path / "here")]) == 0
    address = dask_cluster.scheduler_address
    assert cli.main([*AD_RELU, "--out", str(tmp_path / "there"), "--scheduler", address]) == 0
    here = json.loads((tmp_path / "here" / "results.json").read_text())
    there = json.loads((tmp_path / "there" / "results.json").read_text())
    cells = [(r["set"], r["activation"]) for r in there["runs"]][::3]
    assert cells == [(s, v) for s in "AB" for v in ("AD ReLU", "ReLU", "Leaky ReLU")], cells  # declared order
    assert there["config"]["scheduler"] == address and here["config"]["scheduler"] is None
    for results in (here, there):
        del results["config"]["out"], results["config"]["scheduler"]
    assert without_timings(there) == without_timings(here)
    assert len({r["lowest_test_loss"] for r in here["runs"]}) > 1  # real, distinct numbers


def test_resume_skips_the_finished_units_of_an_experiment(tmp_path, monkeypatch):
    from nanograd_ad import cli
    from nanograd_ad.experiments import ad_tables

    out = tmp_path / "run"
    assert cli.main([*AD_RELU, "--out", str(out)]) == 0
    first = json.loads((out / "results.json").read_text())
    (out / "units" / "activation=ReLU,layers=2,set=B.json").unlink()
    trained = []
    real = ad_tables.train_cell
    monkeypatch.setattr(
        ad_tables,
        "train_cell",
        lambda name, hyper, depth, variant, *a, **k: (
            trained.append((hyper.name, variant)) or real(name, hyper, depth, variant, *a, **k)
        ),
    )
    assert cli.main([*AD_RELU, "--out", str(out), "--resume"]) == 0
    assert trained == [("B", "ReLU")]
    again = json.loads((out / "results.json").read_text())
    assert again["runs"] == first["runs"]  # the retrained cell gives the same numbers again


def test_cli_refuses_workers_without_dask(monkeypatch, capsys, tmp_path):
    from nanograd_ad import cli

    monkeypatch.setitem(sys.modules, "distributed", None)
    assert cli.main([*AD_RELU, "--out", str(tmp_path), "--workers", "2"]) == 2
    assert "nanograd_ad[dask]" in capsys.readouterr().err
    assert not (tmp_path / "units").exists()


def test_cli_refuses_workers_and_scheduler_together(capsys, tmp_path):
    from nanograd_ad import cli

    assert cli.main([*AD_RELU, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_dask_gets_the_costliest_units_first_and_equal_costs_in_order():
    costs = {"a": 1.0, "b": 8.0, "c": 0.0, "d": 8.0, "e": 2.5}
    units = [Unit(key, noisy_sum, {"seed": i}, cost=cost) for i, (key, cost) in enumerate(costs.items())]
    assert [u.key for u in sweep.longest_first(units)] == ["b", "d", "e", "a", "c"]
    assert [u.key for u in units] == list(costs)  # the caller's list is left as it was


def test_options_and_cost_do_not_change_the_fingerprint():
    plain = Unit("a", noisy_sum, {"seed": 1})
    assert Unit("a", noisy_sum, {"seed": 1}, cost=7.0).fingerprint() == plain.fingerprint()
    assert Unit("a", noisy_sum, {"seed": 1}, {"delay": 0.01}).fingerprint() == plain.fingerprint()
    assert Unit("a", noisy_sum, {"seed": 2}).fingerprint() != plain.fingerprint()
    assert Unit("a", interrupt_at, {"seed": 1}).fingerprint() != plain.fingerprint()


def fake_cifar100(tmp_path, monkeypatch) -> list[str]:
    from conftest import write_fake_cifar100

    write_fake_cifar100(tmp_path / "data" / "cifar-100-python", train=20, test=10)
    return ["--data", "cifar100", "--data-dir", str(tmp_path / "data")]


def short_step_timing(tmp_path, monkeypatch) -> list[str]:
    """amplify's per-step timing runs in the driver: one round of one step here."""
    from nanograd_ad.experiments import amplify

    timing = amplify.step_overhead
    monkeypatch.setattr(amplify, "step_overhead", lambda *a, **k: timing(*a, steps=1, repeats=1))
    return []


# Quick runs of the other experiments with units, at their smallest sizes: their options,
# the keys that are timings (measured in the driver or per unit, never identical between
# two runs) and what prepares the run (writes its data, shortens a driver timing).
EXPERIMENTS = {
    "digits-ad": {"options": "--quick --epochs 1 --variants relu ad-relu-switch"},
    "baselines": {
        "options": "--quick --epochs 1 --depths 2 --width 4 --cost-steps 1",
        "timings": {"step_ms", "step_wall_ms", "step_vs_plain", "bn_vs_pn_step_cost"},
    },
    "pn-cnn": {"options": "--quick --epochs 1 --width 1 --noise-levels 0.3 --noise-draws 1"},
    "ad-cifar": {
        "options": "--quick --epochs 1 --batch-size 10 --arms alexnet-relu alexnet-ad-relu",
        "timings": {"wall_s"},
        "prepare": fake_cifar100,
    },
    "amplify": {
        "options": "--epochs 6 --runs 1 --thresholds 0 0 1 --variants G-case2 --widths 2 2 4 --hidden 8 "
        "--batch-size 64",
        "timings": {"wall_s", "cpu_s", "segment_wall_s", "step_overhead", "original_wall_spread_pct"}
        | {f"{clock}_s_{of}" for clock in ("wall", "cpu") for of in ("median", "mean")}
        | {"wall_overhead_pct", "cpu_overhead_pct"},
        "prepare": short_step_timing,
    },
}


def without(value, keys):
    """``value`` with every dict entry named in ``keys`` removed, at any depth."""
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiments_units_give_the_same_results_in_process_and_on_dask(
    name, dask_cluster, tmp_path, monkeypatch
):
    from nanograd_ad import cli

    spec = EXPERIMENTS[name]
    options = spec["options"].split() + (spec["prepare"](tmp_path, monkeypatch) if "prepare" in spec else [])
    timings = spec.get("timings", set())
    argv = ["reproduce", name, *options, "--no-progress", "--out"]
    assert cli.main([*argv, str(tmp_path / "here")]) == 0
    address = dask_cluster.scheduler_address
    assert cli.main([*argv, str(tmp_path / "there"), "--scheduler", address]) == 0
    here = json.loads((tmp_path / "here" / "results.json").read_text())
    there = json.loads((tmp_path / "there" / "results.json").read_text())
    units = sorted(p.stem for p in (tmp_path / "there" / "units").iterdir())
    assert units == sorted(p.stem for p in (tmp_path / "here" / "units").iterdir()) and len(units) > 1
    assert there["config"]["scheduler"] == address and here["config"]["scheduler"] is None
    for results in (here, there):
        del results["config"]["out"], results["config"]["scheduler"]
    drop = timings | {"time_s", "wall_time_s"}
    assert without(there, drop) == without(here, drop)  # the same numbers, units in declared order
    assert there["runs"] and len({json.dumps(r, sort_keys=True) for r in here["runs"]}) == len(here["runs"])


def test_resume_reruns_only_the_missing_amplify_unit_from_a_fresh_prefix(tmp_path, monkeypatch):
    """amplify's units share their seed's first phase through a per-process snapshot; a
    resumed run has none, trains it again, and gives the same numbers."""
    from nanograd_ad import cli
    from nanograd_ad.experiments import amplify

    short_step_timing(tmp_path, monkeypatch)
    argv = ["reproduce", "amplify", *EXPERIMENTS["amplify"]["options"].split(), "--no-progress"]
    argv += ["--out", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    first = json.loads((tmp_path / "run" / "results.json").read_text())
    (tmp_path / "run" / "units" / "seed=0,threshold=0.0,variant=G-case2.json").unlink()
    trained, real = [], amplify.train_variant
    monkeypatch.setattr(
        amplify,
        "train_variant",
        lambda setup, seed, variant, *a: trained.append(variant) or real(setup, seed, variant, *a),
    )
    prefixes, real_prefix = [], amplify.train_prefix
    monkeypatch.setattr(
        amplify, "train_prefix", lambda setup, seed: prefixes.append(seed) or real_prefix(setup, seed)
    )
    assert cli.main([*argv, "--resume"]) == 0
    assert trained == ["G-case2"] and prefixes == [0]
    again = json.loads((tmp_path / "run" / "results.json").read_text())
    drop = EXPERIMENTS["amplify"]["timings"] | {"time_s"}
    assert without(again["runs"], drop) == without(first["runs"], drop)
    assert [r["variant"] for r in again["runs"]] == ["original", "G-case2", "original"]
