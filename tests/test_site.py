"""The course website: ``mkdocs build --strict`` from lessons executed once, what the pages
hold (student view, downloads, nothing from another host), and the built site in headless
Chromium (maths rendered, figures loaded, search, no console error or failed request).

The lessons are executed once per session (``executed_lesson_folder``, the one seam to the
coursework's session fixture ``executed_lessons``) and the site build only renders them.
Screenshots of the browser test go to ``build/test-output/site/`` (or
``$NANOGRAD_AD_TEST_OUTPUT/site``).
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import pytest

DOCS_EXTRA = 'building the site needs the docs extra: pip install -e ".[docs]"'
pytest.importorskip("mkdocs", reason=DOCS_EXTRA)
pytest.importorskip("mkdocs_jupyter", reason=DOCS_EXTRA)
nbformat = pytest.importorskip("nbformat", reason=DOCS_EXTRA)

from nanograd_ad import experiments, notebooks  # noqa: E402  (after the skips above)

ROOT = Path(__file__).resolve().parent.parent
LESSONS_DIR = ROOT / "lessons"
BUILD_BUDGET_S = 120  # the "about 2 minutes on 2 cores" for mkdocs build --strict
OUTPUT = Path(os.environ.get("NANOGRAD_AD_TEST_OUTPUT") or ROOT / "build" / "test-output") / "site"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _load_hook(name: str):
    """A module of docs/hooks/ (MkDocs loads them by path; they are not a package)."""
    spec = importlib.util.spec_from_file_location(f"site_hook_{name}", ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load_hook("lessons")
LESSONS = [Path(source.name).stem for source in notebooks.lesson_files()]


@pytest.fixture(scope="session")
def executed_lesson_folder(request, tmp_path_factory) -> Path:
    """A folder of the lessons' solution notebooks executed in quick mode, ``NN_topic.ipynb``.

    THE SEAM to the lessons run once per session: where tests/conftest.py has the coursework's
    session fixture ``executed_lessons`` (``executed_lessons[lesson path].nb``), its notebooks are
    written here and nothing runs again; without it, the lessons are executed here, once.
    """
    folder = tmp_path_factory.mktemp("executed_lessons")
    try:
        shared = request.getfixturevalue("executed_lessons")
    except pytest.FixtureLookupError:
        hook.execute_lessons(folder)
        return folder
    for stem in LESSONS:
        nbformat.write(shared[LESSONS_DIR / f"{stem}.py"].nb, str(folder / f"{stem}.ipynb"))
    return folder


@pytest.fixture(scope="session")
def built_site(executed_lesson_folder, tmp_path_factory) -> SimpleNamespace:
    """``mkdocs build --strict`` into a temporary folder; its result, wall time and folder."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, hook.EXECUTED_ENV: str(executed_lesson_folder), "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    print(f"mkdocs build --strict: {seconds:.1f} s, site {size / 2**20:.1f} MiB in {site}")
    return SimpleNamespace(dir=site, result=result, seconds=seconds, size=size)


def test_site_builds_strict_in_budget(built_site):
    result = built_site.result
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    assert built_site.seconds < BUILD_BUDGET_S, f"the build took {built_site.seconds:.0f} s"


