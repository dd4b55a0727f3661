"""Stages stay thin: every ``stages/*.py`` within 40 logic lines, or its docstring says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2d.config import PROJECT_ROOT
from a2d.pipeline.size import LIMIT, WAIVER, logic_lines, oversized, waiver

NOT_YET_THIN: set[str] = set()
"""Stages expected to fail the size check while they are being thinned (none now)."""

STAGES = sorted((PROJECT_ROOT / "stages").glob("*.py"))

TINY = '''"""Module docstring,
two lines."""

import os
from pathlib import (
    Path,
)

X = 1
"""An attribute docstring."""


def f(a):  # a comment
    """Docstring."""

    # a comment line
    return os.path.join(
        a, "b"
    ); y = 2
'''


def test_logic_lines_counts_code_not_imports_docstrings_comments_or_blanks() -> None:
    # counted: X = 1; def f(a):; and the three lines of the return statement
    assert logic_lines(TINY) == 5
    assert logic_lines("") == 0
    assert logic_lines('"""Only a docstring."""\nimport os\n') == 0


def test_waiver_is_the_sentence_in_the_module_docstring() -> None:
    text = f'"""Stage x.\n\n{WAIVER} it writes\nsix outputs. More.\n"""\nx = 1\n'
    assert waiver(text) == f"{WAIVER} it writes six outputs."
    assert waiver('"""Stage x: short."""\n') is None
    assert waiver(f"x = 1\n# {WAIVER} a comment is not a docstring.\n") is None


def test_oversized_lists_only_long_stages_without_a_waiver(tmp_path: Path) -> None:
    body = "".join(f"x{i} = {i}\n" for i in range(LIMIT + 1))
    (tmp_path / "long.py").write_text(f'"""Stage long."""\n{body}')
    (tmp_path / "excused.py").write_text(f'"""Stage excused.\n\n{WAIVER} reasons."""\n{body}')
    (tmp_path / "short.py").write_text('"""Stage short."""\nx = 1\n')
    assert oversized(tmp_path) == {"long": LIMIT + 1}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p,
            id=p.stem,
            marks=[pytest.mark.xfail(reason="being thinned (NOT_YET_THIN)", strict=False)]
            if p.stem in NOT_YET_THIN
            else [],
        )
        for p in STAGES
    ],
)
def test_stage_is_thin_or_says_why(path: Path) -> None:
    source = path.read_text()
    lines = logic_lines(source)
    assert lines <= LIMIT or waiver(source), (
        f"stages/{path.name} has {lines} logic lines (limit {LIMIT}): move its logic into a2d, "
        f"or explain in its module docstring in a sentence starting {WAIVER!r}"
    )


def test_not_yet_thin_names_real_stages() -> None:
    assert NOT_YET_THIN <= {p.stem for p in STAGES}
