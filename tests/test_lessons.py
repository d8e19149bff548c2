"""Every lesson in ``lessons/`` runs, top to bottom, in a real Jupyter kernel.

A lesson is a jupytext percent-format ``.py`` file. The test reads it into an nbformat
notebook (``jupytext.read``), puts a cell right after the lesson's ``parameters`` cell
that sets the quick sizes (``QUICK = True`` and ``FIGURE_DIR``, papermill's
"injected-parameters" convention), and executes it with ``nbclient``. Any cell that
raises — including the lesson's own ``assert``s ("your gradient matches to 1e-7") —
fails the test with :class:`nbclient.exceptions.CellExecutionError`.

The kernel is this very Python: a kernelspec pointing at ``sys.executable`` is written
to a temporary folder and handed to the kernel manager, so the test never depends on a
``python3`` kernelspec being installed (or pointing at another interpreter).
"""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.lesson

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
KERNEL_NAME = "nanograd-ad-lessons"
CELL_TIMEOUT_S = 120
QUICK_PARAMETERS = {"QUICK": True}

# Imports a lesson may use: the library's public API, NumPy, Matplotlib, a little stdlib.
ALLOWED_TOP_LEVEL = {
    "nanograd_ad",
    "numpy",
    "matplotlib",
    "copy",
    "math",
    "os",
    "sys",
    "pathlib",
    "time",
    "__future__",
}


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A folder holding one kernelspec, ``nanograd-ad-lessons``, that runs sys.executable."""
    root = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(
        path=str(root / KERNEL_NAME), overrides={"display_name": f"nanograd_ad lessons ({sys.executable})"}
    )
    return [str(root)]


def inject_parameters(nb, parameters: dict):
    """Insert a cell assigning ``parameters`` right after the cell tagged ``parameters``."""
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"a lesson needs exactly one cell tagged 'parameters', found {len(tagged)}")
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(tagged[0] + 1, cell)
    return nb


def run_lesson(path: Path, kernel_dirs: list[str], workdir: Path, parameters: dict | None = None):
    """Execute the lesson at ``path`` in a fresh kernel (cwd ``workdir``); return the notebook.

    Raises :class:`CellExecutionError` at the first cell that raises.
    """
    nb = jupytext.read(path)
    if parameters is not None:
        inject_parameters(nb, parameters)
    km = AsyncKernelManager(
        kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs)
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


def _stdout(nb) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def _write_lesson(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip())
    return path


# ------------------------------------------------------------------ the lessons
def test_lessons_are_found():
    names = [p.name for p in LESSONS]
    assert "01_backprop_by_hand.py" in names and "02_swapping_the_derivative.py" in names, names


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs(lesson, kernel_dirs, tmp_path):
    figures = tmp_path / "figures"
    nb = run_lesson(lesson, kernel_dirs, tmp_path, {**QUICK_PARAMETERS, "FIGURE_DIR": str(figures)})
    pngs = sorted(figures.glob("*.png"))
    assert pngs, f"{lesson.name} saved no figure to FIGURE_DIR"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png.name} is not a PNG"
    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) >= len(pngs), "figures saved to files should also show in the notebook"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_uses_only_the_public_api(lesson):
    """Imports: nanograd_ad's public names and submodules, NumPy, Matplotlib, a little stdlib;
    no ``_private`` attribute is touched."""
    tree = ast.parse(lesson.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{lesson.name}:{node.lineno} imports private names {private}"
        else:
            if isinstance(node, ast.Attribute):
                attr = node.attr
                assert not (attr.startswith("_") and not attr.startswith("__")), (
                    f"{lesson.name}:{node.lineno} uses the private attribute {attr!r}"
                )
            continue
        for module in modules:
            parts = module.split(".")
            assert parts[0] in ALLOWED_TOP_LEVEL, f"{lesson.name}:{node.lineno} imports {module}"
            assert not any(p.startswith("_") for p in parts), (
                f"{lesson.name}:{node.lineno} imports the private module {module}"
            )


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_opens_as_a_notebook(lesson):
    """The jupytext header makes ``jupytext --to ipynb`` give a Python 3 notebook with
    markdown (the explanations, with LaTeX) and one ``parameters`` cell."""
    text = lesson.read_text()
    assert text.startswith("# ---\n# jupyter:\n"), f"{lesson.name} lacks the jupytext header"
    nb = jupytext.read(lesson)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["language"] == "python"
    kinds = {cell.cell_type for cell in nb.cells}
    assert kinds == {"markdown", "code"}, kinds
    assert any("$" in cell.source for cell in nb.cells if cell.cell_type == "markdown"), (
        f"{lesson.name} has no LaTeX in its markdown"
    )
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "QUICK" in tagged[0].source


# ------------------------------------------------------------ the machinery itself
def test_kernel_is_this_python(kernel_dirs, tmp_path):
    lesson = _write_lesson(
        tmp_path / "which_python.py",
        f"""
        # %%
        import sys
        assert sys.executable == {sys.executable!r}, sys.executable
        print("kernel:", sys.executable)
        """,
    )
    nb = run_lesson(lesson, kernel_dirs, tmp_path)
    assert f"kernel: {sys.executable}" in _stdout(nb)


def test_a_raising_cell_fails_the_run(kernel_dirs, tmp_path):
    lesson = _write_lesson(
        tmp_path / "99_broken.py",
        """
        # %% tags=["parameters"]
        QUICK = False

        # %%
        print("this cell is fine")

        # %%
        assert 1 + 1 == 3, "deliberately broken lesson"

        # %%
        print("never reached")
        """,
    )
    with pytest.raises(CellExecutionError, match="deliberately broken lesson"):
        run_lesson(lesson, kernel_dirs, tmp_path, QUICK_PARAMETERS)


def test_injected_parameters_reach_the_kernel(kernel_dirs, tmp_path):
    lesson = _write_lesson(
        tmp_path / "98_params.py",
        """
        # %% tags=["parameters"]
        QUICK = False
        EPOCHS = 1000

        # %%
        assert QUICK is True and EPOCHS == 1000, (QUICK, EPOCHS)
        print("quick mode on")
        """,
    )
    nb = run_lesson(lesson, kernel_dirs, tmp_path, QUICK_PARAMETERS)
    assert "quick mode on" in _stdout(nb)
    with pytest.raises(CellExecutionError):
        run_lesson(lesson, kernel_dirs, tmp_path)  # without injection: QUICK stays False


def test_a_lesson_without_parameters_cell_is_refused(tmp_path):
    lesson = _write_lesson(
        tmp_path / "97_noparams.py",
        """
        # %%
        QUICK = False
        """,
    )
    with pytest.raises(ValueError, match="parameters"):
        inject_parameters(jupytext.read(lesson), QUICK_PARAMETERS)
