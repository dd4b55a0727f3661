"""DeepFool (L2) through foolbox 3: the minimal-perturbation attack of Figure 3's "DeepFool" set."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from a2d.attacks.base import Bounds, CraftAttack, check_count, check_positive, foolbox_model
from a2d.errors import ConfigError


class DeepFool(CraftAttack):
    """Moosavi-Dezfooli et al.'s DeepFool (L2) through foolbox 3 (``L2DeepFoolAttack``).

    Each step linearises the model around the iterate, takes the closest linearised decision
    boundary among the ``candidates`` most likely classes other than the label, and steps
    onto it; the total perturbation is scaled by ``1 + overshoot``. Untargeted; stops per
    example once it is misclassified.

    Args:
        steps: maximum number of steps; default 50 (foolbox 3).
        candidates: classes considered per step (the most likely ones); default 10 (foolbox 3).
        overshoot: relative overshoot of the perturbation; default 0.02 (foolbox 3, and the
            paper's Table 6).
        loss: ``"logits"`` (differences of logits, the original DeepFool) or
            ``"crossentropy"``; default ``"logits"``.
        bounds: input box; default ``None`` = the model's ``bounds``, else (0, 1).

    Input contract: (N, C, H, W) in ``bounds``, (N,) true labels; the model returns logits.
    ``steps`` in the result is ``None`` (foolbox 3 does not report it).

    References:
        Moosavi-Dezfooli, Fawzi, Frossard, "DeepFool: a simple and accurate method to fool deep
        neural networks", CVPR 2016; foolbox 3.3.4 ``L2DeepFoolAttack``; paper Figure 3 (Env1
        MNIST, RQ1) and Table 6 (Env2, overshoot 0.02).

    Notes:
        * The A2D authors' detector training used foolbox 1.8's DeepFool (100 steps, subsample
          10, L2); the paper does not say which version made Figure 3's set. Foolbox 3's
          defaults are used here.
        * An example not misclassified after ``steps`` keeps foolbox's last iterate, with
          ``success`` False (Env1 keeps failed adversarials).
    """

    name = "deepfool"
    target_policy = "none"

    def __init__(
        self,
        *,
        steps: int = 50,
        candidates: int = 10,
        overshoot: float = 0.02,
        loss: Literal["logits", "crossentropy"] = "logits",
        bounds: Bounds | None = None,
    ) -> None:
        super().__init__(bounds=bounds)
        self.steps = check_count("steps", steps)
        self.candidates = check_count("candidates", candidates, minimum=2)
        self.overshoot = check_positive("overshoot", overshoot, allow_zero=True)
        if loss not in ("logits", "crossentropy"):
            raise ConfigError(f"loss must be 'logits' or 'crossentropy', got {loss!r}")
        self.loss: Literal["logits", "crossentropy"] = loss

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        import foolbox as fb

        fmodel = foolbox_model(model, bounds, x.device)
        n_classes = int(model(x[:1]).shape[1])
        attack = fb.attacks.L2DeepFoolAttack(
            steps=self.steps,
            candidates=min(self.candidates, n_classes),
            overshoot=self.overshoot,
            loss=self.loss,
        )
        _, clipped, _ = attack(fmodel, x, labels, epsilons=None)
        return clipped.to(torch.promote_types(clipped.dtype, x.dtype)).to(x.dtype), None
