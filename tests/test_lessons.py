"""The lessons as coursework: solution notebooks run green, student notebooks stop at the
first exercise, and every exercise's check catches planted wrong answers.

A lesson is a jupytext percent-format ``lessons/NN_topic.py``; it is picked up here just by
existing. For each lesson:

* **solution notebook** (``notebooks.solution_notebook``, what ``nanograd-ad lessons
  --solutions`` writes) runs top to bottom in a real Jupyter kernel in quick mode: a cell
  right after the ``parameters`` cell sets ``QUICK = True`` and ``FIGURE_DIR`` (papermill's
  "injected-parameters" convention). Any cell that raises fails the test.
* **planted wrong answers** live in ``tests/planted/NN_topic.py`` (``MISTAKES = {exercise
  id: [mistake, ...]}``). In that same run, right after each exercise's check cell, one
  injected cell runs every mistake of that exercise in process: it executes the mistake's
  code on a *copy* of the notebook's namespace (the real state is untouched), runs the
  check cell's source there, and records the ``CheckError``. The test then demands that
  every mistake was caught by ``nanograd_ad.check`` with a message naming its array (and
  the expected hint, where the mistake gives one). No notebook is re-run per mistake.
* **student notebook** (``notebooks.student_notebook``) runs in a kernel and must stop at
  its first exercise cell with ``NotImplementedError``; every exercise cell must hold the
  placeholder and no solution code.
* **the device branch** of a lesson that has one (its planted file defines ``ON_DEVICE``:
  mistakes harmless on NumPy and wrong on a GPU) runs once more with the strict CuPy
  stand-in ``tests/strict_cupy.py`` registered as CuPy, so the lesson takes its GPU path on
  the CPU under CuPy's rules; every mistake, ``ON_DEVICE``'s included, must be caught there.

The kernel is this very Python: a kernelspec pointing at ``sys.executable`` is written to a
temporary folder and handed to the kernel manager, so no ``python3`` kernelspec is needed.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import jupytext
import nbformat
import pytest
from lesson_kernel import (
    LESSONS,
    QUICK_PARAMETERS,
    ROOT,
    TESTS_DIR,
    execute,
    inject_parameters,
    inject_planted_mistakes,
    planted_mistakes,
    planted_on_device,
    planted_outcomes,
    run_lesson,
    stdout,
)
from nbclient.exceptions import CellExecutionError

from nanograd_ad import cli, notebooks

pytestmark = pytest.mark.lesson

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
    "threadpoolctl",  # optional (lesson 10 times the CPU on one BLAS thread where it is installed)
}


def _write_lesson(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def uncaught(outcomes: list[dict], mistakes: dict[str, list[dict]]) -> list[str]:
    """Why each mistake was not caught properly (empty: all caught by a CheckError naming the array)."""
    wanted = {(exercise, m["what"]): m for exercise, ms in mistakes.items() for m in ms}
    seen = {(o["exercise"], o["what"]): o for o in outcomes}
    problems = [
        f"{e}: {w!r} never ran (is check={e!r} in the lesson?)" for e, w in wanted if (e, w) not in seen
    ]
    for key, outcome in seen.items():
        mistake, (exercise, what) = wanted[key], key
        label = f"{exercise}: planted {what!r}"
        if "setup_error" in outcome:
            problems.append(f"{label}: its code raised {outcome['setup_error']}")
        elif outcome["error"] is None:
            problems.append(f"{label}: the check PASSED")
        elif outcome["error"] != "CheckError":
            problems.append(
                f"{label}: raised {outcome['error']}, not a CheckError: {outcome['message'][:200]}"
            )
        elif f"'{mistake['array']}'" not in outcome["message"]:
            problems.append(
                f"{label}: the message does not name {mistake['array']!r}: {outcome['message'][:200]}"
            )
        elif mistake.get("hint") and mistake["hint"] not in (outcome["hint"] or ""):
            problems.append(f"{label}: hint {outcome['hint']!r} lacks {mistake['hint']!r}")
    return problems


# ------------------------------------------------------------------ the lessons
def test_lessons_are_found():
    names = [p.name for p in LESSONS]
    for expected in (
        "01_backprop_by_hand.py",
        "02_swapping_the_derivative.py",
        "03_convolution_backward_by_hand.py",
        "04_vanishing_gradients.py",
    ):
        assert expected in names, names


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_is_an_exercise_set(lesson):
    """Exercises in the format (markers, exercise=/check= cells), each with planted mistakes;
    the first code cell checks that nanograd_ad imports."""
    nb = jupytext.read(lesson)
    ids = notebooks.exercise_ids(nb, lesson.stem)
    assert ids, f"{lesson.name} has no exercise"
    mistakes = planted_mistakes(lesson)
    assert set(mistakes) <= set(ids), f"planted mistakes for unknown exercises {set(mistakes) - set(ids)}"
    on_device = planted_on_device(lesson)
    assert set(on_device) <= set(ids), f"ON_DEVICE mistakes for unknown exercises {set(on_device) - set(ids)}"
    missing = [e for e in ids if not mistakes.get(e)]
    assert not missing, f"tests/planted/{lesson.name}: no planted mistake for exercises {missing}"
    checks = [c for c in nb.cells if c.cell_type == "code" and "check" in c.metadata]
    for cell in checks:
        assert "ng.check(" in cell.source, f"check cell {cell.metadata['check']!r} does not call ng.check"
    for cell in nb.cells:  # alt text for every figure (nbconvert, nbgrader's feedback use it)
        if cell.cell_type == "code" and 'save(fig, "' in cell.source:
            assert len(cell.metadata.get("alt", "")) > 20, f"{lesson.name}: a figure cell has no alt= text"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "import nanograd_ad" in first_code.source and "pip install" in first_code.source, (
        f"{lesson.name}: the first code cell should check that nanograd_ad imports and say how to install it"
    )


@pytest.fixture(params=LESSONS, ids=[p.stem for p in LESSONS])
def solution_run(request, executed_lessons):
    """The lesson's solution notebook, run once per session in quick mode, planted mistakes injected
    (the session fixture ``executed_lessons`` of conftest.py)."""
    run = executed_lessons[request.param]
    return run.lesson, run.nb, run.mistakes, run.workdir, run.seconds


def test_solution_notebook_runs(solution_run):
    lesson, nb, _, workdir, _ = solution_run
    pngs = sorted((workdir / "figures").glob("*.png"))
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


def test_planted_mistakes_are_caught(solution_run):
    lesson, nb, mistakes, _, _ = solution_run
    problems = uncaught(planted_outcomes(nb), mistakes)
    assert not problems, f"{lesson.name}:\n" + "\n".join(problems)


# Run in the kernel right after the parameters cell: CuPy's place taken by the strict stand-in,
# so backend.module("cupy") finds it and the lesson takes its device branch.
STAND_IN_CELL = f"""
import sys
sys.path.insert(0, {str(TESTS_DIR)!r})
import strict_cupy
from nanograd_ad import backend
backend.use("cupy", module=strict_cupy)  # registered as the device module …
backend.use("numpy")  # … and the lesson starts on the host, as always
"""
LESSONS_ON_DEVICE = [p for p in LESSONS if planted_on_device(p)]


@pytest.mark.parametrize("lesson", LESSONS_ON_DEVICE, ids=[p.stem for p in LESSONS_ON_DEVICE])
def test_device_branch_runs_on_the_strict_stand_in(lesson, kernel_dirs, tmp_path):
    """The lesson's GPU path, on the CPU under CuPy's rules (no implicit host↔device moves):
    it runs green, says it took the device branch, and every planted mistake — ``MISTAKES``
    and the device-only ``ON_DEVICE`` — is caught by a check naming its array."""
    general, on_device = planted_mistakes(lesson), planted_on_device(lesson)
    mistakes = {e: general.get(e, []) + on_device.get(e, []) for e in {*general, *on_device}}
    nb = inject_planted_mistakes(notebooks.solution_notebook(jupytext.read(lesson), lesson.stem), mistakes)
    tagged = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(tagged + 1, nbformat.v4.new_code_cell(STAND_IN_CELL, metadata={"tags": ["stand-in"]}))
    execute(nb, kernel_dirs, tmp_path, {**QUICK_PARAMETERS, "FIGURE_DIR": str(tmp_path / "figures")})
    out = stdout(nb)
    assert "strict_cupy" in out and "NO GPU" not in out, out[:2000]
    problems = uncaught(planted_outcomes(nb), mistakes)
    assert not problems, f"{lesson.name} on the stand-in:\n" + "\n".join(problems)


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_student_notebook_stops_at_first_exercise(lesson, kernel_dirs, tmp_path):
    nb = notebooks.student_notebook(jupytext.read(lesson), lesson.stem)
    exercises = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "exercise" in c.metadata]
    for i in exercises:
        source = nb.cells[i].source
        assert "raise NotImplementedError()" in source and "# YOUR CODE HERE" in source
        assert "SOLUTION" not in source, source
        ast.parse(source)  # the placeholder keeps the cell valid Python
    first = nb.cells[exercises[0]].metadata["exercise"]
    with pytest.raises(CellExecutionError) as raised:
        execute(nb, kernel_dirs, tmp_path, {**QUICK_PARAMETERS, "FIGURE_DIR": str(tmp_path / "figures")})
    # a variable exercise raises in its own cell; a function exercise when its check cell calls it,
    # and the check cell says so
    assert raised.value.ename == "NotImplementedError" or (
        raised.value.ename == "CheckError" and f"exercise 1 (`{first}`) is not done yet" in str(raised.value)
    ), (raised.value.ename, str(raised.value)[-500:])
    failed = [
        cell.metadata.get("exercise") or cell.metadata.get("check")
        for cell in nb.cells
        if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    ]
    assert failed == [first], failed


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
SOLUTION_META = '"grade": false, "locked": false, "schema_version": 3, "solution": true, "task": false'
TEST_META = (
    '"grade": true, "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false'
)
ZERO_POINTS_META = TEST_META.replace('"points": 1', '"points": 0')
EXERCISE_LESSON = f"""
    # %% tags=["parameters"]
    QUICK = False

    # %%
    import nanograd_ad as ng
    import numpy as np
    x = np.arange(6.0).reshape(2, 3)

    # %% exercise="double" nbgrader={{"grade_id": "double", {SOLUTION_META}}}
    def double(v):
        ### BEGIN SOLUTION
        return 2 * v
        ### END SOLUTION

    # %% check="double" nbgrader={{"grade_id": "check_double", {TEST_META}}}
    with ng.checking(1, "double"):
        ng.check("doubled", double(x), 2 * x)
        ### BEGIN HIDDEN TESTS
        ng.check("doubled at 1", double(1.0), 2.0)
        ### END HIDDEN TESTS

    # %% exercise="transpose" nbgrader={{"grade_id": "transpose", {SOLUTION_META}}}
    ### BEGIN SOLUTION
    xt = x.T
    ### END SOLUTION

    # %% check="transpose" nbgrader={{"grade_id": "check_transpose", {TEST_META}}}
    with ng.checking(2, "transpose"):
        ng.check("xt", xt, x.T)
    """


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
    assert f"kernel: {sys.executable}" in stdout(nb)


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
    assert "quick mode on" in stdout(nb)
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


def test_planted_mistakes_machinery_flags_what_it_should(kernel_dirs, tmp_path):
    """A caught mistake passes; a mistake the check lets through, one whose message lacks the
    array's name, one with the wrong hint and one that crashes are all reported — and the
    notebook's own state is untouched by the mistakes."""
    lesson = _write_lesson(tmp_path / "96_exercises.py", EXERCISE_LESSON)
    mistakes = {
        "double": [
            dict(what="tripled", code="def double(v):\n    return 3 * v", array="doubled", hint="1.5 ×"),
            dict(
                what="wrong hint expected",
                code="def double(v):\n    return 3 * v",
                array="doubled",
                hint="sign",
            ),
        ],
        "transpose": [
            dict(what="not transposed", code="xt = x", array="xt", hint="transposed"),
            dict(what="right answer", code="xt = x.T.copy()", array="xt"),
            dict(what="caught, but another name", code="xt = -x.T", array="x_transposed"),
            dict(what="crashes", code="xt = undefined_name", array="xt"),
        ],
    }
    nb = inject_planted_mistakes(notebooks.solution_notebook(jupytext.read(lesson), "96"), mistakes)
    nb.cells.append(
        nbformat.v4.new_code_cell("assert double(1) == 2 and xt.shape == (3, 2)\nprint('state intact')")
    )
    execute(nb, kernel_dirs, tmp_path, QUICK_PARAMETERS)
    assert "state intact" in stdout(nb)
    problems = uncaught(planted_outcomes(nb), mistakes)
    assert len(problems) == 4, problems
    assert any("'wrong hint expected'" in p and "lacks 'sign'" in p for p in problems)
    assert any("'right answer'" in p and "PASSED" in p for p in problems)
    assert any("'caught, but another name'" in p and "does not name" in p for p in problems)
    assert any("'crashes'" in p and "NameError" in p for p in problems)
    assert uncaught([], {"double": [mistakes["double"][0]]}) == [
        "double: 'tripled' never ran (is check='double' in the lesson?)"
    ]


