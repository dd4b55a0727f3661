"""What an adaptive attack produced: one typed record per example, whatever the attack.

The kappa sweep of C&W-L2 (:mod:`a2d.adaptive.confidence`) and the A2D-aware attack
(:mod:`a2d.adaptive.aware`) both return :class:`AdaptiveExamples`: the adversarial inputs
beside their sources, whether each one is adversarial, its L2 distortion and the logit margin it
actually reached. Everything Section 6 measures (Table 4, Figure 7, the image grids) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor, nn

from a2d.attacks.base import CraftResult, l2_distortion
from a2d.attacks.cw import logit_margin
from a2d.data.sets import ExampleSet


@dataclass(frozen=True)
class AdaptiveExamples:
    """Adversarial examples of one adaptive attack setting, one row per source input (CPU).

    Attributes:
        attack: what made them, e.g. ``"cw"`` or ``"a2d-aware"``.
        kappa: the C&W confidence they were crafted with (``None`` where it does not apply).
        x: (N, C, H, W) the benign sources.
        adversarial: (N, C, H, W) the attack's outputs (the source itself where it found none).
        indices: (N,) int64 source test indices (they seed per-example randomness downstream).
        label: (N,) int64 true labels.
        target: (N,) int64 target classes, or ``None`` for an untargeted attack.
        prediction: (N,) int64 the model's prediction on ``adversarial``.
        success: (N,) bool, the attack's criterion: classified as ``target`` (targeted) or not
            as ``label`` (untargeted).
        l2: (N,) float64 L2 distortion ``||adversarial - x||_2`` (0 where nothing was found).
        margin: (N,) float64 logit margin reached (:func:`a2d.attacks.cw.logit_margin`: target
            minus best other, or best other minus label); >= kappa where C&W met its confidence.
    """

    attack: str
    kappa: float | None
    x: Tensor
    adversarial: Tensor
    indices: Tensor
    label: Tensor
    target: Tensor | None
    prediction: Tensor
    success: Tensor
    l2: Tensor
    margin: Tensor

    def __len__(self) -> int:
        return int(self.success.shape[0])

    def within(self, cap: float | None) -> Tensor:
        """(N,) bool: successful and, if ``cap`` is given, with L2 at most ``cap``."""
        if cap is None:
            return self.success.clone()
        return self.success & (self.l2 <= cap)

    def take(self, rows: Tensor | np.ndarray) -> AdaptiveExamples:
        """The examples at ``rows`` (a boolean mask or integer positions), in that order."""
        keep = torch.as_tensor(rows)

        def cut(values: Tensor | None) -> Tensor | None:
            return None if values is None else values[keep]

        return replace(
            self,
            x=self.x[keep],
            adversarial=self.adversarial[keep],
            indices=self.indices[keep],
            label=self.label[keep],
            target=cut(self.target),
            prediction=self.prediction[keep],
            success=self.success[keep],
            l2=self.l2[keep],
            margin=self.margin[keep],
        )

    def to_set(self, split: str = "eval") -> ExampleSet:
        """The adversarial inputs as an :class:`ExampleSet` (kind ``<attack>-k<kappa>``), e.g. for
        :func:`a2d.robustness.tables.clever_table`."""
        kind = self.attack if self.kappa is None else f"{self.attack}-k{self.kappa:g}"
        return ExampleSet(
            x=self.adversarial,
            indices=self.indices,
            labels=self.label,
            kind=kind,
            split=split,
            success=self.success,
            prediction=self.prediction,
            target=self.target,
            meta={"attack": self.attack, "kappa": self.kappa},
        )


@torch.no_grad()
def adaptive_examples(
    model: nn.Module,
    x: Tensor,
    result: CraftResult,
    *,
    attack: str,
    kappa: float | None,
    indices: Tensor | None = None,
    batch_size: int = 500,
) -> AdaptiveExamples:
    """Record a crafting result with its L2 distortions and reached margins (all on the CPU).

    Args:
        model: the attacked logits model (evaluated in its current mode; pass it in eval mode).
        x: (N, C, H, W) the sources the result was crafted from.
        result: the :class:`~a2d.attacks.base.CraftResult` of the attack.
        attack, kappa: how the examples were made (kept in the record).
        indices: (N,) source ids; default ``arange(N)``.
        batch_size: inputs per forward pass of the margin computation.
    """
    n = len(result)
    if x.shape != result.adversarial.shape:
        raise ValueError(
            f"x {tuple(x.shape)} and the result's adversarial {tuple(result.adversarial.shape)} "
            "must have the same shape (pass the sources the result was crafted from)"
        )
    ids = torch.arange(n) if indices is None else torch.as_tensor(indices).long().cpu()
    if ids.shape != (n,):
        raise ValueError(f"indices must be ({n},) source ids, got shape {tuple(ids.shape)}")
    device = result.adversarial.device
    margins = []
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        logits = model(result.adversarial[rows].to(device))
        target = None if result.target is None else result.target[rows]
        margins.append(logit_margin(logits, result.label[rows], target).double().cpu())
    return AdaptiveExamples(
        attack=attack,
        kappa=kappa,
        x=x.detach().cpu(),
        adversarial=result.adversarial.detach().cpu(),
        indices=ids,
        label=result.label.cpu(),
        target=None if result.target is None else result.target.cpu(),
        prediction=result.prediction.cpu(),
        success=result.success.cpu(),
        l2=l2_distortion(x.detach().cpu(), result.adversarial.detach().cpu()).double(),
        margin=torch.cat(margins) if margins else torch.empty(0, dtype=torch.float64),
    )