def test_every_lesson_is_a_page_with_downloads(built_site):
    """lessons/NN_topic/ for every lesson; the student and solution notebooks to download."""
    for stem in LESSONS:
        page = built_site.dir / "lessons" / stem / "index.html"
        assert page.exists(), f"no page for lesson {stem}"
        html = page.read_text(encoding="utf-8")
        for kind in ("student", "solutions"):
            assert f'href="../../notebooks/{kind}/{stem}.ipynb"' in html, f"{stem}: no {kind} download link"
        downloads = built_site.dir / "notebooks"
        student = nbformat.read(str(downloads / "student" / f"{stem}.ipynb"), as_version=4)
        solution = nbformat.read(str(downloads / "solutions" / f"{stem}.ipynb"), as_version=4)
        assert notebooks.BEGIN_SOLUTION not in json.dumps(student), f"{stem}: student notebook has solutions"
        assert notebooks.BEGIN_SOLUTION in json.dumps(solution), f"{stem}: solution notebook lacks solutions"
    index = (built_site.dir / "lessons" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{stem}/"' in index for stem in LESSONS), "the lessons index misses a lesson"


def test_lesson_pages_show_the_student_view(built_site, executed_lesson_folder):
    """No solution on a page: each exercise cell holds the placeholder and no output; the
    figures of the quick run are there as PNG images."""
    for stem in LESSONS:
        run = nbformat.read(str(executed_lesson_folder / f"{stem}.ipynb"), as_version=4)
        view = hook.student_view(run, notebooks.read_lesson(LESSONS_DIR / f"{stem}.py"), stem)
        exercises = [c for c in view.cells if c.cell_type == "code" and "exercise" in c.metadata]
        assert exercises, f"{stem} has no exercise cell"
        solved = [c for c in run.cells if c.cell_type == "code" and "exercise" in c.metadata]
        for shown, whole in zip(exercises, solved):
            assert "# YOUR CODE HERE" in shown.source and not shown.outputs, shown.source
            shown_lines = {ln.strip() for ln in shown.source.splitlines()}
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", whole.source, re.S):
                for line in filter(None, (ln.strip() for ln in region.splitlines())):
                    assert line not in shown_lines, f"{stem}: solution line {line!r} shown"
        html = (built_site.dir / "lessons" / stem / "index.html").read_text(encoding="utf-8")
        student = notebooks.student_notebook(notebooks.read_lesson(LESSONS_DIR / f"{stem}.py"), stem)
        given = [c.source for c in student.cells if c.cell_type == "code"]
        assert [c.source for c in view.cells if c.cell_type == "code"] == given, f"{stem}: not as given"
        assert "BEGIN SOLUTION" not in html and "HIDDEN TESTS" not in html, f"{stem}: a solution on the page"
        placeholders = html.count('<span class="c1"># YOUR CODE HERE</span>')  # in code, highlighted
        regions = sum(c.source.count(notebooks.BEGIN_SOLUTION) for c in solved)
        assert placeholders == regions, f"{stem}: {placeholders} placeholders for {regions} solutions"
        figures = sum("image/png" in out.get("data", {}) for c in view.cells for out in c.get("outputs", []))
        assert figures > 0 and html.count('src="data:image/png;base64,') == figures, stem


def test_student_view_keeps_the_lessons_cells_and_refuses_a_stale_run(executed_lesson_folder):
    """Cells the runner inserted are left out; a run of another version of the lesson is refused."""
    stem = LESSONS[0]
    run = nbformat.read(str(executed_lesson_folder / f"{stem}.ipynb"), as_version=4)
    lesson = notebooks.read_lesson(LESSONS_DIR / f"{stem}.py")
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in run.cells)
    view = hook.student_view(run, lesson, stem)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in view.cells)
    assert len(view.cells) == len(lesson.cells) + 1  # the lesson's cells and the note
    edited = next(c for c in lesson.cells if c.cell_type == "code" and "exercise" not in c.metadata)
    edited.source += "\nprint('a line the run never saw')"
    with pytest.raises(notebooks.LessonError, match="execute it again"):
        hook.student_view(run, lesson, stem)


def test_docstrings_are_made_markdown_safe():
    """The API pages' griffe extension: array notation is not a reference link, roles are code,
    ``::`` is a colon; code (indented blocks, code spans) is left as written."""
    markdown_safe = _load_hook("griffe_markdown").markdown_safe
    text = "z = [cols 1][W b]ᵀ, see :func:`gradcheck` and `a[0][1]`::\n\n    x[0][1]::"
    safe = "z = [cols 1]\\[W b]ᵀ, see ``gradcheck`` and `a[0][1]`:\n\n    x[0][1]::"
    assert markdown_safe(text) == safe


RESOURCE_FROM_ANOTHER_HOST = [
    re.compile(r"<script[^>]*\ssrc=[\"']?(?:https?:)?//", re.I),
    re.compile(r"<link[^>]*\shref=[\"']?(?:https?:)?//", re.I),
    re.compile(r"<(?:img|iframe|source|video|audio)[^>]*\ssrc=[\"']?(?:https?:)?//", re.I),
    re.compile(r"url\(\s*[\"']?(?:https?:)?//", re.I),
    re.compile(r"@import\s+[\"']?(?:url\()?[\"']?(?:https?:)?//", re.I),
]