def test_student_machinery_on_a_small_lesson(kernel_dirs, tmp_path):
    lesson = _write_lesson(tmp_path / "95_exercises.py", EXERCISE_LESSON)
    nb = notebooks.student_notebook(jupytext.read(lesson), "95")
    sources = [c.source for c in nb.cells if "exercise" in c.metadata]
    assert sources == [
        "def double(v):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
        "# YOUR CODE HERE\nraise NotImplementedError()",
    ]
    checks = [c.source for c in nb.cells if "check" in c.metadata]
    # the hidden test is gone
    assert checks[0] == 'with ng.checking(1, "double"):\n    ng.check("doubled", double(x), 2 * x)'
    with pytest.raises(CellExecutionError) as raised:
        execute(nb, kernel_dirs, tmp_path, QUICK_PARAMETERS)
    assert raised.value.ename == "CheckError" and "exercise 1 (`double`) is not done yet" in str(raised.value)


# ------------------------------------------------------------ the format and the transform
def test_strip_solutions_keeps_indentation_and_the_rest():
    source = "a = 1\nif a:\n    ### BEGIN SOLUTION\n    b = 2\n    c = 3\n    ### END SOLUTION\nprint(a)"
    assert notebooks.strip_solutions(source) == (
        "a = 1\nif a:\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(a)"
    )


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside a region it opened"),
    ],
)
def test_unbalanced_markers_are_refused(source, message):
    with pytest.raises(notebooks.LessonError, match=message):
        notebooks.strip_solutions(source, where="cell 3")


