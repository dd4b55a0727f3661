"""BIM-A and BIM-B: the basic iterative method with BL1's two ways of picking the iterate."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.attacks.base import Bounds, CraftAttack, check_count, check_positive
from a2d.utils.progress import progress


class BasicIterativeMethod(CraftAttack):
    """Basic iterative method (L-inf), batched; subclasses pick which iterate is returned.

    Each of ``steps`` iterations is an FGSM step of size ``step_size`` w.r.t. the true label,
    clipped to the bounds and then to the L-inf ball of ``epsilon`` around the input:
    ``x_{i+1} = clip_[x-eps, x+eps](clip_[lo, hi](x_i + step_size * sign(grad CE(x_i, y))))``.
    :class:`BIMA` returns, per example, the first iterate that the model misclassifies (the
    last one if none is); :class:`BIMB` always returns the last iterate.

    Args:
        epsilon: L-inf radius in input units; default 0.3 (Env1 MNIST; CIFAR 0.05).
        step_size: per-iteration step in input units; default 0.01 (Env1 MNIST; CIFAR 0.005).
        steps: number of iterations; default 50 (BL1's fixed ``nb_iter``).
        bounds: input box; default ``None`` = the model's ``bounds``, else (0, 1).

    Input contract: (N, C, H, W) in ``bounds``, (N,) true labels; the model returns logits.
    ``steps`` in the result = the number of updates applied to the returned input
    (BL1's 0-based iteration index + 1).

    References:
        Kurakin, Goodfellow and Bengio, "Adversarial examples in the physical world", 2016;
        Feinman et al. 2017 ``detect/attacks.py::basic_iterative_method`` (BL1, Env1; the
        paper's "BIM" is ``bim-a``); paper Table 5.

    Notes:
        * BL1 ran every example for all ``steps`` iterations and stored every iterate. BIM-A
          here freezes an example at its first misclassified iterate; its later iterates are
          never used, so the result is the same with less work. "Misclassified" is checked on
          every iterate after an update (not on the input itself), against the true label.
        * The misclassification check reuses the logits of the gradient evaluation of the
          same iterate instead of a separate ``predict_classes`` pass.
        * BL1 averaged the loss over the batch; here it is summed. The sign of the gradient
          is the same unless a component underflows to zero.
    """

    name = "bim"
    target_policy = "none"
    keep_first: ClassVar[bool] = True

    def __init__(
        self,
        *,
        epsilon: float = 0.3,
        step_size: float = 0.01,
        steps: int = 50,
        bounds: Bounds | None = None,
    ) -> None:
        super().__init__(bounds=bounds)
        self.epsilon = check_positive("epsilon", epsilon, allow_zero=True)
        self.step_size = check_positive("step_size", step_size)
        self.steps = check_count("steps", steps)

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        lo, hi = bounds
        n = x.shape[0]
        lower, upper = x - self.epsilon, x + self.epsilon
        adversarial = x.clone()
        done = torch.zeros(n, dtype=torch.bool, device=x.device)
        updates = torch.zeros(n, dtype=torch.long, device=x.device)
        for i in progress(range(self.steps), desc=self.name, unit="step"):
            rows = (~done).nonzero().squeeze(1) if self.keep_first else None
            if rows is not None and rows.numel() == 0:
                break
            current = adversarial if rows is None else adversarial[rows]
            y = labels if rows is None else labels[rows]
            with torch.enable_grad():
                xg = current.detach().requires_grad_(True)
                logits = model(xg)
                loss = F.cross_entropy(logits, y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, xg)
            new = (xg.detach() + self.step_size * grad.sign()).clamp(lo, hi)
            if rows is None:
                adversarial = torch.minimum(torch.maximum(new, lower), upper)
                updates += 1
                continue
            go = torch.ones_like(y, dtype=torch.bool)
            if i > 0:
                # The logits belong to the iterate after i updates: freeze it if misclassified.
                go = logits.detach().argmax(1) == y
                done[rows[~go]] = True
            rows = rows[go]
            adversarial[rows] = torch.minimum(torch.maximum(new[go], lower[rows]), upper[rows])
            updates[rows] += 1
        return adversarial, updates


class BIMA(BasicIterativeMethod):
    """BIM-A: per example, the first misclassified iterate, else the last (Env1's "BIM").

    Arguments, defaults, input contract, references and Notes: :class:`BasicIterativeMethod`.
    """

    name = "bim-a"
    keep_first = True


class BIMB(BasicIterativeMethod):
    """BIM-B: the last iterate of every example, after all ``steps`` updates.

    Arguments, defaults, input contract, references and Notes: :class:`BasicIterativeMethod`.
    """

    name = "bim-b"
    keep_first = False
