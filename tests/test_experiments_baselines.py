"""baselines: the four networks and a tiny end-to-end run (table, results.json, plots)."""

import json

import numpy as np

import nanograd_ad as ng
from nanograd_ad.cli import main
from nanograd_ad.experiments import baselines, get
from nanograd_ad.pseudo_normalization import PseudoNormalize


def test_registered():
    assert get("baselines").run == baselines.run  # the declaration's bound run


def test_the_four_networks_have_depth_tanh_layers():
    for variant in baselines.VARIANTS:
        net = baselines.build(variant, 4, 8, 64, 10)
        tanh = [layer for _, layer in net.walk() if isinstance(layer, ng.Tanh)]
        dense = [layer for _, layer in net.walk() if isinstance(layer, ng.Dense)]
        assert len(tanh) == 4 and len(dense) == 5, variant
        assert net(np.zeros((2, 64), dtype=np.float32)).shape == (2, 10)
    assert sum(isinstance(layer, ng.BatchNorm1D) for layer in baselines.build("bn", 4, 8, 64, 10).layers) == 4
    assert (
        sum(isinstance(layer, ng.Residual) for layer in baselines.build("residual", 4, 8, 64, 10).layers) == 3
    )
    pn = baselines.build("pn", 4, 8, 64, 10)
    assert isinstance(pn.feedback[0], PseudoNormalize) and pn.feedback[0].two_path


def test_tiny_run_writes_table_results_and_plots(tmp_path, capsys):
    out = tmp_path / "baselines"
    code = main(
        [
            "reproduce", "baselines", "--quick", "--no-progress", "--epochs", "1", "--depths", "3",
            "--width", "8", "--cost-steps", "2", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "cost per step, batch norm / two-path PN: depth 3:" in text and "residual blocks" in text
    results = json.loads((out / "results.json").read_text())
    assert {r["variant"] for r in results["runs"]} == set(baselines.VARIANTS)
    residual = next(r for r in results["runs"] if r["variant"] == "residual")
    assert residual["delta_init"]["branch"]["depths"] == [2, 3]
    assert all(0 <= r["final_test_acc"] <= 1 for r in results["runs"])
    cells = [results["summary"][f"depth 3, {v}"] for v in baselines.VARIANTS]
    assert all(c["step_ms"] > 0 and c["step_wall_ms"] > 0 for c in cells)
    assert cells[0]["step_vs_plain"] == 1.0
    assert results["summary"]["bn_vs_pn_step_cost"]["3"] > 0
    for name in ("baselines_delta_init.png", "baselines_delta_train.png"):
        assert (out / name).stat().st_size > 0


def test_amplify_builds_the_papers_networks_with_model():
    from nanograd_ad.experiments import amplify

    net = amplify.build_net((1, 8, 8), 10, model="resnet18", base_width=2)
    assert sum(isinstance(layer, ng.Residual) for layer in net.layers) == 8
    assert (
        sum(
            isinstance(layer, ng.Residual)
            for layer in amplify.build_net((1, 8, 8), 10, model="resnet34", base_width=2).layers
        )
        == 16
    )
    vgg = amplify.build_net((3, 32, 32), 100, model="vgg19", base_width=4)
    assert sum(isinstance(layer, ng.BatchNorm2D) for layer in vgg.layers) == 16 and vgg.shapes[-1] == (100,)
    import pytest

    with pytest.raises(ValueError, match=r"amplify: vgg19_bn: input \(1, 8, 8\) is too small"):
        amplify.build_net((1, 8, 8), 10, model="vgg19")
    with pytest.raises(ValueError, match="--model must be one of"):
        amplify.build_net((1, 8, 8), 10, model="resnet152")
    assert amplify.PAPER_RESNETS[("resnet18", "cifar10")]["acc"]["original"] == 92.39
