"""JSMA: Papernot's saliency-map attack with a random target, pixel pairs (Env1) or single features (Env2)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from a2d.attacks.base import (
    Bounds,
    CraftAttack,
    Units,
    check_count,
    check_units,
    random_targets,
    unit_scale,
)
from a2d.errors import ConfigError
from a2d.utils.progress import progress

Saliency = Literal["logits", "probabilities"]
"""What the Jacobian is taken of: the logits, or the softmax probabilities."""

Variant = Literal["pairs", "single"]
"""Which features one iteration changes: the best pair (cleverhans, Env1) or the best single
feature (Papernot's equation 8, BL3's ``optimal=True``, Env2)."""

PAIR_MAP_ELEMENTS = 1 << 24
"""Pair-saliency entries computed at once (examples x features^2); bounds the memory per step."""


class JSMA(CraftAttack):
    """Jacobian-based saliency map attack (pixel pairs or single features), batched per example.

    Targeted. Each example keeps a search domain: the features not yet at the bound (below
    ``hi`` when ``theta > 0``). While the model does not predict the target, at least two
    features remain in the domain and fewer than ``floor(n_features * gamma / 2)`` iterations
    have run, one iteration takes the Jacobian of the model output (see ``saliency``):
    alpha = the gradient of the target class and beta = the summed gradients of the other
    classes. Over all pairs (p, q), p != q, of domain features it keeps those with
    ``alpha_p + alpha_q > 0`` and ``beta_p + beta_q < 0`` (signs flipped when ``theta < 0``),
    picks the pair maximising ``-(alpha_p + alpha_q) * (beta_p + beta_q)``, adds ``theta`` to
    both features (clipped to the bounds: theta = 1 sets them to the maximum) and removes
    them from the domain. Each example stops on its own; the batch stops when all have.

    ``variant="single"`` (BL3, Env2) changes one feature per iteration, for at most
    ``floor(n_features * gamma)`` iterations while at least one feature remains in the domain:
    the map is ``alpha_p * |beta_p|`` where ``alpha_p >= 0`` and ``beta_p <= 0`` (zero
    elsewhere and outside the domain), and its first argmax gets ``theta``.

    Args:
        theta: change added to each chosen feature, in ``units``; default 1.0 (Env1 and
            Env2). Its sign chooses increasing (> 0) or decreasing (< 0) features.
        gamma: the largest fraction of features that may be changed; default 0.1 (Env1;
            Env2 0.12).
        saliency: ``"logits"`` (default) or ``"probabilities"``: what the Jacobian is of.
        variant: ``"pairs"`` (default, Env1) or ``"single"`` (Env2, BL3).
        units: ``"input"`` (default) or ``"normalized"``: theta in the model's normalised space
            (BL3: theta 1 on the normalised tensor is ``std`` = 0.3081 in MNIST pixels).
        seed: seed of the random targets drawn when none are given; default 0.
        bounds: input box; default ``None`` = the model's ``bounds``, else (0, 1).

    Input contract: (N, C, H, W) in ``bounds``, (N,) true labels, optional (N,) ``target``;
    without one each example gets a uniformly random target != its label from
    :func:`a2d.attacks.base.random_targets` with ``seed``. A feature is one element of C*H*W
    (each channel counts). ``steps`` in the result = the number of pairs (single features)
    changed, so at most ``2 * steps`` (``steps``) features differ from the input.

    References:
        Papernot et al., "The Limitations of Deep Learning in Adversarial Settings", EuroS&P
        2016; cleverhans 2.x ``SaliencyMapMethod`` as run by Feinman et al. 2017
        (``detect/attacks.py::saliency_map_method``, BL1, Env1); paper Table 5. Single
        features: Wang et al. ICSE'19 (BL3, Env2; spec/baselines.md section 3); paper Table 6.

    Notes:
        * Logits by default (the spec's general advice, baselines.md section 10, and
          cleverhans >= 2.1's symbolic JSMA). BL1 ran cleverhans 2.0, which differentiates the
          softmax probabilities: ``saliency="probabilities"`` reproduces that, and the Env1
          crafting config uses it (97% vs 65.5% target success on 200 MNIST images; see
          results/DEVIATIONS.md). With probabilities beta = -alpha up to rounding, so the map
          reduces to alpha^2 on pairs with a positive alpha sum.
        * beta is the gradient of the summed outputs of the other classes (one backward pass)
          rather than the sum of per-class gradients; equal up to rounding.
        * When no pair meets the sign conditions the map is all zero and, like cleverhans'
          ``argmax``, the first entry wins: feature 0 is changed (twice) and leaves the
          domain. The iteration counts.
        * cleverhans' symbolic version subtracts 2 from the domain entry of each chosen feature,
          so that a feature picked twice in that degenerate case could re-enter the search;
          the domain here is a set, as in cleverhans' numpy version.
        * Random targets come from a seeded ``torch.Generator`` (BL1: numpy seeded 0 at import,
          one ``np.random.choice`` per sample), so the target of a given image differs from
          BL1's while the distribution is the same.
        * Single features (BL3): BL3 attacks the normalised tensor and adds theta without
          clipping, with every feature in the initial domain. Here the attack sees [0, 1]
          pixels, adds ``theta * std`` and clips to the bounds, so a feature already at the
          bound starts outside the domain (increasing it would be a wasted iteration). As in
          BL3, an all-zero map picks feature 0 even when it has left the domain.
    """

    name = "jsma"
    target_policy = "random"
    seeded = True

    def __init__(
        self,
        *,
        theta: float = 1.0,
        gamma: float = 0.1,
        saliency: Saliency = "logits",
        variant: Variant = "pairs",
        units: Units = "input",
        seed: int = 0,
        bounds: Bounds | None = None,
    ) -> None:
        super().__init__(bounds=bounds)
        if isinstance(theta, bool) or not isinstance(theta, int | float) or theta == 0:
            raise ConfigError(f"theta must be a non-zero number, got {theta!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0 < gamma <= 1:
            raise ConfigError(f"gamma must be a fraction in (0, 1], got {gamma!r}")
        if saliency not in ("logits", "probabilities"):
            raise ConfigError(f"saliency must be 'logits' or 'probabilities', got {saliency!r}")
        if variant not in ("pairs", "single"):
            raise ConfigError(f"variant must be 'pairs' or 'single', got {variant!r}")
        self.theta = float(theta)
        self.gamma = float(gamma)
        self.saliency: Saliency = saliency
        self.variant: Variant = variant
        self.units: Units = check_units(units)
        self.seed = check_count("seed", seed, minimum=0)

    def max_iterations(self, n_features: int) -> int:
        """The most iterations one example may run: ``floor(n_features * gamma / 2)`` feature
        pairs, or ``floor(n_features * gamma)`` single features."""
        per_step = 2 if self.variant == "pairs" else 1
        return int(math.floor(n_features * self.gamma / per_step))

    def _draw_targets(self, labels: Tensor, num_classes: int) -> Tensor:
        return random_targets(labels, num_classes=num_classes, seed=self.seed)

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        if target is None:
            raise RuntimeError("JSMA needs targets; CraftAttack.__call__ draws them")
        lo, hi = bounds
        n, shape = x.shape[0], x.shape[1:]
        n_features = x[0].numel() if n else 0
        increase = self.theta > 0
        pairs = self.variant == "pairs"
        # the change of each feature, in input units (theta * std per channel when normalised)
        theta = (self.theta * unit_scale(model, self.units, x)).expand(1, *shape).reshape(-1)
        flat = x.reshape(n, n_features).clone()
        domain = flat < hi if increase else flat > lo
        steps = torch.zeros(n, dtype=torch.long, device=x.device)
        active = torch.arange(n, device=x.device)
        for _ in progress(range(self.max_iterations(n_features)), desc=self.name, unit="step"):
            if active.numel() == 0:
                break
            t = target[active]
            with torch.enable_grad():
                xg = flat[active].view(-1, *shape).requires_grad_(True)
                out = model(xg)
                if self.saliency == "probabilities":
                    out = out.softmax(1)
                go = (out.detach().argmax(1) != t) & (domain[active].sum(1) >= (2 if pairs else 1))
                if not bool(go.any()):
                    break
                own = out.gather(1, t[:, None]).squeeze(1)
                others = out.masked_fill(
                    torch.nn.functional.one_hot(t, out.shape[1]).bool(), 0
                ).sum(1)
                (alpha,) = torch.autograd.grad(own[go].sum(), xg, retain_graph=True)
                (beta,) = torch.autograd.grad(others[go].sum(), xg)
            active = active[go]
            alpha_go = alpha[go].reshape(-1, n_features)
            beta_go = beta[go].reshape(-1, n_features)
            if pairs:
                chosen: tuple[Tensor, ...] = best_pairs(
                    alpha_go, beta_go, domain[active], increase=increase
                )
            else:
                chosen = (best_features(alpha_go, beta_go, domain[active], increase=increase),)
            for p in chosen:
                changed = flat[active, p] + theta[p]
                flat[active, p] = changed.clamp(max=hi) if increase else changed.clamp(min=lo)
                domain[active, p] = False
            steps[active] += 1
        return flat.view_as(x), steps


def best_features(alpha: Tensor, beta: Tensor, domain: Tensor, *, increase: bool) -> Tensor:
    """The most salient single feature of every row (Papernot's equation 8, as BL3 runs it).

    Args:
        alpha, beta: (R, F) target-class and other-classes gradients.
        domain: (R, F) bool, the features still allowed.
        increase: keep ``alpha >= 0, beta <= 0`` (increasing features) or the reverse.

    Returns (R,) int64: the first argmax of ``|alpha| * |beta|`` over the features that meet
    the sign conditions and lie in the domain (0 elsewhere), so an all-zero map gives feature
    0, as BL3's ``torch.argmax`` does.
    """
    a = alpha if increase else -alpha
    b = beta if increase else -beta
    scores = (a.clamp(min=0) * (-b).clamp(min=0)).masked_fill(~domain, 0)
    return scores.argmax(1)


def best_pairs(
    alpha: Tensor, beta: Tensor, domain: Tensor, *, increase: bool
) -> tuple[Tensor, Tensor]:
    """The most salient feature pair of every row (cleverhans' pair saliency map).

    Args:
        alpha, beta: (R, F) target-class and other-classes gradients.
        domain: (R, F) bool, the features still allowed.
        increase: the sign conditions for increasing (alpha sum > 0, beta sum < 0) or
            decreasing (reversed) features.

    Returns ``(p1, p2)``, two (R,) int64 feature indices, read off the flat argmax ``b`` of the
    (F, F) map ``-(alpha_p + alpha_q) * (beta_p + beta_q)`` (zero where a condition fails, on
    the diagonal and outside the domain) as ``p1 = b % F`` and ``p2 = b // F``, as cleverhans
    does (so an all-zero map gives feature 0 twice). Rows go in chunks of
    :data:`PAIR_MAP_ELEMENTS` map entries.
    """
    # Decreasing is increasing with both gradients negated (exactly: negation is exact).
    a_all = alpha if increase else -alpha
    nb_all = -beta if increase else beta
    # Features outside the domain get an alpha so low that every pair holding one has a
    # negative alpha sum (cleverhans' penalty), which the sign condition then drops.
    penalty = 2 * a_all.abs().amax(1, keepdim=True) + 1
    a_all = torch.where(domain, a_all, -penalty)
    rows, n_features = alpha.shape
    chunk = max(1, PAIR_MAP_ELEMENTS // max(1, n_features * n_features))
    best = torch.empty(rows, dtype=torch.long, device=alpha.device)
    for start in range(0, rows, chunk):
        a, nb = a_all[start : start + chunk], nb_all[start : start + chunk]
        target_sum = a[:, :, None] + a[:, None, :]
        scores = nb[:, :, None] + nb[:, None, :]  # = -(beta_p + beta_q)
        scores.mul_(target_sum).clamp_(min=0)  # > 0 iff both sums have the required signs,
        scores.masked_fill_(target_sum <= 0, 0)  # ... given the alpha sum is positive
        scores.diagonal(dim1=1, dim2=2).zero_()
        best[start : start + chunk] = scores.view(scores.shape[0], -1).argmax(1)
    return best.remainder(n_features), best.div(n_features, rounding_mode="floor")
