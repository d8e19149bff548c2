"""A griffe extension for the API pages: the docstrings' prose read safely as Markdown.

The docstrings are plain text with reStructuredText's habits (``code``, ``::`` before an
indented block) and array notation such as ``[cols 1][W₂ b]ᵀ``, which Markdown would take
for a reference link to an identifier ``W₂ b`` (and ``mkdocs build --strict`` then fails on
the unresolved cross-reference). Outside indented blocks and code spans, this escapes every
``[`` that directly follows ``]``, so the text reads as written, shows Sphinx's roles
(``:func:`gradcheck```) as the code spans they name, and ends a line that introduces a
literal block (``Contract::``) with one colon, as reStructuredText shows it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
SPHINX_ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|obj|exc|const):`~?([^`]+)`")


def _escape_prose(line: str) -> str:
    out, position = [], 0
    for span in CODE_SPAN.finditer(line):
        out.append(line[position : span.start()].replace("][", "]\\["))
        out.append(span.group(0))
        position = span.end()
    out.append(line[position:].replace("][", "]\\["))
    return "".join(out)


def _prose(line: str) -> str:
    line = _escape_prose(SPHINX_ROLE.sub(r"``\1``", line))
    return line[:-1] if line.endswith("::") and not line.endswith(":::") else line


def markdown_safe(text: str) -> str:
    """``text`` with its prose lines (indented less than 4 spaces) made Markdown-safe: roles as
    code spans, ``][`` escaped outside code spans, a closing ``::`` as ``:``."""
    return "\n".join(line if line.startswith("    ") else _prose(line) for line in text.splitlines())


class MarkdownSafeDocstrings(griffe.Extension):
    """Applies :func:`markdown_safe` to every docstring mkdocstrings renders."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_safe(obj.docstring.value)
