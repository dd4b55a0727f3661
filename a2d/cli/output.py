"""What the command line prints: aligned summary tables for people, one JSON document for programs."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a2d.costs.suite import AttackCosts
from a2d.errors import DataError
from a2d.utils.io import write_text_atomic


def costs_frame(
    costs: AttackCosts, ids: Sequence[int], names: Sequence[str] | None
) -> pd.DataFrame:
    """One row per input: id (and file name), label, then cost / queries / success per attack_d."""
    frame = pd.DataFrame({"id": np.asarray(ids, dtype=np.int64)})
    if names is not None:
        frame["name"] = list(names)
    frame["label"] = costs.label
    for j, attack in enumerate(costs.attacks):
        frame[f"cost_{attack}"] = costs.cost[:, j]
        frame[f"queries_{attack}"] = costs.queries[:, j]
        frame[f"success_{attack}"] = costs.success[:, j]
    return frame


def cost_summary(costs: AttackCosts, flags: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per attack_d: cap, mean and median cost, success rate, mean queries (and by flag)."""
    rows = []
    for j, attack in enumerate(costs.attacks):
        cost = costs.cost[:, j].astype(np.float64)
        row: dict[str, Any] = {
            "attack": attack,
            "cap": costs.caps[j] if costs.caps else None,
            "mean_cost": float(cost.mean()),
            "median_cost": float(np.median(cost)),
            "success_rate": float(costs.success[:, j].mean()),
            "mean_queries": float(costs.queries[:, j].mean()),
        }
        if flags is not None:
            row["mean_cost_flagged"] = float(cost[flags].mean()) if flags.any() else None
            row["mean_cost_unflagged"] = float(cost[~flags].mean()) if (~flags).any() else None
        rows.append(row)
    return rows


def format_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> str:
    """``rows`` as a plain aligned text table; ``columns`` maps row keys to headers."""
    cells = [[_cell(row.get(key)) for key in columns] for row in rows]
    headers = list(columns.values())
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    return "\n".join(_aligned(line, widths) for line in [headers, *cells])


def _aligned(cells: Sequence[str], widths: Sequence[int]) -> str:
    """The first column left-aligned (names), the others right-aligned (numbers)."""
    return "  ".join(
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_json(document: Mapping[str, Any]) -> None:
    """One JSON document on stdout; NaN / inf become ``null`` so that any JSON reader parses it."""
    print(json.dumps(_plain(document), allow_nan=False))


def check_out(path: str) -> None:
    """Fail before any attack runs if ``--out`` cannot be written (its folder is created)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"--out '{path}': cannot create its folder ({exc.strerror or exc}); choose a path "
            "in a writable folder"
        ) from None
    if target.is_dir():
        raise DataError(f"--out '{path}' is a folder; give a file name inside it")
    if not os.access(target.parent, os.W_OK):
        raise DataError(f"--out '{path}': its folder is not writable; choose another path")


def write_csv(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` as CSV atomically (a killed run leaves no truncated file)."""
    try:
        write_text_atomic(path, frame.to_csv(index=False))
    except OSError as exc:
        raise DataError(
            f"cannot write --out '{path}' ({exc.strerror or exc}); choose a path in a writable "
            "folder"
        ) from None


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def stderr(line: str) -> None:
    print(line, file=sys.stderr)
