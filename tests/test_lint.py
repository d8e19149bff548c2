"""The habits the README's test command enforces: ruff (lint and format) and mypy, configured in
pyproject.toml. Each check is skipped, with the reason, when its tool is not installed
(``pip install -e ".[dev]"``; the ``test`` extra brings both too)."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# ruff lint: the package, the tests, the benchmarks and the lessons (jupytext notebooks; their
# per-file ignores are in pyproject.toml)
LINTED = ["nanograd_ad", "tests", "benchmarks", "lessons"]


def run_tool(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_check_is_clean():
    result = run_tool("ruff", "check", *LINTED)
    assert result.returncode == 0, f"ruff check:\n{result.stdout}{result.stderr}"


def test_ruff_format_is_clean():
    result = run_tool("ruff", "format", "--check", ".")
    assert result.returncode == 0, (
        f"ruff format --check (run `ruff format .`):\n{result.stdout}{result.stderr}"
    )


def test_mypy_is_clean_on_the_package():
    """Plain ``mypy``, as pyproject.toml configures it: every module under nanograd_ad/, so a new
    module is checked the day it is added."""
    result = run_tool("mypy")
    assert result.returncode == 0, f"mypy:\n{result.stdout}{result.stderr}"
    checked = re.search(r"no issues found in (\d+) source files", result.stdout)
    modules = sorted((ROOT / "nanograd_ad").rglob("*.py"))
    assert checked and int(checked[1]) == len(modules), (
        f"mypy should check all {len(modules)} modules of nanograd_ad:\n{result.stdout}"
    )


def test_the_architecture_doc_lists_every_module():
    """docs/architecture.md has one line per module: a new module gets its line the day it is added."""
    listed = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = [p.name for p in sorted((ROOT / "nanograd_ad").glob("*.py")) if not p.name.startswith("__")]
    assert [m for m in modules if f"| `{m}` |" not in listed] == []


def test_the_training_loop_stays_one_concept():
    """The loop module is capped at 450 lines (evaluation, callbacks, history, divergence live apart)."""
    lines = len((ROOT / "nanograd_ad" / "train.py").read_text(encoding="utf-8").splitlines())
    assert lines <= 450, f"nanograd_ad/train.py has {lines} lines; move a concept into its own module"
