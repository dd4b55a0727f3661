"""Section 6's artefacts: Table 4, Figure 7 and the image grids of Figures 8, 9 and 11-13.

Lays out what :mod:`a2d.adaptive` measured; computes nothing of its own.

- :func:`table4_frame`: Table 4 (CLEVER score, BIM_d iterations, L2 per kappa) beside the paper's.
- :func:`figure7` and :func:`figure7_claims`: attack success rate per defence against kappa
  with the mean L2 on a second axis, and the rates the paper's text states beside ours.
- :func:`image_grid` with :func:`confidence_columns`: adversarial examples for several kappa
  (Figures 8, 11-13) or several models (Figure 9), the L2 distortion in every title.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import Tensor

from a2d.adaptive.examples import AdaptiveExamples
from a2d.reporting.figures import paper_style
from a2d.reporting.names import DATASETS, display_name
from a2d.reporting.paper import paper_value
from a2d.reporting.tables import comparison_frame

TABLE4_QUANTITIES: dict[str, str] = {
    "clever": "CLEVER Score",
    "iterations": "No. of Iterations",
    "l2": "L2 distance",
}
"""Table 4's rows: our statistic -> the paper's row name."""

_PAPER_TABLE4_KEYS = {"clever": "clever", "iterations": "iters", "l2": "l2"}
"""Our statistics -> their keys in ``paper_values.yaml`` (``table4``)."""

DEFENCES: dict[str, str] = {
    "none": "No defense",
    "a2d": "A2D",
    "ae": "AE",
    "a2d+ae": "A2D+AE",
    "at": "AT",
    "a2d+at": "A2D+AT",
}
"""Figure 7's legend names of our defence keys (on the adversarially trained model, "none" is
"AT" and "a2d" is "A2D+AT": :func:`figure7` takes a ``names`` mapping for that)."""

AT_NAMES: dict[str, str] = {"none": "AT", "a2d": "A2D+AT"}
"""Figure 7b's legend: the defences on the adversarially trained model."""


def _paper_table4(dataset: str, quantity: str) -> dict[float, float]:
    kappas = paper_value("table4_kappas", default=[0, 2, 4, 6, 8])
    values = paper_value("table4", dataset, _PAPER_TABLE4_KEYS[quantity])
    if values is None:
        return {}
    return {float(k): float(v) for k, v in zip(kappas, values, strict=True)}