def test_site_loads_nothing_from_another_host(built_site):
    """No script, stylesheet, font, image or maths renderer from another host in any page or
    stylesheet (links for the reader to follow are fine)."""
    found = []
    for path in built_site.dir.rglob("*"):
        if path.suffix in (".html", ".css"):
            text = path.read_text(encoding="utf-8", errors="replace")
            name = path.relative_to(built_site.dir)
            found += [f"{name}: {m[0][:120]}" for p in RESOURCE_FROM_ANOTHER_HOST for m in p.finditer(text)]
    assert not found, "\n".join(found[:20])
    assert (built_site.dir / "assets" / "mathjax" / "tex-chtml-full.js").exists()


def test_lecturers_page_is_in_the_site(built_site):
    """docs/lecturers.md comes from the coursework work; until it exists the site says so."""
    page = (built_site.dir / "lecturers" / "index.html").read_text(encoding="utf-8")
    if (ROOT / "docs" / "lecturers.md").exists():
        assert "Not written yet" not in page
    else:
        assert "Not written yet" in page


def test_reproduction_pages_show_the_quick_run(built_site):
    """Every experiment's page shows its quick run as built: the note on what was run, the
    printed table and each plot as an image with alt text that resolves to a file of the site
    (the files are docs/reproductions/generate.py's; tests/test_reproduction_pages.py checks them)."""
    for name in experiments.names():
        page = built_site.dir / "reproductions" / name / "index.html"
        assert page.exists(), f"no page for {name}"
        html = page.read_text(encoding="utf-8")
        assert "These are the numbers of the quick run" in html and "<pre" in html, name
        assert "--8&lt;--" not in html and "--8<--" not in html, f"{name}: a snippet was not included"
        plots = []
        for tag in re.findall(r"<img\b[^>]*>", html):
            alt = re.search(r'alt="([^"]*)"', tag)
            src = (page.parent / re.search(r'src="([^"]+)"', tag).group(1)).resolve()
            assert alt and alt.group(1).strip(), f"{name}: an image without alt text: {tag[:120]}"
            assert src.is_file(), f"{name}: {src} is not in the built site"
            plots += [src] if src.parent == page.parent and src.suffix == ".png" else []
        assert plots, f"{name}: no plot of the quick run on the page"


def test_readme_and_home_agree_with_the_code():
    """The experiment table names every experiment of ``nanograd-ad list``; the README's
    example block is what its heading says; ``[all]`` is described as it is."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.search(r"\[start:experiments\] -->\n(.*?)<!--", readme, re.S).group(1)
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.M)
    assert sorted(listed) == sorted(experiments.names()), (listed, experiments.names())
    example = re.search(r"## (\w+) lines: .*?```python\n(.*?)```", readme, re.S)
    words = {10: "Ten", 15: "Fifteen", 16: "Sixteen"}
    assert example.group(1) == words.get(len(example.group(2).splitlines())), example.group(1)
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not any(d.startswith("jupyterlab") for d in extras["all"]) and "**not JupyterLab**" in readme
    assert any(d.startswith("jupyterlab") for d in extras["lessons"])


def test_readme_gpu_example_runs_on_numpy():
    """The README's GPU example, with "numpy" in place of "cupy", runs on the CPU."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if 'backend.use("cupy")' in b)
    code = code.replace('"cupy"', '"numpy"')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^loss [\d.]+$", out.stdout, re.M) and re.search(r"^accuracy [\d.]+$", out.stdout, re.M)


