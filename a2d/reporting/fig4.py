"""Figure 4: attack time of the eight attacks_d on benign and adversarial inputs.

One panel per attack_d, (a) FGSM_d to (h) DBA_d as in the paper, one box of seconds per input
set (Benign, FGSM, BIM, JSMA, C&W); and the table of numbers behind the paper's reading of the
figure (:func:`a2d.costs.comparison.separation`), with display names.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from a2d.reporting.figures import paper_style
from a2d.reporting.names import RQ1_ATTACKS_D, SETS, display_name

SET_ORDER = ["benign", "fgsm", "bim-a", "jsma", "cw"]
"""Box order of every panel; other sets follow in name order."""


def _subscripted(name: str) -> str:
    """``C&W_d`` -> mathtext ``C&W$_d$`` (the paper's typography)."""
    head, _, sub = name.rpartition("_")
    return f"{head}$_{sub}$" if head else name


def time_boxplots(
    tables: Mapping[str, Mapping[str, pd.DataFrame]], *, title: str | None = None
) -> Figure:
    """Box plots of ``seconds`` per set, one panel per attack_d, four panels a row.

    ``tables``: attack_d -> set kind -> timed table (one row per input). Whiskers at 1.5 IQR,
    outliers as small dots; each panel has its own y scale from 0 (the attacks differ by
    orders of magnitude).
    """
    order = [a for a in RQ1_ATTACKS_D if a in tables] + sorted(set(tables) - set(RQ1_ATTACKS_D))
    columns = min(4, len(order))
    rows = (len(order) + columns - 1) // columns
    with paper_style():
        fig, axes = plt.subplots(
            rows, columns, figsize=(1.9 * columns + 0.4, 2.2 * rows), squeeze=False
        )
        for index, (ax, attack) in enumerate(zip(axes.flat, order, strict=False)):
            sets = tables[attack]
            kinds = [k for k in SET_ORDER if k in sets] + sorted(set(sets) - set(SET_ORDER))
            ax.boxplot(
                [sets[k]["seconds"].to_numpy() for k in kinds],
                tick_labels=[display_name(k, SETS) for k in kinds],
                flierprops={"markersize": 1.5, "alpha": 0.4},
                medianprops={"color": "tab:red"},
                widths=0.6,
            )
            letter = "abcdefghijklmnop"[index]
            name = _subscripted(display_name(attack, RQ1_ATTACKS_D))
            ax.set_title(f"({letter}) {name}", y=-0.42)
            ax.tick_params(axis="x", labelsize=6, labelrotation=35)
            ax.grid(axis="x", visible=False)
            # from zero: a one-step attack's few-percent spread must not look like a gap
            ax.set_ylim(bottom=0)
            if index % columns == 0:
                ax.set_ylabel("seconds")
        for ax in list(axes.flat)[len(order) :]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def separation_table(separation: pd.DataFrame) -> pd.DataFrame:
    """:func:`a2d.costs.comparison.separation` with the paper's names, in Figure 4's order."""
    frame = separation.copy()
    rank = {a: i for i, a in enumerate(RQ1_ATTACKS_D)}
    frame["order"] = frame["attack"].map(lambda a: rank.get(a, len(rank)))
    frame["set_order"] = frame["set"].map(lambda k: SET_ORDER.index(k) if k in SET_ORDER else 99)
    frame = frame.sort_values(["order", "set_order"], kind="stable")
    frame["attack"] = frame["attack"].map(lambda a: display_name(a, RQ1_ATTACKS_D))
    frame["set"] = frame["set"].map(lambda k: display_name(k, SETS))
    return frame.drop(columns=["order", "set_order"]).round(4).reset_index(drop=True)
