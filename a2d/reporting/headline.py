"""Headline numbers: the few values per artefact a reader compares, declared as DVC metrics.

`dvc metrics show` prints one row per metrics file and one column per key across all files, so
detail files (per set, per bootstrap bound) make a table hundreds of columns wide. Headline
files are rows whose keys are shared columns: the crafting attacks for Tables 1 and 2, the
attacks_d for Figure 6, ``test_accuracy`` for the models. Detail stays in the stages' ordinary
outputs (results/metrics, results/auroc, ...). Values are copied from what the stage measured,
rounded to 4 digits as the tables print them.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from a2d.utils.io import write_json_atomic

Row = dict[str, float]


def _clean(row: Mapping[str, Any]) -> Row:
    return {
        str(key): round(float(value), 4)
        for key, value in row.items()
        if value is not None and math.isfinite(float(value))
    }


def write_headline_rows(
    folder: str | os.PathLike[str], rows: Mapping[str, Mapping[str, Any]]
) -> None:
    """Replace ``folder`` with one ``<row>.json`` per row (a stale row never survives a rerun)."""
    target = Path(folder)
    shutil.rmtree(target, ignore_errors=True)
    for name, row in rows.items():
        write_json_atomic(target / f"{name}.json", _clean(row))


def table2_rows(frame: pd.DataFrame) -> dict[str, Row]:
    """Table 2: one row per (environment, dataset, detector); columns are the crafting attacks."""
    rows: dict[str, Row] = {}
    for (env, dataset, detector), cells in frame.groupby(
        ["env", "dataset", "detector"], sort=False
    ):
        rows[f"{env}_{dataset}_{detector}"] = dict(zip(cells["attack"], cells["ours"], strict=True))
    return rows


def table1_rows(frame: pd.DataFrame) -> dict[str, Row]:
    """Table 1: one row per (dataset, score); columns are the sets (lambda ratios left out)."""
    scores = frame[~frame["column"].str.startswith(("lambda", "Avg"))]
    rows: dict[str, Row] = {}
    for (dataset, label), cells in scores.groupby(["dataset", "label"], sort=False):
        rows[f"{dataset}_{label}"] = dict(zip(cells["column"], cells["ours"], strict=True))
    return rows


def detector_rows(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, Row]:
    """Figure 6: K-NN and Z-score average accuracy, one row each; columns are the attacks_d."""
    return {
        "knn": dict(metrics["knn_average_accuracy"]),
        "zscore": dict(metrics["zscore_average_accuracy"]),
    }
