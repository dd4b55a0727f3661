"""BIM_d and BIM2_d: basic iterative method as a cost attack (foolbox 1.8 semantics).

BIM_d is the L-infinity attack; BIM2_d is foolbox 1's "L2" attack, whose gradient step and
ball are measured in RMS units (sqrt of the *mean* of squares), not in Euclidean norm.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.costs.base import Bounds, CostAttack, State, StepOutcome
from a2d.errors import ConfigError


class _BIMCost(CostAttack):
    """Shared loop of the two BIM variants: ascent on the cross-entropy of the own label.

    Step t (t = 0, 1, ...): x_{t+1} = clip_box(x0 + clip_ball(x_t + step * range * d(g_t) - x0)),
    with g_t the gradient of the cross-entropy of the logits at x_t w.r.t. the predicted label.
    Cost = the 0-based index t of the update after which the iterate is misclassified (so 0 =
    adversarial after one update); failure = ``max_iterations``.

    Queries: the logits of the gradient evaluation at x_t also check x_t, and the first one
    gives the label, so a success at cost k spends k + 2 queries and a failure
    ``max_iterations`` + 1 (fewer for a stall, below).
    """

    check_at_cap = True
    cost_offset = -1

    def __init__(
        self, *, epsilon: float, step: float | None, max_iterations: int, bounds: Bounds
    ) -> None:
        super().__init__(max_iterations=max_iterations, bounds=bounds)
        if not epsilon > 0:
            raise ConfigError(f"epsilon must be > 0, got {epsilon!r}")
        if step is None:
            step = epsilon / max_iterations
        if not step > 0:
            raise ConfigError(f"step must be > 0, got {step!r}")
        self.epsilon = float(epsilon)
        self.step = float(step)

    @abstractmethod
    def _direction(self, grad: Tensor) -> Tensor:
        """The ascent direction d(g), already multiplied by the range."""

    @abstractmethod
    def _clip_ball(self, delta: Tensor) -> Tensor:
        """Project the perturbation onto the epsilon ball."""

    def _start(self, model: nn.Module, x: Tensor, ids: Tensor) -> tuple[State, Tensor]:
        k = x.shape[0]
        state = {
            "x": x.clone(),
            "x0": x.clone(),
            "label": torch.full((k,), -1, dtype=torch.long, device=x.device),
        }
        return state, torch.zeros(k, dtype=torch.long, device=x.device)

    def _step(self, model: nn.Module, state: State, steps: Tensor) -> StepOutcome:
        x, x0 = state["x"], state["x0"]
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = model(xg)
            pred = logits.detach().argmax(1)
            label = torch.where(steps == 0, pred, state["label"])
            state["label"] = label
            won = (pred != label) & (steps > 0)
            move = ~won & (steps < self.max_iterations)
            grad = None
            if bool(move.any()):
                # sum, not mean: each row's gradient must not depend on the batch
                loss = F.cross_entropy(logits[move], label[move], reduction="sum")
                (grad,) = torch.autograd.grad(loss, xg)
        ones = torch.ones_like(steps)
        if grad is None:
            return StepOutcome(success=won, queries=ones)
        lo, hi = self.bounds
        cur = x[move]
        new = cur + self.step * self._direction(grad[move])
        new = (self._clip_ball(new - x0[move]) + x0[move]).clamp(lo, hi)
        stalled = torch.zeros_like(won)
        # the update is a deterministic function of the iterate: no change now = never a change
        stalled[move] = (new == cur).flatten(1).all(1)
        x = x.clone()
        x[move] = new
        state["x"] = x
        return StepOutcome(success=won, queries=ones, stalled=stalled)


class LinfBIMCost(_BIMCost):
    """BIM_d: L-infinity basic iterative method, counting updates until misclassification.

    Foolbox 1.8 ``LinfinityBasicIterativeAttack(binary_search=False, return_early=True)`` as
    run by the A2D authors: step = ``step * range * sign(grad)``, clip to the L-inf ball of
    radius ``epsilon * range`` and to the box, no random start, stop at the first misclassified
    iterate.

    Args:
        epsilon: L-inf radius as a fraction of the range; default 0.3 (MNIST; CIFAR 0.03).
        step: step as a fraction of the range; default ``epsilon / max_iterations`` (the
            authors' 0.0006 for MNIST), so the ball never binds before the last update.
        max_iterations: update cap; default 500. Failure = 500.
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; label = the model's own prediction.
    Cost: 0-based index of the update after which the iterate is misclassified (0 = one update
    sufficed); failure = ``max_iterations``. Queries: k + 2 for a success at cost k.

    References:
        Kurakin, Goodfellow, Bengio, "Adversarial examples in the physical world", 2016.
        Zhao et al., "Attack as Defense", ISSTA 2021 (BIM_d).

    Notes:
        An iterate that stops changing (sign of a zero gradient, or every moved pixel clipped
        back) can never become adversarial; it is recorded as a failure at once instead of
        running to the cap (same cost, fewer queries).
    """

    name = "bim"

    def __init__(
        self,
        *,
        epsilon: float = 0.3,
        step: float | None = None,
        max_iterations: int = 500,
        bounds: Bounds = (0.0, 1.0),
    ) -> None:
        super().__init__(epsilon=epsilon, step=step, max_iterations=max_iterations, bounds=bounds)

    def _direction(self, grad: Tensor) -> Tensor:
        return grad.sign() * self.range

    def _clip_ball(self, delta: Tensor) -> Tensor:
        radius = self.epsilon * self.range
        return delta.clamp(-radius, radius)


class L2BIMCost(_BIMCost):
    """BIM2_d: foolbox 1's "L2" basic iterative method, in RMS units.

    The gradient is divided by its RMS ``sqrt(mean(g^2))`` per example and the perturbation
    is scaled down so that its RMS is at most ``epsilon * range`` (foolbox 1.x L2 mixins). In
    Euclidean units the radius is ``epsilon * range * sqrt(n)`` (MNIST: 0.1 -> 2.8).

    Args:
        epsilon: RMS radius as a fraction of the range; default 0.1 (MNIST; CIFAR 0.01).
        step: RMS step as a fraction of the range; default ``epsilon / max_iterations``
            (the authors' 0.0002 for MNIST).
        max_iterations: update cap; default 500. Failure = 500.
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; label = the model's own prediction.
    Cost and queries: as :class:`LinfBIMCost`.

    References:
        Kurakin et al. 2016; foolbox 1.8 ``L2BasicIterativeAttack``; Zhao et al. 2021 (BIM2_d).

    Notes:
        Foolbox 1 divides by a zero RMS (NaN) when the gradient vanishes; here such a step is
        zero, the iterate stalls and is recorded as a failure.
    """

    name = "bim2"

    def __init__(
        self,
        *,
        epsilon: float = 0.1,
        step: float | None = None,
        max_iterations: int = 500,
        bounds: Bounds = (0.0, 1.0),
    ) -> None:
        super().__init__(epsilon=epsilon, step=step, max_iterations=max_iterations, bounds=bounds)

    def _direction(self, grad: Tensor) -> Tensor:
        rms = grad.square().flatten(1).mean(1).sqrt().view(-1, *([1] * (grad.dim() - 1)))
        unit = torch.where(rms > 0, grad / rms, torch.zeros_like(grad))
        return unit * self.range

    def _clip_ball(self, delta: Tensor) -> Tensor:
        rms = delta.square().flatten(1).mean(1).sqrt().clamp_min(1e-12)
        # foolbox computes the factor in float64 and scales the float32 perturbation by it
        factor = (self.epsilon * self.range / rms.double()).clamp(max=1.0).to(delta.dtype)
        return delta * factor.view(-1, *([1] * (delta.dim() - 1)))
