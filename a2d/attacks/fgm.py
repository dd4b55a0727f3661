"""FGM: FGSM's L2 version, one step along the normalised gradient (Env2 ImageNet crafting).

BL4 (Dissector) crafted its ImageNet adversarials with "FGSM, L2 norm, epsilon 0.016" (paper
Table 6, Appendix A) through foolbox, whose L2 FGSM of that time (foolbox 1.x/2.x
``GradientAttack``) divides the gradient by its root mean square.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.attacks.base import Bounds, CraftAttack, check_positive
from a2d.errors import ConfigError

L2Units = Literal["rms", "l2"]
"""What ``epsilon`` measures: the root-mean-square change per feature as a fraction of the
range (foolbox 1.x/2.x ``GradientAttack``), or the Euclidean norm of the step in input units
(foolbox 3 ``L2FastGradientAttack``)."""


class FGM(CraftAttack):
    """Fast gradient method (L2 FGSM): one step along the gradient of the true label's loss.

    ``adversarial = clip(x + epsilon * scale * g / norm(g), lo, hi)`` with ``g`` the gradient of
    the cross-entropy of the logits w.r.t. the *true* label. Untargeted.

    Args:
        epsilon: the step; default 0.016 (BL4's ImageNet FGSM).
        units: ``"rms"`` (default): ``norm(g)`` is the root mean square of ``g`` (plus 1e-8) and
            ``scale`` the range ``hi - lo``, as foolbox 1.x/2.x ``GradientAttack``: each
            feature moves by ``epsilon`` of the range on average (an L2 step of ``epsilon *
            sqrt(C*H*W)``: 6.2 on 224x224 ImageNet inputs in [0, 1]). ``"l2"``: ``norm(g)``
            is the Euclidean norm and ``scale`` 1, as foolbox 3 ``L2FastGradientAttack``.
        bounds: input box; default ``None`` = the model's ``bounds``, else (0, 1).

    Input contract: (N, C, H, W) in ``bounds``, (N,) true labels; the model returns logits.
    ``steps`` in the result is 1 for every example.

    References:
        Goodfellow, Shlens and Szegedy, ICLR 2015; foolbox 2.4 ``GradientAttack`` (epsilon
        fixed; foolbox would search a grid of epsilons up to 1 and keep the smallest that
        succeeds); Wang et al. ICSE'20 (BL4); paper Table 6.

    Notes:
        * BL4 gives no unit for 0.016; a Euclidean step of 0.016 on ImageNet's 150,528 features
          moves each pixel by about 4e-5, below one 8-bit level, so we read it in foolbox's
          RMS units (``units: rms``), the attack BL4 names ("FGSM with L2 norm" in foolbox).
        * BL4 fixed the step (the paper: "0.016 as the attack step"), so foolbox's epsilon
          search is not run; failed examples are kept with ``success`` False.
    """

    name = "fgm"
    target_policy = "none"

    def __init__(
        self, *, epsilon: float = 0.016, units: L2Units = "rms", bounds: Bounds | None = None
    ) -> None:
        super().__init__(bounds=bounds)
        self.epsilon = check_positive("epsilon", epsilon, allow_zero=True)
        if units not in ("rms", "l2"):
            raise ConfigError(f"units must be 'rms' or 'l2', got {units!r}")
        self.units: L2Units = units

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            loss = F.cross_entropy(model(xg), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, xg)
        flat = grad.flatten(1)
        lo, hi = bounds
        if self.units == "rms":
            norm = flat.pow(2).mean(1).sqrt() + 1e-8
            scale = hi - lo
        else:
            norm = torch.linalg.vector_norm(flat, dim=1).clamp_min(1e-12)
            scale = 1.0
        step = (self.epsilon * scale / norm).view(-1, *([1] * (x.dim() - 1)))
        adversarial = (x.detach() + step * grad).clamp(lo, hi)
        return adversarial, torch.ones(x.shape[0], dtype=torch.long, device=x.device)
