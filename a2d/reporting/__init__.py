"""Reporting: the paper's numbers beside ours (tables, figures, headline metrics).

Reporting reads what the measuring stages wrote (or what :mod:`a2d.robustness`,
:mod:`a2d.detectors` and :mod:`a2d.baselines` computed) and only lays it out or draws it; it
computes no result of its own, and nothing on the measuring side imports it.

- :mod:`a2d.reporting.names`: the paper's display names (sets, attacks_d, datasets, ...).
- :mod:`a2d.reporting.paper`: the paper's reported values (a copy of paper-values.yaml).
- :mod:`a2d.reporting.tables`: paper / ours / diff tables as CSV + Markdown.
- :mod:`a2d.reporting.figures`: the paper-like figure style and an atomic PNG + PDF writer.
- :mod:`a2d.reporting.table1`, :mod:`a2d.reporting.table2`, :mod:`a2d.reporting.fig3`,
  :mod:`a2d.reporting.fig4`, :mod:`a2d.reporting.fig5`,
  :mod:`a2d.reporting.attack_time` (Figures 2 and 10), :mod:`a2d.reporting.detector_tables`
  (Figure 6, Tables 3 and 7), :mod:`a2d.reporting.headline`: one paper artefact each;
  :mod:`a2d.reporting.adaptive`: Section 6 (Table 4, Figure 7, the grids of Figures 8, 9, 11-13).
"""

from a2d.reporting.figures import paper_style, save_figure
from a2d.reporting.paper import paper_value, paper_values
from a2d.reporting.tables import comparison_frame, markdown_table, write_table

__all__ = [
    "comparison_frame",
    "markdown_table",
    "paper_style",
    "paper_value",
    "paper_values",
    "save_figure",
    "write_table",
]