@pytest.mark.parametrize(
    "body, message",
    [
        ('# %%\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n\n# %% check="a"\nx\n', "no exercise="),
        ('# %% exercise="a"\nx = 1\n\n# %% check="a"\nx\n', "no solution region"),
        ('# %% exercise="a"\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n\n# %%\nx\n', "followed by"),
        ('# %% exercise="a"\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n\n# %% check="a"\nx\n', "nbgrader"),
        (
            f'# %% exercise="a" nbgrader={{"grade_id": "a", {SOLUTION_META}}}\n### BEGIN SOLUTION\nx = 1\n'
            f'### END SOLUTION\n\n# %% check="a" nbgrader={{"grade_id": "check_a", '
            f"{ZERO_POINTS_META}}}\nx\n",
            "worth 0 points",
        ),
        (
            f'# %% exercise="a" nbgrader={{"grade_id": "a", {SOLUTION_META}}}\n### BEGIN SOLUTION\nx = 1\n'
            f'### END SOLUTION\n\n# %% check="a" nbgrader={{"grade_id": "check_a", {TEST_META}}}\nx\n',
            "must start with 'with ng.checking",
        ),
    ],
)
def test_exercise_format_errors_are_named(body, message):
    nb = jupytext.reads(body, fmt="py:percent")
    with pytest.raises(notebooks.LessonError, match=message):
        notebooks.exercise_ids(nb, "99_bad")


