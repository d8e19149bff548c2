"""The course website's build helper: the lessons as pages, from notebooks executed once.

``mkdocs.yml`` names this file as a hook (``exclude_docs`` keeps it out of the site). A site
build never executes a lesson; it reads every lesson's *executed solution notebook*
``NN_topic.ipynb`` (quick mode) from one folder — the one the test session or
``python docs/hooks/lessons.py execute DIR`` wrote — named by the environment variable
``NANOGRAD_AD_EXECUTED_LESSONS`` (default ``build/executed_lessons``). From each it makes, outside ``docs/``:

    lessons/NN_topic.ipynb              the page: the student view — the student notebook
                                        with the outputs and figures of the solution's quick
                                        run (cells the runner inserted left out); a cell the
                                        student gets changed (an exercise) has no outputs
    notebooks/student/NN_topic.ipynb    to download: solutions removed, not executed
    notebooks/solutions/NN_topic.ipynb  to download: whole, nbgrader's markers kept

plus ``lessons/index.md`` (the table of lessons) and the nav's lesson entries, so a new
lesson appears just by existing. ``docs/lecturers.md`` belongs to the coursework; until it
exists, a page saying so stands in its place (generated, never written to ``docs/``).

Building needs the ``docs`` extra: ``pip install -e ".[docs]"``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from nanograd_ad import notebooks

try:
    from mkdocs.plugins import event_priority
except ImportError:  # only a site build needs MkDocs (the docs extra); the rest of this module does not

    def event_priority(priority: float) -> Any:  # the same decorator, as a no-op
        return lambda method: method


__all__ = ["EXECUTED_ENV", "execute_lessons", "executed_folder", "lesson_pages", "student_view"]

EXECUTED_ENV = "NANOGRAD_AD_EXECUTED_LESSONS"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXECUTED = ROOT / "build" / "executed_lessons"
QUICK_PARAMETERS = {"QUICK": True}
LESSONS_NAV_TITLE = "Lessons"
LECTURERS_PAGE = "lecturers.md"
LECTURERS_STANDIN = """# For lecturers

!!! warning "Not written yet"
    This page is `docs/lecturers.md`, written by the graded-coursework work (syllabus order,
    learning objectives and time per lesson, grading with nbgrader). It is not in this
    build; the site shows this notice in its place until the file exists.