# ------------------------------------------------------------------ in a real browser
def _chromium() -> str | None:
    found = os.environ.get("NANOGRAD_AD_CHROMIUM") or shutil.which("chromium")
    return found or shutil.which("chromium-browser")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served_site(built_site):
    """The built site over HTTP on 127.0.0.1 (a free port), as any static host serves it."""
    handler = functools.partial(_QuietHandler, directory=str(built_site.dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# Text left with a maths delimiter anywhere on the page (the table of contents included),
# outside code, typeset maths and the search box.
RAW_MATHS = r"""() => {
  const found = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const skip = "pre, code, script, style, mjx-container, .clipboard-copy-txt, .md-search";
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest(skip)) continue;
    if (/\$|\\\(|\\\[/.test(node.textContent)) found.push(node.textContent.trim().slice(0, 120));
  }
  return found;
}"""
LESSON = "04_vanishing_gradients"
# Material's search box says "Initializing search" until its index is built (in a worker)
SEARCH_READY = "() => !document.querySelector('.md-search-result__meta').textContent.includes('Initializing')"


def test_site_in_headless_chromium(served_site, tmp_path):
    """Home, a lesson, an API page and a reproduction: maths typeset, figures loaded, search
    finds a lesson, no console error, no failed request, nothing requested from another host."""
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium (apt-get install -y chromium, or NANOGRAD_AD_CHROMIUM=PATH): CONTRIBUTING")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright drives Chromium in this test")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith((served_site, "data:")):
            request_route.continue_()
        else:
            problems.append(f"request to another host: {url}")
            request_route.abort()

    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
            page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

            checked = {}
            for name, path in (
                ("home", ""),
                ("lesson", f"lessons/{LESSON}/"),
                ("api", "api/layers/"),
                ("reproduction", "reproductions/ad-relu/"),
            ):
                page.goto(served_site + path, wait_until="load")
                checked[name] = _check_page(page, name)
                page.evaluate("() => window.scrollTo(0, 0)")
                page.wait_for_timeout(500)  # the header settles after the scroll
                page.screenshot(path=str(OUTPUT / f"{name}.png"))
                if name == "lesson":
                    figure = page.locator(".jp-RenderedImage img").first
                    figure.scroll_into_view_if_needed()
                    figure.screenshot(path=str(OUTPUT / "lesson-figure.png"))
                    display = page.locator('.jp-MarkdownOutput mjx-container[display="true"]').first
                    display.scroll_into_view_if_needed()
                    page.screenshot(path=str(OUTPUT / "lesson-maths.png"))
                    page.locator(".jp-CodeCell", has_text="YOUR CODE HERE").first.scroll_into_view_if_needed()
                    page.screenshot(path=str(OUTPUT / "lesson-exercise.png"))
                    _check_downloads(page, served_site)

            page.goto(served_site, wait_until="load")  # search as a reader does: once it is ready, type
            page.wait_for_function(SEARCH_READY, timeout=60_000)
            page.click("input.md-search__input")
            page.keyboard.type("vanishing", delay=20)
            page.wait_for_selector(".md-search-result__item", timeout=20_000)
            hits = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
            page.screenshot(path=str(OUTPUT / "search.png"))
        finally:
            context.close()

    print("screenshots:", *sorted(str(p) for p in OUTPUT.glob("*.png")), sep="\n  ")
    assert any("/lessons/" in href for href in hits), f"search for 'vanishing' found no lesson: {hits}"
    assert checked["lesson"]["images"] >= 1 and checked["reproduction"]["images"] >= 1, checked
    assert all(page["maths"] > 0 for page in checked.values()), checked
    assert not problems, "\n".join(problems)


def _check_page(page, name: str) -> dict:
    """MathJax done; every maths element typeset without error, no raw delimiter left; every
    image loaded and drawn with a non-zero size."""
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30e3)
    page.evaluate("() => MathJax.startup.promise")
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=30_000)
    maths = page.locator("mjx-container").count()
    errors = page.locator("mjx-merror").count()
    raw = page.evaluate(RAW_MATHS)
    body = page.evaluate("() => document.body.innerText")
    images = page.evaluate(
        """() => Array.from(document.images).map(i => ({src: i.src.slice(0, 60), w: i.naturalWidth,
                 h: i.naturalHeight, shown: i.getBoundingClientRect().width * i.getBoundingClientRect().height
                 }))"""
    )
    assert maths > 0, f"{name}: no typeset maths (mjx-container)"
    assert errors == 0, f"{name}: {errors} TeX errors"
    assert "$$" not in body and not raw, f"{name}: raw maths left: {raw[:5]}"
    broken = [i for i in images if not (i["w"] > 0 and i["h"] > 0 and i["shown"] > 0)]
    assert not broken, f"{name}: images not loaded or drawn: {broken}"
    return {"maths": maths, "images": len(images)}


def _check_downloads(page, served_site: str) -> None:
    for kind in ("student", "solutions"):
        href = page.get_attribute(f'a[href$="notebooks/{kind}/{LESSON}.ipynb"]', "href")
        assert href, f"the lesson page has no {kind} notebook link"
        response = page.request.get(urllib.parse.urljoin(page.url, href))
        assert response.status == 200, (kind, response.status)
        nb = json.loads(response.text())
        assert nb["nbformat"] == 4 and (notebooks.BEGIN_SOLUTION in response.text()) == (kind == "solutions")
