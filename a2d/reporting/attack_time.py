"""Figures 2 and 10: CLEVER score vs JSMA_d attack time, and attack time vs iterations.

One scatter panel per dataset, as the paper's (a) MNIST and (b) CIFAR10 panels, drawn from the
``clever`` stage's per-example timing tables (columns ``score``, ``seconds``, ``cost``, ``set``).
Each point is coloured by the set it comes from, and the panel title gives the Spearman rank
correlation (measured by :func:`a2d.robustness.statistics.spearman`, passed in), the number the
paper's claim ("less robust, attacked faster") is about.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from a2d.reporting.figures import paper_style
from a2d.reporting.names import DATASETS, SETS, display_name


def _scatter(
    panels: Mapping[str, pd.DataFrame],
    correlations: Mapping[str, float],
    *,
    x: str,
    y: str,
    xlabel: str,
    ylabel: str,
) -> Figure:
    if not panels:
        raise ValueError("no timing tables to plot; run the clever stage for at least one target")
    missing = [dataset for dataset in panels if dataset not in correlations]
    if missing:
        raise ValueError(
            f"no Spearman correlation for panel(s) {missing}; pass one per dataset of the panels"
        )
    with paper_style():
        fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.6), squeeze=False)
        panels_axes = zip(axes[0], panels.items(), strict=True)
        for letter, (ax, (dataset, frame)) in zip("abcdefgh", panels_axes, strict=False):
            for kind, group in frame.groupby("set", sort=False):
                ax.scatter(group[x], group[y], s=10, alpha=0.75, label=display_name(kind, SETS))
            name = display_name(dataset, DATASETS)
            rho = correlations[dataset]
            ax.set_title(f"({letter}) {name}: n = {len(frame)}, Spearman {rho:.2f}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.legend(loc="best", frameon=False, markerscale=1.5)
        fig.tight_layout()
    return fig


def score_vs_time(panels: Mapping[str, pd.DataFrame], correlations: Mapping[str, float]) -> Figure:
    """Figure 2: CLEVER score (x) against JSMA_d attack time in seconds (y), one panel per dataset.

    ``correlations``: dataset -> Spearman correlation of score and seconds (the panel title).
    """
    return _scatter(
        panels, correlations, x="score", y="seconds", xlabel="CLEVER score", ylabel="Time (s)"
    )


def time_vs_iterations(
    panels: Mapping[str, pd.DataFrame], correlations: Mapping[str, float]
) -> Figure:
    """Figure 10: JSMA_d iterations (x) against attack time in seconds (y), one panel per dataset.

    ``correlations``: dataset -> Spearman correlation of iterations and seconds.
    """
    return _scatter(panels, correlations, x="cost", y="seconds", xlabel="#Iter", ylabel="Time (s)")