Meanwhile: [running the lessons on JupyterHub or a hosted notebook service](hosted.md).
"""


def executed_folder() -> Path:
    """The folder of executed lesson notebooks: ``$NANOGRAD_AD_EXECUTED_LESSONS`` or the default."""
    return Path(os.environ.get(EXECUTED_ENV) or DEFAULT_EXECUTED)


def _stem(source: Any) -> str:
    return Path(source.name).stem


def execute_lessons(folder: Path | str, lessons: list | None = None, timeout_s: int = 600) -> list[Path]:
    """Execute every lesson's solution notebook in quick mode; write ``folder/NN_topic.ipynb``.

    Each runs in a fresh kernel of this Python (ipykernel's native ``python3``), cwd a
    temporary folder, with a cell ``QUICK = True`` inserted right after the cell tagged
    ``parameters`` (papermill's convention); ``FIGURE_DIR`` stays None, so the figures live
    in the notebook only. A cell that raises stops it with nbclient's ``CellExecutionError``.
    Returns the written paths.
    """
    import nbformat
    from nbclient import NotebookClient

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in notebooks.lesson_files() if lessons is None else lessons:
        stem = _stem(source)
        nb = notebooks.solution_notebook(notebooks.read_lesson(source), stem)
        with tempfile.TemporaryDirectory(prefix=f"{stem}-") as workdir:
            tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
            if len(tagged) != 1:
                raise notebooks.LessonError(
                    f"{stem}: needs one cell tagged 'parameters', found {len(tagged)}"
                )
            assign = "\n".join(f"{name} = {value!r}" for name, value in QUICK_PARAMETERS.items())
            nb.cells.insert(
                tagged[0] + 1, nbformat.v4.new_code_cell(assign, metadata={"tags": ["injected-parameters"]})
            )
            NotebookClient(
                nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": workdir}}
            ).execute()
        target = folder / f"{stem}.ipynb"
        nbformat.write(nb, str(target))
        written.append(target)
    return written


def student_view(executed: Any, lesson: Any, stem: str) -> Any:
    """The lesson as students see it on the site: its student notebook, with the outputs of
    the solution's run ``executed``.

    Every code cell of the lesson's solution notebook must have run in ``executed`` with the
    same source, in order — else the run is stale and this raises ``LessonError`` naming the
    cell; cells the runner inserted (parameters, a test's checks) are left out. A cell the
    student notebook shows differently (an exercise, a check with hidden tests) is shown as
    the student gets it, without outputs; after the title cell a note links the student and
    solution notebooks.
    """
    import nbformat

    solution = notebooks.solution_notebook(lesson, stem)
    nb = notebooks.student_notebook(lesson, stem)
    if len(nb.cells) != len(solution.cells):
        raise notebooks.LessonError(f"{stem}: the student and solution notebooks differ in cells")
    ran = iter([cell for cell in executed.cells if cell.cell_type == "code"])
    for whole, shown in zip(solution.cells, nb.cells):
        if whole.cell_type != "code":
            continue
        match = next((done for done in ran if done.source == whole.source), None)
        if match is None:
            raise notebooks.LessonError(
                f"{stem}: the executed notebook lacks the cell starting {whole.source[:60]!r} (or has it "
                "out of order): it was run from another version of the lesson; execute it again"
            )
        if shown.source == whole.source:
            shown.outputs, shown.execution_count = copy.deepcopy(match.outputs), match.execution_count
        else:
            shown.outputs, shown.execution_count = [], None
    # nbconvert renders notebook Markdown (not MkDocs'), so the note is HTML in Material's classes
    note = nbformat.v4.new_markdown_cell(
        '<div class="admonition note"><p class="admonition-title">Student view</p><p>'
        f'<strong>Download</strong>: <a href="../../notebooks/student/{stem}.ipynb">student notebook</a> '
        f'(the exercises to do) · <a href="../../notebooks/solutions/{stem}.ipynb">solution notebook</a> '
        "(whole, for lecturers and self-study).</p><p>Each exercise cell here shows "
        "<code># YOUR CODE HERE</code>. The outputs and figures are those of a run of the solution "
        "in quick mode (<code>QUICK = True</code>).</p></div>"
    )
    first = next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"), -1)
    nb.cells.insert(first + 1, note)
    return nb


def _title(nb: Any, stem: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return stem


def lesson_pages(executed: Path, out: Path) -> list[tuple[str, str]]:
    """Write the lesson pages and downloads under ``out`` (see the module doc).

    Returns ``(stem, title)`` per lesson, in order. Raises ``FileNotFoundError`` naming the
    missing executed notebooks and how to make them.
    """
    import nbformat

    sources = notebooks.lesson_files()
    missing = [f"{_stem(s)}.ipynb" for s in sources if not (executed / f"{_stem(s)}.ipynb").exists()]
    if missing:
        raise FileNotFoundError(
            f"the site renders executed lessons, and {executed} lacks {', '.join(missing)}; make them "
            f"with `python docs/hooks/lessons.py execute {executed}` or point ${EXECUTED_ENV} at a folder "
            "holding them"
        )
    made = []
    for source in sources:
        stem = _stem(source)
        lesson = notebooks.read_lesson(source)
        run = nbformat.read(str(executed / f"{stem}.ipynb"), as_version=4)
        pages = {
            f"lessons/{stem}.ipynb": student_view(run, lesson, stem),
            f"notebooks/student/{stem}.ipynb": notebooks.student_notebook(lesson, stem),
            f"notebooks/solutions/{stem}.ipynb": notebooks.solution_notebook(lesson, stem),
        }
        for relative, nb in pages.items():
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(out / relative))
        made.append((stem, _title(lesson, stem)))
    return made


def _lessons_index(made: list[tuple[str, str]]) -> str:
    rows = "\n".join(
        f"| [{title}]({stem}.ipynb) | [student](../notebooks/student/{stem}.ipynb) · "
        f"[solution](../notebooks/solutions/{stem}.ipynb) |"
        for stem, title in made
    )
    return f"""# Lessons

Step-through notebooks that open the library up, as exercise sets: you write each
computation, and `ng.check(name, yours, expected)` compares it with the library, naming
the array, the worst entry and (when it recognises one) the likely mistake. Each page here
is the **student view** — the text, the equations and the figures of a quick run, with
every exercise cell showing the placeholder — and links the notebooks to download.

| lesson | notebooks |
| --- | --- |
{rows}

To work on them in Jupyter: `pip install -e ".[lessons]"`, then
`nanograd-ad lessons --student my_lessons` writes the student notebooks into `my_lessons/`
(`--solutions DIR`: the whole lessons, nbgrader's markers kept). Lecturers:
[for lecturers](../lecturers.md) and [JupyterHub and hosted notebooks](../hosted.md).
"""


# ----------------------------------------------------------------------------- MkDocs hooks
_build: dict[str, Any] = {}


def on_config(config: Any) -> Any:
    """Add each lesson to the nav's "Lessons" section (after ``lessons/index.md``)."""
    stems = [_stem(s) for s in notebooks.lesson_files()]
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and LESSONS_NAV_TITLE in entry:
            section = entry[LESSONS_NAV_TITLE]
            section += [f"lessons/{stem}.ipynb" for stem in stems if f"lessons/{stem}.ipynb" not in section]
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns the lesson files into pages
def on_files(files: Any, config: Any) -> Any:
    """Add the generated lesson pages, downloads, lesson index and (if absent) the lecturers' stand-in."""
    from mkdocs.structure.files import File

    out = Path(tempfile.mkdtemp(prefix="nanograd-ad-site-"))
    made = lesson_pages(executed_folder(), out)
    _build["out"] = out
    for path in sorted(out.rglob("*.ipynb")):
        relative = path.relative_to(out).as_posix()
        files.append(File(relative, str(out), config["site_dir"], config["use_directory_urls"]))
    files.append(File.generated(config, "lessons/index.md", content=_lessons_index(made)))
    if files.get_file_from_path(LECTURERS_PAGE) is None:
        files.append(File.generated(config, LECTURERS_PAGE, content=LECTURERS_STANDIN))
    return files


def on_post_build(config: Any) -> None:
    """Remove the folder of generated notebooks (the built site holds its copies)."""
    out = _build.pop("out", None)
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)


# nbconvert's page template carries a loader that imports Mermaid from a CDN when a notebook
# holds a Mermaid diagram; no lesson does, and the site must load nothing from another host.
MERMAID_LOADER = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>", re.S
)

MERMAID_DIAGRAM = re.compile(r'class="[^"]*\bjp-Mermaid\b')


STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """On a lesson page: drop nbconvert's CDN loader of Mermaid (refusing if a diagram needs it),
    and move the notebook styles nbconvert inlines in every page (~0.6 MB, the same for each
    lesson) into one stylesheet the lesson pages share."""
    if not page.file.src_uri.startswith("lessons/") or not page.file.src_uri.endswith(".ipynb"):
        return html
    if MERMAID_DIAGRAM.search(html):
        raise ValueError(
            f"{page.file.src_uri} holds a Mermaid diagram, which nbconvert loads from a CDN; "
            "vendor Mermaid under docs/assets before using one in a lesson"
        )
    html = MERMAID_LOADER.sub("", html)
    css = "\n".join(block.group(1) for block in STYLE_BLOCK.finditer(html))
    name = f"assets/stylesheets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
    target = Path(config["site_dir"]) / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")
    link = f'<link rel="stylesheet" href="{"../" * page.url.count("/")}{name}">'
    first = STYLE_BLOCK.search(html)
    if first is None:
        return html
    return html[: first.start()] + link + STYLE_BLOCK.sub("", html[first.start() :])


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "execute":
        print("usage: python docs/hooks/lessons.py execute DIR", file=sys.stderr)
        return 2
    written = execute_lessons(argv[1])
    print(json.dumps([str(p) for p in written], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
