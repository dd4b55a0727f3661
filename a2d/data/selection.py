"""Evaluation-set selection: the first N test images the model classifies correctly."""

from __future__ import annotations

import torch
from torch import nn

from a2d.data.datasets import DatasetSplit
from a2d.errors import DataError


@torch.no_grad()
def first_correct(
    model: nn.Module, split: DatasetSplit, n: int, *, skip: int = 0, batch_size: int = 1000
) -> DatasetSplit:
    """The first ``n`` images of ``split`` (after the first ``skip`` correct ones) that ``model`` gets right.

    Original indices are kept in ``indices`` so adversarial sets crafted from these images stay
    paired with their sources. ``skip`` gives a disjoint pool (e.g. detector training data after
    the evaluation set). Predicts lazily, batch by batch, and stops once enough are found.

    Raises:
        DataError: fewer than ``skip + n`` images are classified correctly.
    """
    if n < 0 or skip < 0:
        raise ValueError(f"n and skip must be >= 0, got n={n}, skip={skip}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    wanted = skip + n
    chosen: list[torch.Tensor] = []
    found = 0
    try:
        for start in range(0, len(split), batch_size):
            if found >= wanted:
                break
            xb = split.x[start : start + batch_size]
            ok = model(xb.to(device)).argmax(1).cpu() == split.y[start : start + batch_size]
            positions = torch.nonzero(ok).flatten() + start
            chosen.append(positions)
            found += len(positions)
    finally:
        model.train(was_training)
    positions = torch.cat(chosen)[skip:wanted] if chosen else torch.empty(0, dtype=torch.long)
    if len(positions) < n:
        raise DataError(
            f"only {found} of {len(split)} images are classified correctly, need {wanted} "
            f"(skip={skip} + n={n}); lower n or check the model"
        )
    return DatasetSplit(
        x=split.x[positions], y=split.y[positions], indices=split.indices[positions]
    )