def test_solution_notebook_keeps_markers_and_marks_cells_for_nbgrader(tmp_path):
    lesson = _write_lesson(tmp_path / "94_exercises.py", EXERCISE_LESSON)
    nb = notebooks.solution_notebook(jupytext.read(lesson), "94_exercises")
    cells = [c for c in nb.cells if "exercise" in c.metadata]
    assert all(notebooks.BEGIN_SOLUTION in c.source and notebooks.END_SOLUTION in c.source for c in cells)
    assert [c.metadata["nbgrader"]["grade_id"] for c in cells] == ["double", "transpose"]
    assert all(c.metadata["nbgrader"]["solution"] for c in cells)
    tests = [c for c in nb.cells if "check" in c.metadata]
    assert [c.metadata["nbgrader"]["grade_id"] for c in tests] == ["check_double", "check_transpose"]
    assert all(c.metadata["nbgrader"]["grade"] and c.metadata["nbgrader"]["locked"] for c in tests)
    assert notebooks.BEGIN_HIDDEN_TESTS in tests[0].source
    assert "jupytext" not in nb.metadata  # no pairing: saving must not write a .py beside it
    nbformat.validate(nb)


# ------------------------------------------------------------ the command
def _lesson_sources(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def test_lessons_command_writes_student_and_solution_notebooks(tmp_path, capsys):
    student, solutions = tmp_path / "student", tmp_path / "solutions"
    assert cli.main(["lessons", "--student", str(student), "--solutions", str(solutions)]) == 0
    names = sorted(p.name for p in student.glob("*.ipynb"))
    assert names == sorted(p.stem + ".ipynb" for p in LESSONS)
    assert names == sorted(p.name for p in solutions.glob("*.ipynb"))
    for name in names:
        given = nbformat.read(str(student / name), as_version=4)
        whole = nbformat.read(str(solutions / name), as_version=4)
        nbformat.validate(given)
        assert "BEGIN SOLUTION" not in _lesson_sources(
            given
        ) and "raise NotImplementedError()" in _lesson_sources(given)
        assert "### BEGIN SOLUTION" in _lesson_sources(whole)
        assert len(given.cells) == len(whole.cells)
    assert "wrote" in capsys.readouterr().out

    # a second run would overwrite a student's work: refused unless --force
    assert cli.main(["lessons", "--student", str(student)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert cli.main(["lessons", "--student", str(student), "--force"]) == 0


def test_lessons_command_needs_a_folder(capsys):
    assert cli.main(["lessons"]) == 2
    assert "--student" in capsys.readouterr().err


def test_lessons_command_lists_the_exercises(capsys):
    assert cli.main(["lessons", "--list"]) == 0
    out = capsys.readouterr().out
    for lesson in LESSONS:
        assert lesson.stem in out


# ------------------------------------------------------------ shipped inside the package
def _copy_project(destination: Path) -> Path:
    """The files git would ship (tracked or not ignored), copied to ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


BUILD_WHEELS = """
import sys
from setuptools import build_meta
out = sys.argv[1]  # setuptools rewrites sys.argv while it builds
regular = build_meta.build_wheel(out)
editable = build_meta.build_editable(out)
print("WHEELS", regular, editable)
"""

# With a folder of installed files as a site directory (its .pth files processed, as in
# site-packages), this environment's packages behind it and no PYTHONPATH: where do the
# lessons come from, and (with an output folder) does ``nanograd-ad lessons --student`` work?
RUN_INSTALLED = """
import os, site, sys
# Stand in for a fresh environment: forget an editable install of nanograd_ad this interpreter
# may already have (CI installs the checkout with pip install -e), so only sys.argv[1] counts.
sys.meta_path = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
for name in [m for m in sys.modules if m.startswith("__editable__")]:
    del sys.modules[name]  # the unpacked wheel's .pth imports a finder module of the same name …
sys.path = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "nanograd_ad"))]
sys.path.insert(0, sys.argv[1])  # … which must come from sys.argv[1], not from this environment
site.addsitedir(sys.argv[1])
import nanograd_ad.notebooks as notebooks
found = notebooks.lesson_files()
print("LESSONS-FROM", found[0].parent)
print("LESSONS", *[f.name for f in found])
if len(sys.argv) > 2:  # importing jupytext costs seconds: one run is enough
    from nanograd_ad.cli import main
    raise SystemExit(main(["lessons", "--student", sys.argv[2]]))
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="copies the project with git ls-files")
def test_lessons_ship_in_the_wheel_and_work_from_regular_and_editable_installs(tmp_path):
    """Build a wheel and an editable wheel of a copy of the project (setuptools' PEP 517
    backend, as pip does): the lessons are in the wheel as nanograd_ad/lessons/. Unpack each
    into a site directory — what pip install puts in site-packages — and run ``nanograd-ad
    lessons --student`` from an unrelated folder: the regular install reads the shipped
    lessons, the editable one the project's lessons/ folder."""
    project = _copy_project(tmp_path / "project")
    dist = tmp_path / "dist"
    dist.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    built = subprocess.run(
        [sys.executable, "-c", BUILD_WHEELS, str(dist)], cwd=project, env=env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    regular, editable = next(line for line in built.stdout.splitlines() if line.startswith("WHEELS")).split()[
        1:
    ]
    shipped = set(zipfile.ZipFile(dist / regular).namelist())
    for lesson in LESSONS:
        assert f"nanograd_ad/lessons/{lesson.name}" in shipped, sorted(shipped)
    assert {"nanograd_ad/lessons/README.md", "nanograd_ad/notebooks.py", "nanograd_ad/exercise.py"} <= shipped

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for kind, wheel, lessons_root in (
        ("regular", regular, tmp_path / "regular" / "nanograd_ad" / "lessons"),
        ("editable", editable, project / "lessons"),
    ):
        site_dir = tmp_path / kind
        zipfile.ZipFile(dist / wheel).extractall(site_dir)
        out = elsewhere / kind
        ran = subprocess.run(
            [sys.executable, "-c", RUN_INSTALLED, str(site_dir), *([str(out)] if kind == "regular" else [])],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, (kind, ran.stdout, ran.stderr[-3000:])
        lines = dict(line.split(" ", 1) for line in ran.stdout.splitlines() if line.startswith("LESSONS"))
        assert lines["LESSONS-FROM"] == str(lessons_root), (kind, lines)
        assert lines["LESSONS"].split() == [p.name for p in LESSONS], (kind, lines)
    assert sorted(p.name for p in (elsewhere / "regular").glob("*.ipynb")) == [
        p.stem + ".ipynb" for p in LESSONS
    ]
