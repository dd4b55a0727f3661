"""Section 6's artefacts: Table 4, Figure 7 and the image grids of Figures 8, 9 and 11-13.

Lays out what :mod:`a2d.adaptive` measured; computes nothing of its own.

- :func:`table4_frame`: Table 4 (CLEVER score, BIM_d iterations, L2 per kappa) beside the paper's.
- :func:`figure7` and :func:`figure7_claims`: attack success rate per defence against kappa
  with the mean L2 on a second axis, and the rates the paper's text states beside ours.
- :func:`figure7_frame`: Figure 7's numbers (ASR per kappa and defence) beside the rates the
  paper states; :func:`write_figure7` writes the figure and both tables.
- :func:`image_grid` with :func:`confidence_columns`: adversarial examples for several kappa
  (Figures 8, 11-13) or several models (Figure 9), the L2 distortion in every title;
  :func:`grid_figure` and :func:`grid_summary` draw and sum up a crafted
  :class:`a2d.adaptive.grids.ImageGrid`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from a2d.reporting.figures import paper_style, save_figure
from a2d.reporting.names import DATASETS, display_name
from a2d.reporting.paper import paper_value
from a2d.reporting.tables import comparison_frame, write_table

if TYPE_CHECKING:  # Table 4 and Figure 7 need no torch (the table4 stage imports this module)
    from torch import Tensor

    from a2d.adaptive.examples import AdaptiveExamples
    from a2d.adaptive.grids import ImageGrid

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


def figure7_frame(
    summary: pd.DataFrame, *, dataset: str, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Figure 7's numbers: one row per (defence, kappa), the ASR the paper states there (if any)
    beside ours, then the counts and mean L2 behind it.

    Args:
        summary: :func:`a2d.adaptive.attack_success`'s summary.
        dataset: whose claims (``paper_values.yaml`` ``fig7.<dataset>``) go beside ours.
        names: display names by defence key; default :data:`DEFENCES` (:data:`AT_NAMES` on the
            adversarially trained model).
    """
    labels = {**DEFENCES, **(names or {})}
    claims = paper_value("fig7", dataset, default={}) or {}
    rows = []
    order = {name: i for i, name in enumerate(dict.fromkeys(summary["defence"]))}
    ranked = summary.assign(_rank=summary["defence"].map(order))
    for record in ranked.sort_values(["_rank", "kappa"], kind="stable").to_dict("records"):
        stated = {
            float(k): v for k, v in (claims.get(record["defence"]) or {}).items() if _is_number(k)
        }
        rows.append(
            {
                "defence": labels.get(record["defence"], record["defence"]),
                "kappa": float(record["kappa"]),
                "paper": stated.get(float(record["kappa"])),
                "ours": record["asr"],
                "n": record["n"],
                "n_through": record["n_through"],
                "detected": record["detected"],
                "within_cap": record["within_cap"],
                "mean_l2": record["mean_l2"],
            }
        )
    return comparison_frame(rows, keys=["defence", "kappa"])


