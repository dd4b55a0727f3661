"""How long a stage script is, in logic lines: stages stay thin, the logic lives in ``a2d``.

A stage's ``main()`` should read its config slice, call one library function and write its
outputs (house style, rule 10). :func:`logic_lines` counts what a reader has to follow: code
lines, minus imports, docstrings (and other bare strings), comments and blank lines. A test
keeps every ``stages/*.py`` within :data:`LIMIT` unless its module docstring says why not, in a
sentence starting with :data:`WAIVER`.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

LIMIT = 40
"""Logic lines a stage script may have without giving a reason."""
WAIVER = f"Longer than {LIMIT} logic lines because"
"""How a stage's module docstring starts the sentence that explains why it is longer."""

_LAYOUT = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}


def logic_lines(source: str) -> int:
    """Lines of ``source`` that hold code, other than imports and docstrings.

    A line counts once however many statements it holds; a statement spread over several
    lines counts each of them (that is what a reader reads).
    """
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):  # imports; docstrings and the bare strings that document attributes
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    code: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _LAYOUT:
            code.update(range(token.start[0], token.end[0] + 1))
    return len(code - skip)


def waiver(source: str) -> str | None:
    """The module docstring's sentence that explains a longer stage, or ``None``."""
    docstring = ast.get_docstring(ast.parse(source)) or ""
    flat = " ".join(docstring.split())
    start = flat.find(WAIVER)
    if start < 0:
        return None
    end = flat.find(".", start)
    return flat[start : end + 1 if end >= 0 else len(flat)]


def oversized(folder: str | Path, limit: int = LIMIT) -> dict[str, int]:
    """Stage name -> logic lines, for every ``*.py`` in ``folder`` over ``limit`` without a waiver."""
    found = {}
    for path in sorted(Path(folder).glob("*.py")):
        source = path.read_text()
        lines = logic_lines(source)
        if lines > limit and waiver(source) is None:
            found[path.stem] = lines
    return found