def table4_frame(statistics: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 4 as one row per (dataset, quantity, kappa): paper, ours, diff, then counts.

    Args:
        statistics: dataset (``mnist``, ``cifar10``) -> :func:`a2d.adaptive.table4_statistics`.

    The paper prints "≈ 0" for the CLEVER score at kappa 0; it is compared as 0.
    """
    rows: list[dict[str, Any]] = []
    for dataset, frame in statistics.items():
        for quantity, title in TABLE4_QUANTITIES.items():
            paper = _paper_table4(dataset, quantity)
            for record in frame.to_dict("records"):
                kappa = float(record["kappa"])
                rows.append(
                    {
                        "dataset": display_name(dataset, DATASETS),
                        "quantity": title,
                        "kappa": kappa,
                        "paper": paper.get(kappa),
                        "ours": record[quantity],
                        "n_success": int(record["n_success"]),
                        "n": int(record["n"]),
                    }
                )
    return comparison_frame(rows, keys=["dataset", "quantity", "kappa"])


def table4_glance(frame: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: one row per (dataset, quantity), ``ours (paper)`` per kappa column."""
    cells = frame.assign(
        cell=[
            f"{_fmt(o)} ({_fmt(p)})" if p is not None and not _nan(p) else _fmt(o)
            for o, p in zip(frame["ours"], frame["paper"], strict=True)
        ],
        column=[f"kappa={k:g}" for k in frame["kappa"]],
    )
    wide = cells.pivot_table(
        index=["dataset", "quantity"], columns="column", values="cell", aggfunc="first", sort=False
    )
    ordered = sorted(wide.columns, key=lambda c: float(c.split("=")[1]))
    return wide[ordered].reset_index()


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _fmt(value: Any) -> str:
    if value is None or _nan(value):
        return ""
    return f"{float(value):.2f}"


def figure7(
    summary: pd.DataFrame,
    *,
    defences: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    paper: Mapping[str, Mapping[Any, float]] | None = None,
    cap: float | None = None,
    title: str | None = None,
) -> Figure:
    """Attack success rate per defence against kappa (left axis), mean L2 (right axis, dashed).

    Args:
        summary: :func:`a2d.adaptive.attack_success`'s summary (kappa, defence, asr, mean_l2).
        defences: the curves, in legend order; default every defence in ``summary``.
        names: legend names by defence key; default :data:`DEFENCES` (use :data:`AT_NAMES`
            on the adversarially trained model).
        paper: defence -> {kappa: ASR} the paper states (``paper_values.yaml`` ``fig7``),
            drawn as hollow markers; keys that are not numbers ("max") are skipped.
        cap: the L2 cap, drawn as a dotted line on the L2 axis.
        title: the figure title.
    """
    labels = {**DEFENCES, **(names or {})}
    order = list(defences) if defences is not None else list(dict.fromkeys(summary["defence"]))
    with paper_style():
        fig, ax = plt.subplots(figsize=(3.4, 2.4))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, defence in enumerate(order):
            rows = summary[summary["defence"] == defence].sort_values("kappa")
            colour = colours[i % len(colours)]
            ax.plot(
                rows["kappa"],
                100 * rows["asr"],
                marker="o",
                markersize=3,
                color=colour,
                label=labels.get(defence, defence),
            )
            claims = (paper or {}).get(defence, {})
            points = [(float(k), v) for k, v in claims.items() if _is_number(k)]
            if points:
                ks, vs = zip(*points, strict=True)
                ax.scatter(
                    ks, [100 * v for v in vs], s=22, facecolors="none", edgecolors=colour, zorder=3
                )
        ax.set_xlabel("Confidence in Carlini L2 attack")
        ax.set_ylabel("Adaptive attack success rate (%)")
        ax.set_ylim(-3, 103)
        l2_axis = ax.twinx()
        first = summary.drop_duplicates("kappa").sort_values("kappa")
        l2_axis.plot(
            first["kappa"], first["mean_l2"], linestyle="--", color="black", label="L2 Distortion"
        )
        if cap is not None:
            l2_axis.axhline(cap, linestyle=":", color="grey", linewidth=0.8)
        l2_axis.set_ylabel("L2 Distortion")
        l2_axis.grid(False)
        handles, texts = ax.get_legend_handles_labels()
        more, more_texts = l2_axis.get_legend_handles_labels()
        ax.legend(handles + more, texts + more_texts, loc="center right", fontsize=6)
        if paper:
            ax.text(0.01, 0.01, "hollow: paper (text)", transform=ax.transAxes, fontsize=6)
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig


def _is_number(key: Any) -> bool:
    try:
        float(key)
    except (TypeError, ValueError):
        return False
    return True


def figure7_claims(summary: pd.DataFrame, *, dataset: str) -> pd.DataFrame:
    """The attack success rates the paper's text states for ``dataset`` beside ours.

    One row per claim: defence, kappa (or ``max`` / ``min`` over our kappas), paper, ours, diff.
    A claim at a kappa we did not run has no ``ours``.
    """
    claims = paper_value("fig7", dataset, default={}) or {}
    rows = []
    for defence, points in claims.items():
        ours_rows = summary[summary["defence"] == defence]
        for key, value in points.items():
            if _is_number(key):
                match = ours_rows[np.isclose(ours_rows["kappa"], float(key))]
                ours = float(match["asr"].iloc[0]) if len(match) else None
            elif key in ("max", "min") and len(ours_rows):
                ours = float(getattr(ours_rows["asr"], key)())
            else:
                ours = None
            rows.append({"defence": defence, "kappa": str(key), "paper": value, "ours": ours})
    return comparison_frame(rows, keys=["defence", "kappa"])


@dataclass(frozen=True)
class GridColumn:
    """One column of an image grid: a title and one image per row, with optional L2 and status.

    Attributes:
        title: the column's heading (e.g. ``"kappa = 4"`` or ``"with AT"``).
        images: (N, C, H, W) images in [0, 1].
        l2: (N,) L2 distortion of each image, shown in its title; ``None`` for benign images.
        ok: (N,) bool, False marks a failed example ("failed" in its title); default all ok.
    """

    title: str
    images: Tensor
    l2: Tensor | None = None
    ok: Tensor | None = None


def confidence_columns(
    examples: Mapping[float, AdaptiveExamples], *, benign: bool = True
) -> list[GridColumn]:
    """Columns of Figures 8 and 11-13: the benign sources, then one column per kappa."""
    columns = []
    sweep = list(examples.items())
    if benign and sweep:
        columns.append(GridColumn("Benign", sweep[0][1].x))
    for kappa, found in sweep:
        columns.append(GridColumn(f"κ = {kappa:g}", found.adversarial, found.l2, found.success))
    return columns


def image_grid(
    columns: Sequence[GridColumn],
    *,
    rows: Sequence[int] | None = None,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """A grid of images: one column per :class:`GridColumn`, one row per chosen example.

    Args:
        columns: the columns, all with the same number of images.
        rows: which examples (positions) to show; default all.
        row_labels: a label left of each row (e.g. "4 → 0"); default none.
        title: the figure title.

    Every cell is titled with its column's heading (first row) and ``L2 = x.xx`` where the
    column has distortions.
    """
    if not columns:
        raise ValueError("columns is empty; give at least one GridColumn")
    n = int(columns[0].images.shape[0])
    if any(int(c.images.shape[0]) != n for c in columns):
        raise ValueError(
            f"every column needs the same number of images, got "
            f"{[int(c.images.shape[0]) for c in columns]}"
        )
    chosen = list(range(n)) if rows is None else list(rows)
    if row_labels is not None and len(row_labels) != len(chosen):
        raise ValueError(
            f"give one row label per row: {len(chosen)} rows, {len(row_labels)} labels"
        )
    with paper_style():
        fig, axes = plt.subplots(
            len(chosen),
            len(columns),
            figsize=(1.15 * len(columns), 1.25 * len(chosen) + 0.3),
            squeeze=False,
        )
        for i, position in enumerate(chosen):
            for j, column in enumerate(columns):
                ax = axes[i][j]
                image = column.images[position].detach().cpu().float().clamp(0, 1)
                if image.shape[0] == 1:
                    ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
                else:
                    ax.imshow(image.permute(1, 2, 0).numpy())
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                parts = [column.title] if i == 0 else []
                if column.l2 is not None:
                    parts.append(f"L2 = {float(column.l2[position]):.2f}")
                if column.ok is not None and not bool(column.ok[position]):
                    parts.append("failed")
                ax.set_title("\n".join(parts), fontsize=6)
            if row_labels is not None:
                axes[i][0].set_ylabel(row_labels[i], fontsize=6)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
