"""What CLEVER scores: the model's logits, or its probabilities through a softmax."""

from __future__ import annotations

import torch
from torch import nn


class SoftmaxOutput(nn.Module):
    """A logits model seen through a softmax: CLEVER on probabilities instead of logits.

    Keeps the wrapped model's ``bounds`` (CLEVER clips its samples to the same box) and its
    train/eval mode.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.bounds = tuple(getattr(model, "bounds", (0.0, 1.0)))
        # a fresh module is in training mode; CLEVER restores the wrapper's mode on exit, which
        # would switch the wrapped model's dropout on: take the wrapped model's mode instead
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def scored_model(model: nn.Module, output: str) -> nn.Module:
    """``model`` itself for logits, or wrapped in :class:`SoftmaxOutput` for probabilities."""
    if output == "logits":
        return model
    if output == "probabilities":
        return SoftmaxOutput(model)
    raise ValueError(f"output={output!r}; expected 'logits' or 'probabilities'")
