"""The lessons as coursework: student notebooks (nbgrader's release) and solution notebooks.

A lesson is a jupytext percent-format file ``NN_topic.py``. An *exercise* is a code cell
whose header carries ``exercise="id"`` and nbgrader's solution-cell metadata; the code a
student writes sits between nbgrader's markers. The next code cell (header ``check="id"`` and
nbgrader's metadata of a locked, autograded test cell with its points) checks it with
:func:`nanograd_ad.check` inside :func:`nanograd_ad.checking`, and may hold hidden tests::

    # %% exercise="delta_output" nbgrader={"grade": false, "grade_id": "delta_output", "solution": true, ...}
    ### BEGIN SOLUTION
    delta2 = dC_da2 * a2 * (1 - a2)
    ### END SOLUTION

    # %% check="delta_output" nbgrader={"grade": true, "grade_id": "check_delta_output", "points": 2, ...}
    with ng.checking(3, "delta_output"):
        ng.check("delta2", delta2, expected_delta2)
        ### BEGIN HIDDEN TESTS
        ng.check("delta2 at another batch", ...)
        ### END HIDDEN TESTS

``student_notebook`` is what ``nbgrader generate_assignment`` releases: every solution region
replaced by ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the region's indentation,
every hidden-test region removed. ``solution_notebook`` keeps the lesson whole, markers
included: an nbgrader *source* notebook. ``nanograd-ad lessons --student DIR`` /
``--solutions DIR`` write them; ``nanograd-ad course DIR`` (:mod:`nanograd_ad.course`) writes
a whole nbgrader course folder.

The lessons ship inside the package (``nanograd_ad.lessons``, mapped onto the
repository's ``lessons/`` folder); from a source checkout that is not installed they are
read from ``lessons/`` beside the package. Reading and writing notebooks needs the
``lessons`` extra (jupytext, nbformat): ``pip install "nanograd_ad[lessons]"``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

__all__ = [
    "BEGIN_HIDDEN_TESTS",
    "BEGIN_SOLUTION",
    "END_HIDDEN_TESTS",
    "END_SOLUTION",
    "LessonError",
    "exercise_ids",
    "lesson_files",
    "read_lesson",
    "solution_notebook",
    "strip_hidden_tests",
    "strip_solutions",
    "student_notebook",
    "write_lessons",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"
STUDENT_CODE = ("# YOUR CODE HERE", "raise NotImplementedError()")
LESSON_PATTERN = re.compile(r"^\d\d_\w+\.py$")
INSTALL_HINT = 'pip install "nanograd_ad[lessons]"  (from a clone: pip install -e ".[lessons]")'


class LessonError(ValueError):
    """A lesson file breaks the exercise format (unmatched markers, a missing check cell)."""


def lesson_files() -> list:
    """The shipped lessons ``NN_topic.py``, in order (``pathlib.Path`` or importlib Traversable)."""
    try:
        from importlib.resources import files

        root = files("nanograd_ad.lessons")
        shipped = sorted((f for f in root.iterdir() if LESSON_PATTERN.match(f.name)), key=lambda f: f.name)
        if shipped:
            return shipped
    except ModuleNotFoundError:  # a source checkout on sys.path, not installed
        pass
    source = Path(__file__).resolve().parent.parent / "lessons"
    found = sorted(p for p in source.glob("[0-9][0-9]_*.py") if LESSON_PATTERN.match(p.name))
    if not found:
        raise FileNotFoundError(
            f"no lessons found: neither the package data nanograd_ad.lessons nor {source} holds "
            f"NN_topic.py files; reinstall nanograd_ad ({INSTALL_HINT})"
        )
    return found


def _jupytext():
    try:
        import jupytext
    except ImportError:
        raise ImportError(f"reading lessons needs jupytext: {INSTALL_HINT}") from None
    return jupytext


def read_lesson(path):
    """The lesson at ``path`` (a path or Traversable of a percent-format .py) as an nbformat notebook."""
    text = (
        Path(path).read_text(encoding="utf-8") if isinstance(path, (str, Path)) else path.read_text("utf-8")
    )
    return _jupytext().reads(text, fmt="py:percent")


def _replace_regions(source: str, begin: str, end: str, placeholder: tuple, where: str) -> str:
    """Replace each ``begin``/``end`` region (markers included) by ``placeholder`` at its indentation."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == begin:
            if inside:
                raise LessonError(f"{where}, line {number}: {begin} inside a region it opened")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + text for text in placeholder]
        elif marker == end:
            if not inside:
                raise LessonError(f"{where}, line {number}: {end} without {begin}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LessonError(f"{where}: {begin} is never closed by {end}")
    return "\n".join(out)


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace each BEGIN/END SOLUTION region (markers included) by the student placeholder.

    The placeholder keeps the indentation of the BEGIN line, so a region inside a function
    body leaves a valid body. ``where`` names the cell in error messages.
    """
    return _replace_regions(source, BEGIN_SOLUTION, END_SOLUTION, STUDENT_CODE, where)


def strip_hidden_tests(source: str, where: str = "cell") -> str:
    """Remove each BEGIN/END HIDDEN TESTS region, markers included (nbgrader's release)."""
    return _replace_regions(source, BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, (), where)


def _has_solution(cell) -> bool:
    return cell.cell_type == "code" and any(
        line.strip() == BEGIN_SOLUTION for line in cell.source.splitlines()
    )


def _nbgrader_problem(cell, exercise: str, kind: str) -> str | None:
    """What is wrong with a cell's nbgrader metadata (None: it is right for ``kind``)."""
    meta = cell.metadata.get("nbgrader")
    if not isinstance(meta, dict):
        return "has no nbgrader={...} metadata in its header"
    if kind == "exercise":
        wanted = {"solution": True, "grade": False, "locked": False, "grade_id": exercise}
    else:
        wanted = {"solution": False, "grade": True, "locked": True, "grade_id": f"check_{exercise}"}
    wrong = {key: meta.get(key) for key, value in wanted.items() if meta.get(key) != value}
    if wrong:
        return f"has nbgrader {wrong}, needs {wanted}"
    if kind == "check":
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
            return f"is a graded test cell worth {points!r} points; every exercise is worth some (> 0)"
    return None


def exercise_ids(nb, name: str = "lesson") -> list[str]:
    """The exercise ids in order, after checking the format.

    Every cell with a solution region is tagged ``exercise="id"`` (ids unique) and is an
    nbgrader solution cell (``grade_id`` the id); every exercise cell has a region; the next
    code cell is its ``check="id"`` cell: a locked nbgrader test cell ``check_id`` with points,
    whose code runs inside ``with ng.checking(n, "id"):`` (n: the exercise's number).
    """
    ids: list[str] = []
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for position, cell in enumerate(code_cells):
        exercise = cell.metadata.get("exercise")
        if _has_solution(cell) != (exercise is not None):
            problem = (
                "has a solution region but no exercise=" if exercise is None else "has no solution region"
            )
            raise LessonError(f"{name}: the cell starting {cell.source[:60]!r} {problem}")
        if exercise is None:
            continue
        if exercise in ids:
            raise LessonError(f"{name}: exercise id {exercise!r} is used twice")
        following = code_cells[position + 1] if position + 1 < len(code_cells) else None
        if following is None or following.metadata.get("check") != exercise:
            raise LessonError(
                f"{name}: exercise {exercise!r} must be followed by a code cell check={exercise!r}"
            )
        for kind, which in (("exercise", cell), ("check", following)):
            wrong = _nbgrader_problem(which, exercise, kind)
            if wrong is not None:
                raise LessonError(f"{name}: the {kind} cell of exercise {exercise!r} {wrong}")
        opening = f"with ng.checking({len(ids) + 1}, {exercise!r})".replace("'", '"') + ":"
        if following.source.splitlines()[:1] != [opening]:
            raise LessonError(f"{name}: the check cell of exercise {exercise!r} must start with {opening!r}")
        strip_solutions(cell.source, where=f"{name}, exercise {exercise!r}")  # markers balanced
        strip_hidden_tests(following.source, where=f"{name}, check {exercise!r}")
        ids.append(exercise)
    return ids


def _course_copy(nb, name: str):
    """A copy without the jupytext pairing (a written notebook should not sprout a .py on save)."""
    exercise_ids(nb, name)
    nb = copy.deepcopy(nb)
    nb.metadata.pop("jupytext", None)
    return nb


def solution_notebook(nb, name: str = "lesson"):
    """The lesson whole, markers and hidden tests kept: an nbgrader source notebook.

    Its nbgrader metadata comes from the lesson's cell headers (solution cells, locked test
    cells with points); ``nbgrader generate_assignment`` needs nothing added.
    """
    return _course_copy(nb, name)


def student_notebook(nb, name: str = "lesson"):
    """nbgrader's release of the lesson: solution regions → ``# YOUR CODE HERE`` and a raise,
    hidden-test regions removed."""
    nb = _course_copy(nb, name)
    for cell in nb.cells:
        if cell.metadata.get("exercise") is not None:
            cell.source = strip_solutions(
                cell.source, where=f"{name}, exercise {cell.metadata['exercise']!r}"
            )
        if cell.metadata.get("check") is not None:
            cell.source = strip_hidden_tests(cell.source, where=f"{name}, check {cell.metadata['check']!r}")
    return nb


def write_lessons(directory, kind: str, force: bool = False, lessons: list | None = None) -> list[Path]:
    """Write every lesson as ``directory/NN_topic.ipynb``; ``kind`` is "student" or "solutions".

    Refuses to overwrite an existing notebook (a student's work) unless ``force``.
    Returns the written paths.
    """
    if kind not in ("student", "solutions"):
        raise ValueError(f"write_lessons: kind must be 'student' or 'solutions', got {kind!r}")
    make = student_notebook if kind == "student" else solution_notebook
    directory = Path(directory)
    sources = lesson_files() if lessons is None else list(lessons)
    targets = [directory / (Path(source.name).stem + ".ipynb") for source in sources]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise FileExistsError(
            f"not overwriting {', '.join(existing)} (it may hold your work); "
            "pass --force to replace, or pick another folder"
        )
    import nbformat

    notebooks = [make(read_lesson(source), Path(source.name).stem) for source in sources]
    directory.mkdir(parents=True, exist_ok=True)
    for nb, target in zip(notebooks, targets):
        nbformat.write(nb, str(target))
    return targets


# ----------------------------------------------------------------------------- the command
def add_lessons_command(commands) -> None:
    """Add ``lessons`` to the ``nanograd-ad`` sub-commands."""
    sub = commands.add_parser(
        "lessons",
        help="write the lessons as student or solution notebooks",
        description=(
            "Write every lesson as DIR/NN_topic.ipynb: --student replaces each solution region by "
            "'# YOUR CODE HERE' and 'raise NotImplementedError()'; --solutions writes them whole, "
            "nbgrader's markers kept."
        ),
    )
    sub.add_argument("--student", type=Path, metavar="DIR", help="write the student notebooks here")
    sub.add_argument("--solutions", type=Path, metavar="DIR", help="write the solution notebooks here")
    sub.add_argument("--force", action="store_true", help="overwrite existing notebooks")
    sub.add_argument("--list", action="store_true", help="list the lessons and their exercises")


def run_lessons_command(args, out=None) -> int:
    """Carry out ``nanograd-ad lessons``; returns the exit code (2: bad options or files)."""
    import sys

    out = sys.stdout if out is None else out
    if args.student is None and args.solutions is None and not args.list:
        print("nanograd-ad lessons: error: give --student DIR, --solutions DIR or --list", file=sys.stderr)
        return 2
    try:
        if args.list:
            for source in lesson_files():
                stem = Path(source.name).stem
                print(f"{stem}: exercises {', '.join(exercise_ids(read_lesson(source), stem))}", file=out)
        for kind, directory in (("student", args.student), ("solutions", args.solutions)):
            if directory is not None:
                written = write_lessons(directory, kind, force=args.force)
                print(f"wrote {len(written)} {kind} notebooks to {directory}/", file=out)
    except (ImportError, FileExistsError, FileNotFoundError, LessonError, OSError) as err:
        print(f"nanograd-ad lessons: error: {err}", file=sys.stderr)
        return 2
    return 0
