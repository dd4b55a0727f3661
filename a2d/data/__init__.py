"""Datasets through torchvision's real classes, as (N, C, H, W) float tensors in [0, 1]."""

from a2d.data.datasets import DatasetSplit, load_split, resolve_data_root
from a2d.data.selection import benign_sets, first_correct

__all__ = ["DatasetSplit", "benign_sets", "first_correct", "load_split", "resolve_data_root"]
