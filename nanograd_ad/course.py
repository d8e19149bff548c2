"""``nanograd-ad course DIR``: the lessons as an nbgrader course folder, ready to grade.

    DIR/nbgrader_config.py                       course id; nbgrader's defaults otherwise
    DIR/source/NN_topic/NN_topic.ipynb           one assignment per lesson (solutions, hidden tests)
    DIR/hidden/NN_topic.py                       optional: the lecturer's private hidden tests

A lecturer then runs, in DIR, with nbgrader's defaults (30 s per cell)::

    nbgrader generate_assignment 01_backprop_by_hand     # release/: solutions and hidden tests removed
    nbgrader autograde 01_backprop_by_hand               # submitted/<student>/01_backprop_by_hand/
    nbgrader generate_feedback 01_backprop_by_hand

Every check cell is an autograded test cell with points; the hidden tests of the lessons sit
between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. They are public with the
library (like the solutions): they guard against answers tuned to the visible check, not
against a student who reads the source. A lecturer's *private* cases go in a percent-format
file, merged into the check cells of the source notebooks as further hidden tests::

    # %% lesson="01_backprop_by_hand" check="forward"
    ng.check("z1 of one sample", forward_by_hand(x[:1], W1, b1, W2, b2)[0], x[:1] @ W1 + b1)

(``nanograd-ad course DIR --hidden FILE``), or in ``DIR/hidden/NN_topic.py`` with cells headed
``# %% check="forward"`` (the lesson named by the file), merged on every run of the command.
"""

from __future__ import annotations

from pathlib import Path

from .notebooks import (
    BEGIN_HIDDEN_TESTS,
    END_HIDDEN_TESTS,
    LessonError,
    exercise_ids,
    lesson_files,
    read_lesson,
    solution_notebook,
)

__all__ = ["CONFIG", "merge_hidden_tests", "read_hidden_tests", "write_course"]

COURSE_ID = "nanograd_ad"
CONFIG = f'''"""nbgrader configuration of the nanograd_ad course (written by `nanograd-ad course`)."""

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "{COURSE_ID}"
# Everything else is nbgrader's default: source/<lesson>/, release/, submitted/<student>/<lesson>/,
# autograded/, feedback/, and ExecutePreprocessor.timeout = 30 s per cell, which every lesson
# cell finishes well within on two cores. The kernel is "python3": it needs nanograd_ad.
'''


def _read_text(path) -> str:
    return Path(path).read_text(encoding="utf-8")


def read_hidden_tests(path, lesson: str | None = None) -> dict[tuple[str, str], str]:
    """{(lesson, exercise id): code} from a percent-format file of private hidden tests.

    Each cell is headed ``# %% lesson="NN_topic" check="id"``; in a file of a ``hidden/``
    folder (``lesson`` given: its stem) ``lesson=`` may be left out.
    """
    import jupytext

    nb = jupytext.reads(_read_text(path), fmt="py:percent")
    tests: dict[tuple[str, str], str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        where = cell.metadata.get("lesson", lesson)
        exercise = cell.metadata.get("check")
        if where is None or exercise is None:
            raise LessonError(
                f"{path}: the cell starting {cell.source[:60]!r} needs a header "
                '# %% lesson="NN_topic" check="exercise id"'
            )
        key = (str(where), str(exercise))
        tests[key] = (tests[key] + "\n" if key in tests else "") + cell.source.rstrip()
    return tests


def merge_hidden_tests(nb, tests: dict[str, str], name: str):
    """Append ``tests`` ({exercise id: code}) to the check cells of ``nb`` as hidden tests.

    The code goes inside the check cell's ``with ng.checking(...)`` block, between
    ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``, so nbgrader strips it from the
    release and runs it when grading.
    """
    known = set(exercise_ids(nb, name))
    unknown = sorted(set(tests) - known)
    if unknown:
        raise LessonError(f"hidden tests for {name}: no exercise {unknown} (exercises: {sorted(known)})")
    for cell in nb.cells:
        exercise = cell.metadata.get("check")
        if cell.cell_type == "code" and exercise in tests:
            body = [("    " + line) if line.strip() else "" for line in tests[exercise].splitlines()]
            cell.source = "\n".join(
                [cell.source.rstrip(), f"    {BEGIN_HIDDEN_TESTS}", *body, f"    {END_HIDDEN_TESTS}"]
            )
    return nb


def write_course(directory, hidden=None, force: bool = False) -> list[Path]:
    """Write the nbgrader course folder ``directory``; returns the source notebooks written.

    ``hidden``: a file of private hidden tests (see the module doc); ``directory/hidden/``
    is merged too. Refuses to overwrite source notebooks unless ``force``.
    """
    import nbformat

    directory = Path(directory)
    private: dict[tuple[str, str], str] = {}
    folder = directory / "hidden"
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            private.update(read_hidden_tests(path, lesson=path.stem))
    if hidden is not None:
        for key, code in read_hidden_tests(hidden).items():
            private[key] = private[key] + "\n" + code if key in private else code
    sources = lesson_files()
    stems = [Path(source.name).stem for source in sources]
    strangers = sorted({lesson for lesson, _ in private} - set(stems))
    if strangers:
        raise LessonError(f"hidden tests name lessons that do not exist: {strangers} (lessons: {stems})")
    targets = [directory / "source" / stem / f"{stem}.ipynb" for stem in stems]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise FileExistsError(f"not overwriting {', '.join(existing)}; pass --force to replace them")
    notebooks = []
    for source, stem in zip(sources, stems):
        nb = solution_notebook(read_lesson(source), stem)
        mine = {exercise: code for (lesson, exercise), code in private.items() if lesson == stem}
        notebooks.append(merge_hidden_tests(nb, mine, stem))
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "nbgrader_config.py"
    if not config.exists() or force:
        config.write_text(CONFIG, encoding="utf-8")
    for nb, target in zip(notebooks, targets):
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
    return targets


def add_course_command(commands) -> None:
    """Add ``course`` to the ``nanograd-ad`` sub-commands."""
    sub = commands.add_parser(
        "course",
        help="write the lessons as an nbgrader course folder",
        description=(
            "Write DIR/nbgrader_config.py and DIR/source/NN_topic/NN_topic.ipynb for every lesson: "
            "run nbgrader generate_assignment, autograde and generate_feedback in DIR. Private "
            "hidden tests: --hidden FILE, or DIR/hidden/NN_topic.py."
        ),
    )
    sub.add_argument("directory", type=Path, metavar="DIR", help="the course folder")
    sub.add_argument("--hidden", type=Path, metavar="FILE", help="a file of private hidden tests")
    sub.add_argument("--force", action="store_true", help="overwrite existing source notebooks")


def run_course_command(args, out=None) -> int:
    """Carry out ``nanograd-ad course``; returns the exit code (2: bad options or files)."""
    import sys

    out = sys.stdout if out is None else out
    try:
        written = write_course(args.directory, hidden=args.hidden, force=args.force)
    except (ImportError, FileExistsError, FileNotFoundError, LessonError, OSError) as err:
        print(f"nanograd-ad course: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} assignments to {args.directory}/source/; in {args.directory} run", file=out)
    print("  nbgrader generate_assignment NN_topic; nbgrader autograde NN_topic", file=out)
    return 0
