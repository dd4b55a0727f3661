"""Evaluation-set selection: the first N test images the model classifies correctly."""

from __future__ import annotations

import torch
from torch import nn

from a2d.data.datasets import DatasetSplit
from a2d.data.sets import SPLITS, ExampleSet
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


def benign_sets(
    model: nn.Module, test: DatasetSplit, *, n_eval: int, n_train: int
) -> dict[str, ExampleSet]:
    """The benign evaluation and training sets of a target, by split (``"eval"``, ``"train"``).

    Evaluation: the first ``n_eval`` test images ``model`` classifies correctly; training (the
    detectors' pool): the next ``n_train``, disjoint from it. ``model`` must already be on its
    device. ``meta`` records the size and how many correct images were skipped.
    """
    sizes = {"eval": (n_eval, 0), "train": (n_train, n_eval)}
    sets = {}
    for split in SPLITS:
        n, skip = sizes[split]
        chosen = first_correct(model, test, n, skip=skip)
        sets[split] = ExampleSet(
            x=chosen.x,
            indices=chosen.indices,
            labels=chosen.y,
            kind="benign",
            split=split,
            success=None,
            prediction=chosen.y.clone(),
            meta={"n": n, "skip_correct": skip},
        )
    return sets
