"""FGSM_d: one fast-gradient-sign step as a cost attack (paper Section 5.1, RQ1 only).

The paper lists FGSM among the eight attacks it tried as defence and drops it at once: one
step has no iteration count to measure, so its cost can only say "succeeded or not" and its
time is the same for every input (Figure 4a). It is kept so that Figure 4 can show this.
"""

from __future__ import annotations

from a2d.costs.base import Bounds
from a2d.costs.bim import LinfBIMCost


class FGSMCost(LinfBIMCost):
    """FGSM_d: one signed-gradient step away from the model's own prediction; cost 0 or 1.

    ``x_1 = clip_box(x_0 + epsilon * range * sign(g))`` with ``g`` the gradient of the
    cross-entropy of the logits at ``x_0`` w.r.t. the predicted label (foolbox 1.8
    ``GradientSignAttack`` at one fixed epsilon). It is BIM_d with a single update of the size
    of the whole ball, and shares its loop.

    Args:
        epsilon: the step (= L-inf radius) as a fraction of the range; default 0.3 (MNIST, the
            radius of BIM_d; CIFAR-10 0.03).
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; label = the model's own prediction.
    Cost: 0 if the one step makes the input misclassified, else 1 (= the cap, a failure).
    Queries: 2 (the gradient evaluation at ``x_0``, which also gives the label, and the check
    of ``x_1``); 1 if the gradient's sign is zero everywhere (a stall: nothing can change).

    References:
        Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR
        2015; foolbox 1.8 ``GradientSignAttack``; Zhao et al., ISSTA 2021 (FGSM_d, Figure 4a).

    Notes:
        Foolbox 1.8's default FGSM is a line search: it tries 1000 epsilons up to 1 in order
        (and repeats with 20 smaller ones when the first already succeeds) and returns the
        first adversarial. That would make FGSM an iterative search with an epsilon index as
        its cost; the paper treats FGSM_d as "one-step perturbation", so this is one step at
        one configured epsilon.
    """

    name = "fgsm"

    def __init__(self, *, epsilon: float = 0.3, bounds: Bounds = (0.0, 1.0)) -> None:
        super().__init__(epsilon=epsilon, step=epsilon, max_iterations=1, bounds=bounds)
