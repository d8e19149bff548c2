"""The lessons graded by nbgrader: ``nanograd-ad course DIR`` gives a course folder in which
nbgrader's own commands, with its defaults (30 s per cell), release every lesson without
solutions or hidden tests and give marks: the solution full marks, the untouched release 0,
and a submission with one planted wrong answer loses exactly that exercise's points.

Grading executes every lesson three times in full mode (nbgrader runs the notebooks itself),
so it is the **second step** of the test command: ``pytest -m grading`` (marker ``grading``;
skipped in the default run, see ``conftest.py``). The cheap checks of the course folder run
in the default suite.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from nanograd_ad import cli, course, notebooks

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
PLANTED_DIR = Path(__file__).resolve().parent / "planted"

# One process grades everything through nbgrader's Python API (its CLI costs seconds per call).
GRADE_ALL = """
import json, sys
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
config = Config()
config.CourseDirectory.root = sys.argv[1]
config.CourseDirectory.course_id = "nanograd_ad"
api = NbGraderAPI(CourseDirectory(config=config), config=config)
out = {}
for name in sys.argv[2:]:
    generated = api.generate_assignment(name, force=True)
    assert generated["success"], generated.get("log", "")[-3000:]
print("GENERATED", json.dumps(sys.argv[2:]), flush=True)
"""

AUTOGRADE = """
import json, sys
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
config = Config()
config.CourseDirectory.root = sys.argv[1]
config.CourseDirectory.course_id = "nanograd_ad"
api = NbGraderAPI(CourseDirectory(config=config), config=config)
name, students = sys.argv[2], sys.argv[3:]
scores = {}
for student in students:
    graded = api.autograde(name, student, force=True, create=True)
    assert graded["success"], graded.get("log", "")[-3000:]
from nbgrader.api import Gradebook
with Gradebook(api.coursedir.db_url) as gb:
    for student in students:
        submission = gb.find_submission_notebook(name, name, student)
        scores[student] = {
            "score": submission.score,
            "max": submission.max_score,
            "cells": {g.name: g.score for g in submission.grades},
        }
print("SCORES", json.dumps(scores), flush=True)
"""


def _env() -> dict:
    """nbgrader runs ``alembic`` from PATH: this environment's scripts first."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _points(nb) -> dict[str, float]:
    return {
        cell.metadata["check"]: cell.metadata["nbgrader"]["points"]
        for cell in nb.cells
        if cell.cell_type == "code" and "check" in cell.metadata
    }


# ------------------------------------------------------------ default run: the folder itself
def test_course_command_writes_an_nbgrader_course(tmp_path, capsys):
    assert cli.main(["course", str(tmp_path / "c")]) == 0
    assert "nbgrader generate_assignment" in capsys.readouterr().out
    assert 'course_id = "nanograd_ad"' in (tmp_path / "c" / "nbgrader_config.py").read_text()
    for lesson in LESSONS:
        path = tmp_path / "c" / "source" / lesson.stem / f"{lesson.stem}.ipynb"
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
        points = _points(nb)
        assert points and all(p > 0 for p in points.values()), (lesson.stem, points)
    assert cli.main(["course", str(tmp_path / "c")]) == 2  # the lecturer's folder is not overwritten
    assert "not overwriting" in capsys.readouterr().err


def test_private_hidden_tests_are_merged(tmp_path):
    """--hidden FILE and DIR/hidden/NN_topic.py end up inside the check cells, as hidden tests."""
    private = tmp_path / "private.py"
    private.write_text('# %% lesson="01_backprop_by_hand" check="cost"\nassert C > 0, "private case"\n')
    (tmp_path / "c" / "hidden").mkdir(parents=True)
    folder_test = '# %% check="forward"\nassert a2.shape == (4, 1)\n'
    (tmp_path / "c" / "hidden" / "01_backprop_by_hand.py").write_text(folder_test)
    course.write_course(tmp_path / "c", hidden=private)
    lesson = tmp_path / "c" / "source" / "01_backprop_by_hand" / "01_backprop_by_hand.ipynb"
    nb = nbformat.read(str(lesson), 4)
    cells = {c.metadata["check"]: c.source for c in nb.cells if "check" in c.metadata}
    assert cells["cost"].endswith(
        '    ### BEGIN HIDDEN TESTS\n    assert C > 0, "private case"\n    ### END HIDDEN TESTS'
    )
    assert "    assert a2.shape == (4, 1)\n    ### END HIDDEN TESTS" in cells["forward"]
    student = notebooks.student_notebook(nb, "01_backprop_by_hand")
    assert "private case" not in "\n".join(c.source for c in student.cells)
    compile(cells["cost"], "check cost", "exec")
    bad = tmp_path / "bad.py"
    bad.write_text('# %% lesson="01_backprop_by_hand" check="no_such_exercise"\npass\n')
    with pytest.raises(notebooks.LessonError, match="no_such_exercise"):
        course.write_course(tmp_path / "d", hidden=bad)


# ------------------------------------------------------------ second step: nbgrader grades
def _planted_submission(lesson: Path, source_nb):
    """The solution with the first planted mistake of the last exercise appended to its cell.

    The last one: in a lesson whose later exercises call earlier ones (lesson 01's
    ``cost_by_hand`` calls ``forward_by_hand``), a wrong earlier answer rightly costs the
    later exercises' points too.
    """
    mistakes = runpy.run_path(str(PLANTED_DIR / lesson.name))["MISTAKES"]
    exercise = notebooks.exercise_ids(source_nb, lesson.stem)[-1]
    mistake = mistakes[exercise][0]
    nb = notebooks.student_notebook(source_nb, lesson.stem)
    for cell, whole in zip(nb.cells, source_nb.cells):
        if "exercise" in cell.metadata:
            cell.source = whole.source
            if cell.metadata["exercise"] == exercise:
                cell.source += "\n# planted: " + mistake["what"] + "\n" + mistake["code"]
    return nb, exercise


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    course.write_course(root)
    names = [lesson.stem for lesson in LESSONS]
    done = subprocess.run(
        [sys.executable, "-c", GRADE_ALL, str(root), *names],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return root


@pytest.mark.grading
@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_nbgrader_releases_and_grades_the_lesson(lesson, graded_course):
    root, name = graded_course, lesson.stem
    source = nbformat.read(str(root / "source" / name / f"{name}.ipynb"), as_version=4)
    release = nbformat.read(str(root / "release" / name / f"{name}.ipynb"), as_version=4)
    text = "\n".join(c.source for c in release.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    ours = notebooks.student_notebook(jupytext.read(lesson), name)  # --student equals the release
    assert [c.source for c in ours.cells] == [c.source for c in release.cells]

    submissions = {
        "solution": source,
        "untouched": release,
    }
    planted, exercise = _planted_submission(lesson, source)
    submissions["planted"] = planted
    for student, nb in submissions.items():
        folder = root / "submitted" / student / name
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    done = subprocess.run(
        [sys.executable, "-c", AUTOGRADE, str(root), name, *submissions],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    scores = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("SCORES"))[7:])
    points = _points(source)
    total = sum(points.values())
    assert scores["solution"]["score"] == scores["solution"]["max"] == total > 0, scores["solution"]
    assert scores["untouched"]["score"] == 0, scores["untouched"]
    assert scores["planted"]["score"] == total - points[exercise], (exercise, scores["planted"])
