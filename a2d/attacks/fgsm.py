"""FGSM: one signed-gradient step of the cross-entropy of the true label (Env1 and Env2 crafting)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.attacks.base import (
    Bounds,
    CraftAttack,
    Units,
    check_positive,
    check_units,
    foolbox_model,
    unit_scale,
)


class FGSM(CraftAttack):
    """Fast Gradient Sign Method through foolbox 3 (``LinfFastGradientAttack``).

    ``adversarial = clip(x + epsilon * sign(grad_x CE(logits(x), label)), lo, hi)``: one step
    of size ``epsilon`` along the sign of the gradient of the cross-entropy of the logits with
    respect to the *true* label, then clipped to the bounds. Untargeted.

    Args:
        epsilon: the step (= L-inf radius) in ``units``; default 0.3 (Env1 MNIST; Env1 CIFAR
            uses 0.05; Env2 MNIST 0.35 normalised).
        units: ``"input"`` (default, Env1) or ``"normalized"``: epsilon in the model's
            normalised space (Env2, BL3), i.e. ``epsilon * std`` per channel in pixels
            (:func:`a2d.attacks.base.unit_scale`).
        bounds: input box; default ``None`` = the model's ``bounds``, else (0, 1).

    Input contract: (N, C, H, W) in ``bounds``, (N,) true labels; the model returns logits.
    ``steps`` in the result is 1 for every example.

    References:
        Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples",
        ICLR 2015; Feinman et al. 2017 ``detect/attacks.py`` (BL1, Env1); paper Table 5;
        Wang et al. ICSE'19 (BL3, Env2: eps 0.35 on normalised MNIST); paper Table 6.

    Notes:
        * BL1 (cleverhans-style TF code) averaged the loss over the batch; foolbox sums it. The
          sign of the gradient is the same unless a component underflows to zero.
        * foolbox adds a projection onto the L-inf ball of ``epsilon`` after the step, a no-op up
          to one rounding of ``x + (adv - x)``.
        * ``units="normalized"`` takes the same step here, with a per-channel size, in plain
          torch (foolbox's epsilon is one number). BL3 stepped in the normalised space and
          never clipped to the pixel range; here the result is clipped to the bounds, as the
          spec prescribes for Env2 (spec/baselines.md, BL3): the attack sees [0, 1] images.
    """

    name = "fgsm"
    target_policy = "none"

    def __init__(
        self, *, epsilon: float = 0.3, units: Units = "input", bounds: Bounds | None = None
    ) -> None:
        super().__init__(bounds=bounds)
        self.epsilon = check_positive("epsilon", epsilon, allow_zero=True)
        self.units: Units = check_units(units)

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        steps = torch.ones(x.shape[0], dtype=torch.long, device=x.device)
        if self.units == "normalized":
            step = self.epsilon * unit_scale(model, self.units, x)
            return signed_gradient_step(model, x, labels, step, bounds), steps
        import foolbox as fb

        fmodel = foolbox_model(model, bounds, x.device)
        attack = fb.attacks.LinfFastGradientAttack(random_start=False)
        _, clipped, _ = attack(fmodel, x, labels, epsilons=self.epsilon)
        return clipped, steps


def signed_gradient_step(
    model: nn.Module, x: Tensor, labels: Tensor, step: Tensor, bounds: Bounds
) -> Tensor:
    """``clip(x + step * sign(grad_x CE(model(x), labels)), lo, hi)``; ``step`` broadcasts to x.

    The cross-entropy is summed over the batch, so each example's gradient is its own.
    """
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(xg), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    return (x.detach() + step * grad.sign()).clamp(*bounds)
