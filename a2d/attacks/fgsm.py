"""FGSM: one signed-gradient step of the cross-entropy of the true label (Env1 crafting)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from a2d.attacks.base import Bounds, CraftAttack, check_positive, foolbox_model


class FGSM(CraftAttack):
    """Fast Gradient Sign Method through foolbox 3 (``LinfFastGradientAttack``).

    ``adversarial = clip(x + epsilon * sign(grad_x CE(logits(x), label)), lo, hi)``: one step
    of size ``epsilon`` along the sign of the gradient of the cross-entropy of the logits with
    respect to the *true* label, then clipped to the bounds. Untargeted.

    Args:
        epsilon: the step (= L-inf radius) in input units; default 0.3 (Env1 MNIST; Env1 CIFAR
            uses 0.05).
        bounds: input box; default ``None`` = the model's ``bounds``, else (0, 1).

    Input contract: (N, C, H, W) in ``bounds``, (N,) true labels; the model returns logits.
    ``steps`` in the result is 1 for every example.

    References:
        Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples",
        ICLR 2015; Feinman et al. 2017 ``detect/attacks.py`` (BL1, Env1); paper Table 5.

    Notes:
        * BL1 (cleverhans-style TF code) averaged the loss over the batch; foolbox sums it. The
          sign of the gradient is the same unless a component underflows to zero.
        * foolbox adds a projection onto the L-inf ball of ``epsilon`` after the step, a no-op up
          to one rounding of ``x + (adv - x)``.
    """

    name = "fgsm"
    target_policy = "none"

    def __init__(self, *, epsilon: float = 0.3, bounds: Bounds | None = None) -> None:
        super().__init__(bounds=bounds)
        self.epsilon = check_positive("epsilon", epsilon, allow_zero=True)

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        import foolbox as fb

        fmodel = foolbox_model(model, bounds, x.device)
        attack = fb.attacks.LinfFastGradientAttack(random_start=False)
        _, clipped, _ = attack(fmodel, x, labels, epsilons=self.epsilon)
        steps = torch.ones(x.shape[0], dtype=torch.long, device=x.device)
        return clipped, steps
