"""Table 1: CLEVER scores of benign and adversarial images, mean +- 90% CI, and the ratios lambda.

Lays out the statistics of :func:`a2d.robustness.statistics.table1_statistics` as one row per
cell of the paper's table (dataset, label type, column), with the paper's value, ours and the
difference side by side (:func:`a2d.reporting.comparison_frame`). Score cells carry our
confidence half-width, the number of images, the median and the successful-only mean; lambda
cells are ratios of means: lambda = benign mean / adversarial mean, and Avg. lambda = benign
mean / the mean over every adversarial image of the sets present. The paper's lambdas are
recomputed from its printed means (its printed ratios are those: 3.5572 / 0.1093 = 32.55), its
Avg. lambda over the same sets as ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from a2d.reporting.names import DATASETS, LABEL_TYPES, SETS, display_name
from a2d.reporting.paper import paper_value
from a2d.reporting.tables import comparison_frame

PAPER_COLUMNS = ("benign", "fgsm", "bim-a", "jsma", "cw")
"""The set kinds of the paper's Table 1 columns: ``paper_values.yaml`` lists its means in this order."""

_PAPER_KEYS = {"untargeted": "untarget", "target2": "target2", "target5": "target5", "llc": "llc"}
"""Our label types -> their keys in ``paper_values.yaml``."""

SCORE_FIELDS = {
    "ci": "ci",
    "n": "n",
    "n_dropped": "n_dropped",
    "median": "median",
    "ours_successful": "mean_successful",
    "n_successful": "n_successful",
}
"""A score row's columns after ``ours`` -> the statistic each shows."""


def _paper_means(dataset: str, target: str) -> dict[str, float]:
    values = paper_value("table1", dataset, _PAPER_KEYS.get(target, target))
    return {} if values is None else dict(zip(PAPER_COLUMNS, values, strict=True))


def _paper_ratio(numerator: float | None, denominator: float | None) -> float | None:
    """The paper's lambda from its printed means (None where it printed no such cell)."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def table1_rows(
    statistics: Mapping[str, Mapping[str, Any]], *, dataset: str
) -> list[dict[str, object]]:
    """The rows of one dataset's block of Table 1, the paper's values beside ours.

    Args:
        statistics: :func:`a2d.robustness.statistics.table1_statistics` of the dataset
            (label type -> per-set cells and the pooled ratio), rows in its order.
        dataset: ``mnist`` or ``cifar10`` (picks the paper's values; others have none).

    Returns:
        Dicts with ``dataset``, ``label``, ``column``, ``paper``, ``ours``, ``ci``, ``n``,
        ``n_dropped``, ``median``, ``ours_successful`` and ``n_successful`` (score rows), or
        ``paper``, ``ours`` and ``ours_successful`` (lambda rows), for
        :func:`a2d.reporting.comparison_frame`.
    """
    rows: list[dict[str, object]] = []
    for target, by_target in statistics.items():
        paper = _paper_means(dataset, target)
        base = {
            "dataset": display_name(dataset, DATASETS),
            "label": display_name(target, LABEL_TYPES),
        }
        for kind, cell in by_target["sets"].items():
            column = display_name(kind, SETS)
            rows.append(
                base
                | {"column": column, "paper": paper.get(kind), "ours": cell["mean"]}
                | {name: cell[field] for name, field in SCORE_FIELDS.items()}
            )
            if kind != "benign":
                rows.append(
                    base
                    | {
                        "column": f"lambda {column}",
                        "paper": _paper_ratio(paper.get("benign"), paper.get(kind)),
                        "ours": cell["ratio"],
                        "ours_successful": cell["ratio_successful"],
                    }
                )
        if by_target["average"] is not None:
            # the paper's Avg. lambda over the same adversarial sets as ours
            adversarial = [k for k in by_target["sets"] if k != "benign"]
            paper_adv = (
                float(np.mean([paper[k] for k in adversarial]))
                if all(k in paper for k in adversarial)
                else None
            )
            rows.append(
                base
                | {
                    "column": "Avg. lambda",
                    "paper": _paper_ratio(paper.get("benign"), paper_adv),
                    "ours": by_target["average"]["ratio"],
                    "ours_successful": by_target["average"]["ratio_successful"],
                }
            )
    return rows


def table1_frame(per_dataset: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """Table 1 for every dataset in ``per_dataset`` (dataset -> its :func:`table1_rows` statistics)."""
    rows = [
        row
        for dataset, statistics in per_dataset.items()
        for row in table1_rows(statistics, dataset=dataset)
    ]
    frame = comparison_frame(rows, keys=["dataset", "label", "column"], digits=4)
    for column in ("n", "n_dropped", "n_successful"):  # counts, empty on ratio rows (not 100.0000)
        frame[column] = pd.Series(
            [int(v) if v == v else None for v in frame[column]], dtype=object, index=frame.index
        )
    return frame


def table1_cells(
    statistics: Mapping[str, Mapping[str, Any]], *, dataset: str, digits: int = 5
) -> dict[str, dict[str, dict[str, object]]]:
    """One dataset's Table 1 as label -> column -> cell (paper, ours, ci, ...), for a metrics JSON.

    Missing values (no paper cell, an undefined ratio) are left out; floats are rounded to
    ``digits``.
    """
    cells: dict[str, dict[str, dict[str, object]]] = {}
    for row in table1_rows(statistics, dataset=dataset):
        cell = {
            k: row[k]
            for k in ("ours", "paper", "ci", "n", "median", "ours_successful", "n_successful")
            if row.get(k) is not None
        }
        cells.setdefault(str(row["label"]), {})[str(row["column"])] = {
            k: round(float(v), digits) if isinstance(v, float) else v for k, v in cell.items()
        }
    return cells


def table1_notes(
    settings: Mapping[str, Any], *, n_images: int, missing: Sequence[str] = ()
) -> list[str]:
    """What Table 1 compares: the sampling beside the paper's, how lambda is read, what is left out.

    Args:
        settings: the run's CLEVER settings as recorded (``nb_batches``, ``batch_size``,
            ``radius``, ``sampling``, ``cap_at_radius``, ``output``).
        n_images: images per set.
        missing: targets whose clever stage has not run yet (each named in a note).
    """
    sampling = (
        f"Nb = {settings['nb_batches']}, Ns = {settings['batch_size']}, R = {settings['radius']}, "
        f"sampling '{settings['sampling']}', "
        f"{'capped at R' if settings['cap_at_radius'] else 'uncapped'}"
    )
    return [
        f"First {n_images} images of each Env1 evaluation set; CLEVER on {settings['output']}, "
        f"L2, {sampling} (paper: Nb = 500, Ns = 1024; see results/DEVIATIONS.md).",
        "lambda X = benign mean / X mean; Avg. lambda = benign mean / mean over all adversarial "
        "images. The paper's lambdas are recomputed from its printed means.",
        "Failed adversarials are kept (Env1 protocol); ours_successful = the same cell over "
        "the successful adversarials only (n_successful of them); per-image scores in "
        "results/clever/.",
        *[f"Not yet run: {t} (`dvc repro clever@{t}`)." for t in missing],
    ]


def table1_title(confidence: float) -> str:
    """Table 1's title, with the interval's level."""
    return f"Table 1: CLEVER scores, mean and {confidence:.0%} CI (ci = half-width)"