def figure7_glance(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`figure7_frame` in the figure's layout: one row per kappa, ``ours (paper)`` ASR in % per defence."""
    cells = frame.assign(
        cell=[
            f"{100 * o:.0f}" + (f" ({100 * p:.0f})" if p is not None and not _nan(p) else "")
            if o is not None and not _nan(o)
            else ""
            for o, p in zip(frame["ours"], frame["paper"], strict=True)
        ]
    )
    wide = cells.pivot_table(
        index="kappa", columns="defence", values="cell", aggfunc="first", sort=False
    )
    wide = wide[list(dict.fromkeys(frame["defence"]))].sort_index()
    l2 = frame.drop_duplicates("kappa").set_index("kappa")["mean_l2"]
    wide["mean L2"] = [_fmt(l2.get(k)) for k in wide.index]
    wide.index = [f"{float(k):g}" for k in wide.index]
    return wide.rename_axis("κ").reset_index()


def write_figure7(
    summary: pd.DataFrame,
    *,
    target: str,
    dataset: str,
    cap: float,
    adversarially_trained: bool,
    out: str | os.PathLike[str],
    table: str | os.PathLike[str],
    notes: Sequence[str] = (),
) -> None:
    """Figure 7 of one defended model: the figure (``<out>.png``/``.pdf``), its numbers beside
    the paper's stated rates (``<table>.csv``/``.md``, :func:`figure7_frame`) and the claims
    table (``<table>_claims``, :func:`figure7_claims`). On an adversarially trained model the
    legend reads "AT" and "A2D+AT" (:data:`AT_NAMES`)."""
    names = AT_NAMES if adversarially_trained else None
    title = f"Figure 7 ({target}): C&W-kappa through the defences, L2 cap {cap:g}"
    figure = figure7(summary, names=names, paper=paper_value("fig7", dataset), cap=cap)
    save_figure(figure, out)
    frame = figure7_frame(summary, dataset=dataset, names=names)
    write_table(frame, table, title=title, glance=figure7_glance(frame), notes=notes)
    write_table(
        figure7_claims(summary, dataset=dataset),
        f"{table}_claims",
        title=f"{title}: the paper's stated rates beside ours",
    )


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
        benign: (N,) bool, True marks a benign source image ("Benign" in its title, no L2),
            e.g. the diagonal of Figures 11-13; default none.
    """

    title: str
    images: Tensor
    l2: Tensor | None = None
    ok: Tensor | None = None
    benign: Tensor | None = None


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
                if column.benign is not None and bool(column.benign[position]):
                    parts.append("Benign")
                else:
                    if column.l2 is not None:
                        parts.append(f"L2 = {float(column.l2[position]):.2f}")
                    if column.ok is not None and not bool(column.ok[position]):
                        parts.append("failed")
                ax.set_title("\n".join(parts), fontsize=6)
            if row_labels is not None:
                axes[i][0].set_ylabel(row_labels[i], fontsize=6)
        if title:
            fig.suptitle(title, fontsize=7)
        fig.tight_layout()
    return fig


def grid_columns(grid: ImageGrid) -> list[GridColumn]:
    """The columns of a crafted grid (:mod:`a2d.adaptive.grids`): every cell's image, its L2,
    whether the attack succeeded and whether it is the benign source."""
    import torch

    n_rows, n_columns = grid.shape
    frame = grid.frame().set_index(["row", "column"])
    columns = []
    for j in range(n_columns):
        cells = sorted((c for c in grid.cells if c.column == j), key=lambda c: c.row)
        if len(cells) != n_rows:
            raise ValueError(f"grid column {j} has {len(cells)} cells for {n_rows} rows")
        images = torch.stack([grid.image(c) for c in cells])
        if all(c.benign for c in cells):  # Figure 8's first column: the sources themselves
            columns.append(GridColumn(title=grid.column_labels[j], images=images))
            continue
        columns.append(
            GridColumn(
                title=grid.column_labels[j],
                images=images,
                l2=torch.tensor([float(frame.loc[(c.row, j), "l2"]) for c in cells]),
                ok=torch.tensor(
                    [c.benign or bool(frame.loc[(c.row, j), "success"]) for c in cells]
                ),
                benign=torch.tensor([c.benign for c in cells]),
            )
        )
    return columns


def grid_figure(grid: ImageGrid, *, title: str | None = None) -> Figure:
    """A crafted grid drawn as the paper's Figures 8, 11-13 (row labels: pair or source class)."""
    labels = (
        list(grid.row_labels) if grid.layout == "kappas" else [f"from {r}" for r in grid.row_labels]
    )
    columns = grid_columns(grid)
    if grid.layout == "pairs":
        columns = [replace(c, title=f"to {c.title}") for c in columns]
    return image_grid(columns, row_labels=labels, title=title)


def grid_summary(grid: ImageGrid) -> pd.DataFrame:
    """Per kappa of a grid: cells, successful cells, mean / min / max L2 of the successful ones."""
    cells = grid.frame()
    crafted = cells[cells["kappa"].notna()]
    rows = []
    for kappa, group in crafted.groupby("kappa", sort=True):
        ok = group[group["success"].astype(bool)]
        rows.append(
            {
                "kappa": float(kappa),
                "cells": len(group),
                "successful": len(ok),
                "mean_l2": float(ok["l2"].mean()) if len(ok) else float("nan"),
                "min_l2": float(ok["l2"].min()) if len(ok) else float("nan"),
                "max_l2": float(ok["l2"].max()) if len(ok) else float("nan"),
            }
        )
    return pd.DataFrame.from_records(rows)
