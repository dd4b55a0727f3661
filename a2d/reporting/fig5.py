"""Figure 5: how many iterations each attack_d needs on benign and on adversarial inputs.

One panel per attack_d (BIM_d, BIM2_d, JSMA_d, DBA_d), one box per input set (Benign, FGSM,
BIM, JSMA, C&W), as in the paper. The paper's point shows at a glance: adversarial inputs are
far cheaper to attack than benign ones.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from a2d.reporting.figures import paper_style
from a2d.reporting.names import ATTACKS_D, SETS, display_name

SET_ORDER = ["benign", "fgsm", "bim-a", "jsma", "cw"]
"""Box order of every panel (the paper's x axis); other sets follow in name order."""

PANEL_ORDER = ["bim", "bim2", "jsma", "dba"]
"""Panel order (the paper's Figure 5: BIM_d, BIM2_d, JSMA_d, then DBA_d); others follow."""


def _subscripted(detector: str) -> str:
    """``BIM2_d`` -> mathtext ``BIM2$_d$`` (the paper's typography)."""
    name, _, sub = detector.partition("_")
    return f"{name}$_{sub}$" if sub else name


def iteration_boxplots(
    tables: Mapping[str, Mapping[str, pd.DataFrame]], *, title: str | None = None
) -> Figure:
    """Box plots of ``cost`` per set, one panel per attack_d.

    ``tables`` maps attack_d (``bim``, ...) to set kind (``benign``, ``fgsm``, ...) to the
    cost table of that set (one split). Whiskers at 1.5 IQR, outliers as small dots.
    """
    attacks = [a for a in PANEL_ORDER if a in tables] + sorted(set(tables) - set(PANEL_ORDER))
    with paper_style():
        fig, axes = plt.subplots(
            1, len(attacks), figsize=(1.9 * len(attacks) + 0.4, 2.3), squeeze=False
        )
        for ax, attack, letter in zip(axes[0], attacks, "abcdefgh", strict=False):
            sets = tables[attack]
            kinds = [k for k in SET_ORDER if k in sets] + sorted(set(sets) - set(SET_ORDER))
            ax.boxplot(
                [sets[k]["cost"].to_numpy() for k in kinds],
                tick_labels=[display_name(k, SETS) for k in kinds],
                flierprops={"markersize": 1.5, "alpha": 0.4},
                medianprops={"color": "tab:red"},
                widths=0.6,
            )
            ax.set_title(f"({letter}) {_subscripted(display_name(attack, ATTACKS_D))}", y=-0.32)
            ax.tick_params(axis="x", labelrotation=0, labelsize=6.5)
            ax.grid(axis="x", visible=False)
        axes[0][0].set_ylabel("iterations")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
