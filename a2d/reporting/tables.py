"""Tables: ours beside the paper's value and the difference, written as CSV + Markdown.

Every paper table goes through :func:`comparison_frame` (one row per reported cell, with
``paper``, ``ours`` and ``diff`` adjacent) and :func:`write_table` (CSV for machines, Markdown
for people, both written atomically, both committed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from a2d.utils.io import write_text_atomic


def comparison_frame(
    rows: Iterable[Mapping[str, Any]], *, keys: Sequence[str], digits: int = 4
) -> pd.DataFrame:
    """A table whose rows are ``keys`` columns, then ``paper``, ``ours``, ``diff`` (= ours - paper).

    Each row mapping holds the ``keys`` columns, ``ours`` and optionally ``paper`` (missing or
    None: the paper reports no such cell, ``diff`` is empty) and any extra columns (intervals,
    counts), which follow ``diff``. Values are rounded to ``digits``.
    """
    records = []
    for row in rows:
        paper, ours = row.get("paper"), row.get("ours")
        record = {key: row[key] for key in keys}
        record["paper"] = _rounded(paper, digits)
        record["ours"] = _rounded(ours, digits)
        record["diff"] = (
            _rounded(float(ours) - float(paper), digits) if _present(paper, ours) else None
        )
        record.update({k: _rounded(v, digits) for k, v in row.items() if k not in record})
        records.append(record)
    return pd.DataFrame.from_records(records)


def _present(*values: Any) -> bool:
    return all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def _rounded(value: Any, digits: int) -> Any:
    if isinstance(value, float) and not math.isnan(value):
        return round(value, digits)
    return value


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``frame`` (empty cells for missing values), no extra dependency."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(
    frame: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    title: str,
    notes: Sequence[str] = (),
    glance: pd.DataFrame | None = None,
) -> tuple[Path, Path]:
    """Write ``frame`` to ``<out>.csv`` and ``<out>.md`` (title, table, notes), atomically.

    ``out`` is a path without suffix, e.g. ``results/tables/table2``. ``glance`` is an optional
    compact view (the paper's layout) shown above the full table in the Markdown only.
    Returns both paths.
    """
    stem = Path(out)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    write_text_atomic(csv_path, frame.to_csv(index=False))
    text = f"# {title}\n\n"
    if glance is not None and not glance.empty:
        text += f"{markdown_table(glance)}\n## All numbers\n\n"
    text += markdown_table(frame)
    if notes:
        text += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    write_text_atomic(md_path, text)
    return csv_path, md_path
