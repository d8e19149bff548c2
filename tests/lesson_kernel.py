"""Running lessons in a Jupyter kernel, for the tests (and, later, the website): the kernel,
the injected parameters, the planted wrong answers, and :class:`ExecutedLessons` — each lesson's
solution notebook executed once per test session in quick mode (``tests/conftest.py`` holds
it as the session fixture ``executed_lessons``; the lesson tests read it, and so can others).
"""

from __future__ import annotations

import json
import runpy
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from nanograd_ad import notebooks

ROOT = Path(__file__).resolve().parent.parent
LESSONS_DIR = ROOT / "lessons"
TESTS_DIR = Path(__file__).resolve().parent
PLANTED_DIR = TESTS_DIR / "planted"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
KERNEL_NAME = "nanograd-ad-lessons"
CELL_TIMEOUT_S = 120
QUICK_PARAMETERS = {"QUICK": True}
PLANTED_MARK = "PLANTED-RESULTS "


def write_kernel_dirs(root: Path) -> list[str]:
    """A folder holding one kernelspec, ``nanograd-ad-lessons``, that runs sys.executable."""
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


def execute(nb, kernel_dirs: list[str], workdir: Path, parameters: dict | None = None):
    """Execute ``nb`` in a fresh kernel (cwd ``workdir``), in place; return it.

    Raises :class:`CellExecutionError` at the first cell that raises.
    """
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


def run_lesson(path: Path, kernel_dirs: list[str], workdir: Path, parameters: dict | None = None):
    """Execute the lesson file at ``path`` as it is; return the notebook."""
    return execute(jupytext.read(path), kernel_dirs, workdir, parameters)


def stdout(nb) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


# ------------------------------------------------------------------ planted wrong answers
def planted_mistakes(lesson: Path) -> dict[str, list[dict]]:
    """``MISTAKES`` of ``tests/planted/<lesson stem>.py``: {exercise id: [mistake, ...]}.

    A mistake is ``dict(what=..., code=..., array=..., hint=None)``: ``code`` assigns the
    wrong answer (it must assign, not mutate arrays in place), ``array`` is the name the
    check's message must carry, ``hint`` an optional piece of the expected hint.
    """
    path = PLANTED_DIR / lesson.name
    if not path.exists():
        return {}
    return runpy.run_path(str(path))["MISTAKES"]


def planted_on_device(lesson: Path) -> dict[str, list[dict]]:
    """``ON_DEVICE`` of the planted file (absent: {}): mistakes only a GPU run can catch, such as
    ``np.asarray`` of a device array, which is harmless where NumPy is the only backend."""
    path = PLANTED_DIR / lesson.name
    if not path.exists():
        return {}
    return runpy.run_path(str(path)).get("ON_DEVICE", {})


# Defined once in the kernel (after the parameters); each injected cell calls it.
PLANTED_RUNNER = '''
def _run_planted_mistakes(exercise, check_source, mistakes):
    """Run each mistake's code and then the check on a copy of the namespace; print the outcome."""
    import json as _json
    outcomes = []
    for mistake in mistakes:
        namespace = dict(globals())
        outcome = {"exercise": exercise, "what": mistake["what"]}
        try:
            exec(mistake["code"], namespace)
        except Exception as err:
            outcome["setup_error"] = f"{type(err).__name__}: {err}"
            outcomes.append(outcome)
            continue
        try:
            exec(check_source, namespace)
        except Exception as err:
            outcome.update(error=type(err).__name__, message=str(err), hint=getattr(err, "hint", None))
        else:
            outcome["error"] = None
        outcomes.append(outcome)
    print("PLANTED-RESULTS " + _json.dumps(outcomes))
'''


def inject_planted_mistakes(nb, mistakes: dict[str, list[dict]]):
    """After each check cell, a cell running that exercise's planted mistakes (see module doc)."""
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    cells = list(nb.cells)
    out = [*cells[: tagged[0] + 1], nbformat.v4.new_code_cell(PLANTED_RUNNER)]
    for cell in cells[tagged[0] + 1 :]:
        out.append(cell)
        exercise = cell.metadata.get("check") if cell.cell_type == "code" else None
        if exercise is not None and mistakes.get(exercise):
            call = f"_run_planted_mistakes({exercise!r}, {cell.source!r}, {mistakes[exercise]!r})"
            out.append(nbformat.v4.new_code_cell(call, metadata={"tags": ["planted-mistakes"]}))
    nb.cells = out
    return nb


def planted_outcomes(nb) -> list[dict]:
    """The outcomes the injected cells printed, in order."""
    outcomes = []
    for line in stdout(nb).splitlines():
        if line.startswith(PLANTED_MARK):
            outcomes += json.loads(line[len(PLANTED_MARK) :])
    return outcomes


class ExecutedLesson:
    """One lesson's solution notebook, executed in quick mode with its planted mistakes injected."""

    def __init__(self, lesson: Path, nb, mistakes: dict, workdir: Path, seconds: float):
        self.lesson, self.nb, self.mistakes = lesson, nb, mistakes
        self.workdir, self.seconds = workdir, seconds

    @property
    def figures(self) -> list[Path]:
        """The PNGs the lesson saved to its FIGURE_DIR."""
        return sorted((self.workdir / "figures").glob("*.png"))


class ExecutedLessons:
    """Each lesson executed at most once: ``executed[lesson_path]`` runs it on first use, then caches."""

    def __init__(self, kernel_dirs: list[str], make_dir):
        self.kernel_dirs, self.make_dir, self.done = kernel_dirs, make_dir, {}

    def __getitem__(self, lesson: Path) -> ExecutedLesson:
        if lesson not in self.done:
            workdir = self.make_dir(lesson.stem)
            mistakes = planted_mistakes(lesson)
            nb = notebooks.solution_notebook(jupytext.read(lesson), lesson.stem)
            inject_planted_mistakes(nb, mistakes)
            start = time.perf_counter()
            parameters = {**QUICK_PARAMETERS, "FIGURE_DIR": str(workdir / "figures")}
            execute(nb, self.kernel_dirs, workdir, parameters)
            self.done[lesson] = ExecutedLesson(lesson, nb, mistakes, workdir, time.perf_counter() - start)
        return self.done[lesson]
