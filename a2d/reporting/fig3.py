"""Figure 3: distances between the JSMA_d cost profiles of two halves of five input sets.

A heatmap with one row and one column per half (Benign, Benign, FGSM, FGSM, BIM, BIM, DeepFool,
DeepFool, C&W, C&W in the paper), each cell annotated with its value, as the paper draws it;
and a table of the three averages the paper reads off it, ours beside the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from a2d.reporting.figures import paper_style
from a2d.reporting.names import SETS, display_name
from a2d.reporting.tables import comparison_frame

PAPER_ORDER = ["benign", "fgsm", "bim-a", "deepfool", "cw"]
"""The paper's set order (rows and columns of its Figure 3)."""

PAPER_FIG3 = [
    [0.000, 0.031, 0.888, 0.886, 0.957, 0.957, 0.941, 0.945, 0.969, 0.969],
    [0.031, 0.000, 0.919, 0.917, 0.987, 0.988, 0.972, 0.975, 1.000, 1.000],
    [0.888, 0.919, 0.000, 0.002, 0.068, 0.069, 0.053, 0.056, 0.081, 0.081],
    [0.886, 0.917, 0.002, 0.000, 0.070, 0.071, 0.055, 0.058, 0.083, 0.083],
    [0.957, 0.987, 0.068, 0.070, 0.000, 0.001, 0.015, 0.012, 0.013, 0.013],
    [0.957, 0.988, 0.069, 0.071, 0.001, 0.000, 0.016, 0.013, 0.012, 0.012],
    [0.941, 0.972, 0.053, 0.055, 0.015, 0.016, 0.000, 0.004, 0.028, 0.028],
    [0.945, 0.975, 0.056, 0.058, 0.012, 0.013, 0.004, 0.000, 0.025, 0.025],
    [0.969, 1.000, 0.081, 0.083, 0.013, 0.012, 0.028, 0.025, 0.000, 0.000],
    [0.969, 1.000, 0.081, 0.083, 0.013, 0.012, 0.028, 0.025, 0.000, 0.000],
]
"""The paper's Figure 3 matrix, transcribed (halves in :data:`PAPER_ORDER`, two per set)."""


def paper_distances() -> pd.DataFrame:
    """:data:`PAPER_FIG3` as a frame labelled like :func:`a2d.costs.profiles.profile_distances`."""
    names = [f"{kind} {half}" for kind in PAPER_ORDER for half in (1, 2)]
    return pd.DataFrame(np.array(PAPER_FIG3), index=names, columns=names)


def _label(half: str) -> str:
    kind, _, _ = half.rpartition(" ")
    return display_name(kind, SETS)


def distance_heatmap(distances: pd.DataFrame, *, title: str | None = None) -> Figure:
    """The heatmap of ``distances`` (halves x halves, values in [0, 1]), annotated like the paper's."""
    labels = [_label(name) for name in distances.index]
    values = distances.to_numpy(dtype=float)
    size = 0.42 * len(labels) + 1.2
    with paper_style():
        fig, ax = plt.subplots(figsize=(size + 0.6, size))
        image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(labels)), labels, rotation=90)
        ax.set_yticks(range(len(labels)), labels)
        ax.grid(False)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ink = "white" if values[i, j] > 0.6 else "black"
                ax.text(
                    j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=5, color=ink
                )
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig


def summary_frame(ours: Mapping[str, float], paper: Mapping[str, float]) -> pd.DataFrame:
    """One row per average (same kind, benign vs adversarial, adversarial vs adversarial)."""
    rows = [
        {"average": name, "paper": paper.get(name), "ours": value} for name, value in ours.items()
    ]
    return comparison_frame(rows, keys=["average"], digits=3)


def matrix_frame(distances: pd.DataFrame) -> pd.DataFrame:
    """The matrix as a table: a ``half`` column, then one column per half (3 decimals)."""
    frame = distances.round(3)
    frame.insert(0, "half", list(distances.index))
    return frame.reset_index(drop=True)
