"""Reporting: the paper's numbers beside ours (tables, figures, metrics)."""

from a2d.reporting.paper import paper_value, paper_values

__all__ = ["paper_value", "paper_values"]
