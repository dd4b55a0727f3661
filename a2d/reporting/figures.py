"""Figures: one paper-like style and one atomic PNG + PDF writer for every figure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # stages run headless; never open a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from a2d.utils.io import atomic_path  # noqa: E402

PAPER_STYLE = {
    "font.family": "serif",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
}
"""The ACM two-column look of the paper's figures: small serif text, light grid."""


@contextmanager
def paper_style() -> Iterator[None]:
    """Matplotlib settings for a figure styled like the paper's, restored afterwards."""
    with plt.rc_context(PAPER_STYLE):
        yield


def save_figure(fig: Figure, out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``fig`` to ``<out>.png`` and ``<out>.pdf`` atomically, then close it.

    PDF metadata carries no creation date, so an unchanged figure gives an unchanged file.
    """
    stem = Path(out)
    paths = (stem.with_suffix(".png"), stem.with_suffix(".pdf"))
    try:
        for path in paths:
            with atomic_path(path) as tmp:
                metadata = {"CreationDate": None} if path.suffix == ".pdf" else {"Software": None}
                fig.savefig(tmp, format=path.suffix[1:], metadata=metadata)
    finally:
        plt.close(fig)
    return paths
