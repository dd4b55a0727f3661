"""JSMA_d: foolbox 1.8's fast single-feature saliency-map attack as a cost attack."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.costs.base import Bounds, CostAttack, State, StepOutcome
from a2d.errors import ConfigError


class JSMACost(CostAttack):
    """JSMA_d: count single-feature edits until the second most likely class is predicted.

    Foolbox 1.8 ``SaliencyMapAttack(fast=True)`` with ``TargetClass(second most likely)`` as
    run by the A2D authors. The target is fixed at the start. Each step first checks success
    (prediction == target); otherwise it takes alpha = the gradient of the cross-entropy of the
    logits w.r.t. the *target* (a loss gradient), picks the unmasked feature with the largest
    alpha (``fast``: saliency = -alpha, argmin) and moves it by ``-sign(alpha) * theta * range``,
    i.e. in the direction that lowers the target loss, then clips to the box. A feature leaves
    the search domain once it reaches a bound or has been changed
    ``max_perturbations_per_feature`` times.

    Args:
        max_iterations: step cap; default 2000. Failure = 2000.
        theta: change per edit as a fraction of the range; default 0.1.
        max_perturbations_per_feature: edits after which a feature is masked; default 7.
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; features are the C*H*W elements.
    Cost: the number of single-feature edits applied before the target was reached (success
    is checked before each edit); failure = ``max_iterations``. Queries: every step is one
    gradient evaluation whose logits also check success, so a success at cost k spends k + 1.

    References:
        Papernot et al., "The Limitations of Deep Learning in Adversarial Settings", 2016;
        foolbox 1.8 ``SaliencyMapAttack``; Zhao et al., ISSTA 2021 (JSMA_d).

    Notes:
        * Like foolbox (a TODO there), the loop does not stop when no useful feature is left:
          the argmin then lands on a masked feature (alpha * mask = 0), whose sign is 0, and
          the attack repeats that no-op until the cap. Such a stall is detected (the chosen
          feature is masked, so nothing can change again) and recorded as a failure with
          cost = cap at once; its queries count only the steps actually run.
        * Ties in the argmin go to the first feature in (C, H, W) order; foolbox on a Keras
          model flattens (H, W, C), which only matters for ties between exactly equal
          gradients (identical for one-channel inputs).
        * Foolbox applies one more edit after the last check; it cannot change the cost and is
          skipped, so a failure returns the last checked iterate (not adversarial).
        * The edit is computed in float64 and rounded to the input dtype, as numpy 1.x did
          for ``perturbed[idx] += -sign * theta * range``.
    """

    name = "jsma"
    check_at_cap = False
    cost_offset = 0

    def __init__(
        self,
        *,
        max_iterations: int = 2000,
        theta: float = 0.1,
        max_perturbations_per_feature: int = 7,
        bounds: Bounds = (0.0, 1.0),
    ) -> None:
        super().__init__(max_iterations=max_iterations, bounds=bounds)
        if not theta > 0:
            raise ConfigError(f"theta must be > 0, got {theta!r}")
        if int(max_perturbations_per_feature) != max_perturbations_per_feature or (
            max_perturbations_per_feature < 1
        ):
            raise ConfigError(
                "max_perturbations_per_feature must be a positive integer, "
                f"got {max_perturbations_per_feature!r}"
            )
        self.theta = float(theta)
        self.max_perturbations_per_feature = int(max_perturbations_per_feature)

    def _start(self, model: nn.Module, x: Tensor, ids: Tensor) -> tuple[State, Tensor]:
        k, dev = x.shape[0], x.device
        n_features = x[0].numel()
        state = {
            "x": x.clone(),
            "label": torch.full((k,), -1, dtype=torch.long, device=dev),
            "target": torch.full((k,), -1, dtype=torch.long, device=dev),
            "mask": torch.ones((k, n_features), dtype=torch.bool, device=dev),
            "counts": torch.zeros((k, n_features), dtype=torch.int32, device=dev),
        }
        return state, torch.zeros(k, dtype=torch.long, device=dev)

    def _step(self, model: nn.Module, state: State, steps: Tensor) -> StepOutcome:
        x = state["x"]
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = model(xg)
            fresh = steps == 0
            if bool(fresh.any()):
                top2 = logits.detach().topk(2, dim=1).indices
                state["label"] = torch.where(fresh, top2[:, 0], state["label"])
                state["target"] = torch.where(fresh, top2[:, 1], state["target"])
            target = state["target"]
            won = logits.detach().argmax(1) == target
            # the edit after the last check could never be checked: skip it, so that a failure
            # returns the last checked iterate (same cost and queries)
            move = ~won & (steps < self.max_iterations - 1)
            grad = None
            if bool(move.any()):
                loss = F.cross_entropy(logits[move], target[move], reduction="sum")
                (grad,) = torch.autograd.grad(loss, xg)
        ones = torch.ones_like(steps)
        if grad is None:
            return StepOutcome(success=won, queries=ones)

        lo, hi = self.bounds
        rows = move.nonzero().squeeze(1)
        mask = state["mask"][rows]
        counts = state["counts"][rows]
        flat = x[rows].flatten(1)
        alpha = grad[rows].flatten(1) * mask.to(grad.dtype)
        idx = alpha.argmax(1, keepdim=True)  # = argmin of the fast saliency -alpha
        sign = alpha.gather(1, idx).sign()
        was_masked = ~mask.gather(1, idx)
        new = (flat.gather(1, idx).double() - sign.double() * (self.theta * self.range)).to(
            flat.dtype
        )
        counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=counts.dtype))
        drop = (
            (new <= lo)
            | (new >= hi)
            | (counts.gather(1, idx) >= self.max_perturbations_per_feature)
        )
        mask.scatter_(1, idx, mask.gather(1, idx) & ~drop)
        flat.scatter_(1, idx, new.clamp(lo, hi))

        x = x.clone()
        x[rows] = flat.view_as(x[rows])
        state["x"] = x
        state["mask"] = state["mask"].index_copy(0, rows, mask)
        state["counts"] = state["counts"].index_copy(0, rows, counts)
        stalled = torch.zeros_like(won)
        stalled[rows] = was_masked.squeeze(1)
        return StepOutcome(success=won, queries=ones, stalled=stalled)
