"""The reproduction pages: every experiment of ``nanograd-ad list`` has a page in the site's
navigation showing its quick run — what was run and when, the printed table, at least one plot
that exists with alt text — from the files docs/reproductions/generate.py committed. Nothing
here runs an experiment (the generator's failure path is checked with a run cut off at once).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

from nanograd_ad import experiments

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "docs" / "reproductions"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: the issue: "a few hundred kB per experiment at most" for the committed plots and tables
MAX_KB_PER_EXPERIMENT = 400
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def _generator():
    spec = importlib.util.spec_from_file_location("reproductions_generate", PAGES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_has_its_page_with_a_table_and_plots(name):
    page = PAGES / f"{name}.md"
    assert page.exists(), f"no page docs/reproductions/{name}.md"
    assert f"reproductions/{name}.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), "not in the nav"
    text = page.read_text(encoding="utf-8")
    assert f"nanograd-ad reproduce {name}" in text, "the page does not give the command"
    for part in ("run", "table", "figures"):
        assert f'--8<-- "docs/reproductions/{name}/{part}.md"' in text, (
            f"{name}.md does not include {part}.md"
        )

    folder = PAGES / name
    run = (folder / "run.md").read_text(encoding="utf-8")
    assert "quick run" in run and f"nanograd-ad reproduce {name} --quick" in run
    assert re.search(r"\d+ runs? × \d+ epochs", run), run
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC from commit [0-9a-f]{7,}", run), run

    table = (folder / "table.md").read_text(encoding="utf-8")
    block = re.fullmatch(r"(`{3,})text\n(.+)\n\1\n", table, re.S)
    assert block, "table.md is not one fenced text block"
    assert re.search(r"^-+(  +-+)+$", block.group(2), re.M), "no printed table (a rule of dashes) in table.md"

    images = IMAGE.findall((folder / "figures.md").read_text(encoding="utf-8"))
    assert images, f"no plot for {name}"
    for alt, src in images:
        assert alt.strip(), f"{src}: no alt text"
        assert src.startswith(f"{name}/") and src.endswith(".png"), src
        png = PAGES / src
        assert png.is_file() and png.read_bytes()[:8] == PNG_MAGIC, f"{src} is missing or not a PNG"
    shown = {Path(src).name for _, src in images}
    assert shown == {p.name for p in folder.glob("*.png")}, "a plot in the folder is not on the page"
    size_kb = sum(p.stat().st_size for p in folder.iterdir()) / 1024
    assert size_kb < MAX_KB_PER_EXPERIMENT, f"{name}: {size_kb:.0f} kB committed"


def test_only_experiments_have_result_folders():
    """A folder left by an experiment that was renamed or removed would be stale."""
    folders = {p.name for p in PAGES.iterdir() if p.is_dir()}
    assert folders <= set(experiments.names()), folders - set(experiments.names())


def test_synthetic_cifar100_is_in_the_official_format(tmp_path):
    from nanograd_ad.datasets import load_cifar100

    _generator().write_synthetic_cifar100(tmp_path, train=30, test=10)
    data = load_cifar100(tmp_path)
    assert data.x_train.shape == (30, 3, 32, 32) and data.x_test.shape == (10, 3, 32, 32)
    assert sorted(set(data.y_train.tolist())) == list(range(30))


def test_a_failed_run_is_reported_and_keeps_the_previous_files(tmp_path, monkeypatch, capsys):
    generate = _generator()
    shutil.copytree(PAGES / "ics", tmp_path / "ics")
    before = {p.name: p.read_bytes() for p in (tmp_path / "ics").iterdir()}
    monkeypatch.setattr(generate, "PAGES", tmp_path)
    monkeypatch.setattr(generate, "TIMEOUT_S", 0.01)  # the run is cut off at once
    assert generate.main(["ics"]) == 1
    printed = capsys.readouterr().out
    assert "FAILED: timed out" in printed and "failed (their previous files kept): ics" in printed
    assert {p.name: p.read_bytes() for p in (tmp_path / "ics").iterdir()} == before
    with pytest.raises(SystemExit):
        generate.main(["no-such-experiment"])
