"""Reporting: the paper's numbers beside ours (tables, figures, metrics).

- :mod:`a2d.reporting.paper`: the paper's reported values (a copy of paper-values.yaml).
- :mod:`a2d.reporting.tables`: paper / ours / diff tables as CSV + Markdown.
- :mod:`a2d.reporting.figures`: the paper-like figure style and an atomic PNG + PDF writer.
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
