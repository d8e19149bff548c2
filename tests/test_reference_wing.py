"""The reference wing stays small enough to read in one sitting (early tinygrad's CI line
budget): each reference file ≤ 330 lines, Conv2D's forward and backward ≤ 45 lines of code
together, Activation.backward ≤ 8 with the multiply by ``self.d``, and neither file imports
or names the speed machinery (``nanograd_ad.fast``) or a paper's module."""

import ast
import io
import pathlib
import re
import tokenize

import pytest

import nanograd_ad as ng

PACKAGE = pathlib.Path(ng.__file__).parent
REFERENCE_FILES = ["layers.py", "activations.py"]
#: the modules a reference file may import from the package (the floors below it)
ALLOWED_IMPORTS = {"backend", "base", "derivatives", "init"}
#: names of the speed machinery and of the papers' modules, none of which a reference file may name
FORBIDDEN = re.compile(
    r"\b(fast|threads?|threading|over_batch|scratch|PATCH_BYTES|openblas|_openblas|prime_blas|inplace"
    r"|artificial_derivative|pseudo_normalization|amplify|ics)\b",
    re.IGNORECASE,
)


def code_lines(path: pathlib.Path, qualname: str) -> int:
    """Lines of code of a function: blank, comment-only and docstring lines not counted."""
    source = path.read_text()
    tree = ast.parse(source)
    class_name, function_name = qualname.split(".")
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == function_name)
    skip: set[int] = set()
    first = fn.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        skip |= set(range(first.lineno, first.end_lineno + 1))
    code = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            continue
        for line in range(token.start[0], token.end[0] + 1):
            if fn.lineno <= line <= fn.end_lineno and line not in skip:
                code.add(line)
    return len(code)


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_each_reference_file_is_at_most_330_lines(name):
    lines = len((PACKAGE / name).read_text().splitlines())
    assert lines <= 330, f"{name} has {lines} lines (docstrings included); the budget is 330"


def test_conv2d_forward_and_backward_are_at_most_45_lines_of_code():
    path = PACKAGE / "layers.py"
    total = code_lines(path, "Conv2D.forward") + code_lines(path, "Conv2D.backward")
    assert total <= 45, f"Conv2D.forward + Conv2D.backward: {total} lines of code, budget 45"


def test_activation_backward_is_at_most_8_lines_and_multiplies_by_d():
    path = PACKAGE / "activations.py"
    assert code_lines(path, "Activation.backward") <= 8
    source = ast.get_source_segment(
        path.read_text(),
        next(
            f
            for c in ast.parse(path.read_text()).body
            if isinstance(c, ast.ClassDef) and c.name == "Activation"
            for f in c.body
            if isinstance(f, ast.FunctionDef) and f.name == "backward"
        ),
    )
    assert "self.d(self.z, self.a)" in source and "return delta * " in source, source


def test_the_line_counter_counts_code_only():
    """The counter itself: a docstring, comments and blank lines are not code; a wrapped call is."""
    sample = PACKAGE.parent / "tests" / "_counter_sample.py"
    sample.write_text(
        'class A:\n    def f(self):\n        """Doc\n        string."""\n        # a comment\n\n'
        "        x = (1,\n             2)  # trailing\n        return x\n"
    )
    try:
        assert code_lines(sample, "A.f") == 4  # def, x = (1, / 2), return
    finally:
        sample.unlink()


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_reference_files_neither_import_nor_name_the_speed_machinery_or_a_paper_module(name):
    source = (PACKAGE / name).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            imported = {node.module} if node.module else {alias.name for alias in node.names}
            assert imported <= ALLOWED_IMPORTS, f"{name} imports {imported - ALLOWED_IMPORTS}"
        elif isinstance(node, ast.Import):
            assert all(not a.name.startswith("nanograd_ad") for a in node.names), name
    found = sorted({m.group(0) for m in FORBIDDEN.finditer(source)})
    assert not found, f"{name} names {found}"
