"""An adaptive attack written against A2D itself: adversarial, and costly for BIM_d.

The paper's Section 6.1.1 calls this attack infeasible, because the attack cost is not
differentiable. A detector is only as credible as the strongest attack aimed at it, so we
build it: the attacker knows the defender's attack_d (BIM_d: its epsilon, step and cap) and
the fitted threshold, converted to a cost (:func:`cost_floor`: the smallest BIM_d cost the
detector lets through), and searches for an input that is misclassified **and** keeps its
(wrong) label along the defender's BIM_d path for at least that many iterations.

- :func:`cost_floor`: the detector's threshold in BIM_d iterations.
- :class:`A2DAwareAttack`: the attack (a :class:`~a2d.attacks.base.CraftAttack`, so it shares
  the crafting loop, its checks and its result type); :meth:`A2DAwareAttack.against` builds it
  from a fitted :class:`a2d.AttackAsDefense`.
- :func:`aware_attack`: run it and record the examples like the kappa attack
  (:class:`~a2d.adaptive.examples.AdaptiveExamples`), for :mod:`a2d.adaptive.success`.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.adaptive.examples import AdaptiveExamples, adaptive_examples
from a2d.attacks.base import Bounds, CraftAttack, check_count, check_positive
from a2d.costs.bim import LinfBIMCost
from a2d.errors import ConfigError

if TYPE_CHECKING:
    from a2d.detectors.attack_as_defense import AttackAsDefense

log = logging.getLogger(__name__)


def cost_floor(detector: AttackAsDefense, attack: str = "bim") -> int:
    """The smallest ``attack`` cost the fitted detector does not flag (its threshold in iterations).

    The detector must use ``attack`` alone (e.g. ``AttackAsDefense(model, attacks=["bim"], ...)``,
    the paper's "A2D" of Figure 7). Every cost ``0 .. cap`` is scored with
    ``detector.predict_costs``, so the answer holds for the detector as calibrated
    (``calibrate(..., fpr=0.05)`` moves it).

    Raises:
        ValueError: the detector uses other attacks_d, is not fitted with a model, or flags
            every cost up to the cap.
    """
    attacks = getattr(detector, "attacks_", None)
    if not attacks or list(attacks) != [attack]:
        have = list(attacks) if attacks else "none (fit it with a model and dataset first)"
        raise ValueError(
            f"cost_floor needs a fitted detector on {attack!r} alone, got attacks_d {have}; "
            f"fit AttackAsDefense(model, attacks=[{attack!r}], dataset=...) for the attacker"
        )
    cap = int(attacks[attack].max_iterations)
    flags = np.asarray(detector.predict_costs(np.arange(cap + 1, dtype=float)[:, None]))
    passed = np.flatnonzero(~flags)
    if not len(passed):
        raise ValueError(
            f"the detector flags every {attack} cost up to the cap {cap}: no input gets through; "
            "check its threshold"
        )
    return int(passed[0])


class A2DAwareAttack(CraftAttack):
    """C&W-L2 with an extra term that keeps the wrong label along the defender's BIM_d path.

    Minimises, per example, in C&W's tanh space with Adam and a binary search over ``c``::

        ||x' - x||_2^2 + c * ( f_adv(x') + keep_weight * mean_k f_keep(x' + D_k) )

    ``f_adv`` is C&W's margin loss with confidence ``confidence`` (targeted when a target is
    given; otherwise towards the best other class). ``f_keep(u) = max(max_{j != t} z_j(u) -
    z_t(u) + keep_confidence, 0)`` asks the defender's iterates to keep ``t``, the label the
    defender will attack (the target, or the best class other than the true label). ``D_k`` are
    the offsets of the defender's BIM_d path from ``x'``, re-simulated at every step:
    ``unroll_steps`` signed-gradient steps on the cross-entropy of ``t``, each
    ``(1 + overshoot) * cost_threshold / unroll_steps`` BIM_d steps long, clipped to BIM_d's
    ball and the box. A candidate (misclassified with margin >= ``confidence``, and every
    unrolled iterate still ``t``) replaces the example's best when its L2 is smaller.

    Args:
        cost_threshold: the BIM_d cost the example must reach (:func:`cost_floor` of the
            detector), >= 0.
        epsilon, step, max_iterations: the defender's BIM_d (as :class:`a2d.costs.LinfBIMCost`:
            fractions of the range; ``step`` default ``epsilon / max_iterations``); defaults
            MNIST's 0.3, 0.0006, 500.
        unroll_steps: coarse steps the defender's path is simulated with; default 8.
        overshoot: the simulated path is this much longer than ``cost_threshold`` steps, a
            margin for the coarse simulation; default 0.25.
        keep_weight: weight of the path term; default 1 (0 = plain C&W-L2).
        confidence: kappa of the adversarial term; default 0.
        keep_confidence: margin the path term asks for; default 0.
        initial_const, binary_search_steps, steps, step_size, abort_early: C&W's search, as
            the ``magnet`` preset of :data:`a2d.attacks.cw.CW_PRESETS` but 1000 steps by
            default (each step costs ``2 * unroll_steps + 1`` gradient evaluations).
        bounds: input box; default the model's.

    Input contract: (N, C, H, W) in ``bounds``, (N,) true labels, optional (N,) targets; logits
    model. ``success`` in the result is misclassification (targeted: the target); whether the
    BIM_d cost reached the threshold is measured afterwards through the cost path
    (:func:`a2d.adaptive.success.detector_under_attack`).

    Why this objective (and not another):
        * The cost is a count of sign-gradient steps until the label flips: piecewise constant,
          with a zero gradient almost everywhere, so it must be replaced by something smooth.
          "Cost >= T" is equivalent to "the defender's first T iterates keep the label", and
          that *is* smooth in the logits: we penalise the margin of the iterates directly.
        * Differentiating through the defender's iterates would mean differentiating
          ``sign(grad)`` (zero almost everywhere) and keeping T >= 100 graphs per step. We treat
          the offsets ``D_k`` as constants (straight-through, as BPDA does for
          non-differentiable defences): the gradient of ``f_keep(x' + D_k)`` with respect to
          ``x'`` is then the model's input gradient at the iterate, exact wherever the
          defender's step directions are locally constant.
        * Exact unrolling costs T gradient evaluations per step (hundreds); ``unroll_steps``
          coarse steps cover the same L-inf travel for a few. A first-order surrogate (margin
          over the gradient's L1 norm, the L-inf distance to the boundary of the linearised
          model) would be cheaper still but blind to curvature, which is exactly what makes
          benign inputs costly. The coarse path is checked against the real BIM_d cost
          afterwards, never trusted: the detector scores the final examples with its own
          attacks_d.

    Notes:
        * An example for which no candidate is found comes back as the closest misclassified
          iterate seen (the attacker still submits its best adversarial try, usually detected),
          or as its source when none was misclassified (``success`` False).
        * The defender attacks its own prediction; on a candidate that is ``t``, as simulated.
    """

    name = "a2d-aware"
    target_policy = "optional"

    def __init__(
        self,
        *,
        cost_threshold: float,
        epsilon: float = 0.3,
        step: float | None = None,
        max_iterations: int = 500,
        unroll_steps: int = 8,
        overshoot: float = 0.25,
        keep_weight: float = 1.0,
        confidence: float = 0.0,
        keep_confidence: float = 0.0,
        initial_const: float = 1.0,
        binary_search_steps: int = 4,
        steps: int = 1000,
        step_size: float = 1e-2,
        abort_early: bool = True,
        bounds: Bounds | None = None,
    ) -> None:
        super().__init__(bounds=bounds)
        self.cost_threshold = check_positive("cost_threshold", cost_threshold, allow_zero=True)
        self.epsilon = check_positive("epsilon", epsilon)
        self.max_iterations = check_count("max_iterations", max_iterations)
        self.step = check_positive("step", step if step is not None else epsilon / max_iterations)
        self.unroll_steps = check_count("unroll_steps", unroll_steps)
        self.overshoot = check_positive("overshoot", overshoot, allow_zero=True)
        self.keep_weight = check_positive("keep_weight", keep_weight, allow_zero=True)
        self.confidence = check_positive("confidence", confidence, allow_zero=True)
        self.keep_confidence = check_positive("keep_confidence", keep_confidence, allow_zero=True)
        self.initial_const = check_positive("initial_const", initial_const)
        self.binary_search_steps = check_count("binary_search_steps", binary_search_steps)
        self.steps = check_count("steps", steps)
        self.step_size = check_positive("step_size", step_size)
        if not isinstance(abort_early, bool):
            raise ConfigError(f"abort_early must be true or false, got {abort_early!r}")
        self.abort_early = abort_early

    @classmethod
    def against(
        cls, detector: AttackAsDefense, *, attack: str = "bim", **overrides: Any
    ) -> A2DAwareAttack:
        """The attack aimed at a fitted (and calibrated) single-attack_d A2D detector.

        Takes the defender's BIM_d settings from ``detector.attacks_[attack]`` and the cost
        threshold from :func:`cost_floor`; ``overrides`` set the attacker's own knobs.
        """
        threshold = cost_floor(detector, attack)
        defender = detector.attacks_[attack]
        if not isinstance(defender, LinfBIMCost):
            raise ValueError(
                f"attack_d {attack!r} is a {type(defender).__name__}; the A2D-aware attack "
                "simulates the L-inf BIM_d (LinfBIMCost, config name 'bim')"
            )
        settings: dict[str, Any] = {
            "cost_threshold": threshold,
            "epsilon": defender.epsilon,
            "step": defender.step,
            "max_iterations": defender.max_iterations,
            "bounds": tuple(defender.bounds),
        }
        return cls(**{**settings, **overrides})

    # ------------------------------------------------------------------------------------

    def _path(self, model: nn.Module, start: Tensor, keep: Tensor, bounds: Bounds) -> list[Tensor]:
        """Detached offsets from ``start`` of the coarse simulated BIM_d path on label ``keep``."""
        lo, hi = bounds
        span = hi - lo
        radius = self.epsilon * span
        coarse = (1 + self.overshoot) * self.cost_threshold * self.step * span / self.unroll_steps
        offsets = []
        u = start.detach()
        for _ in range(self.unroll_steps):
            u = u.clone().requires_grad_(True)
            loss = F.cross_entropy(model(u), keep, reduction="sum")
            (grad,) = torch.autograd.grad(loss, u)
            moved = u.detach() + coarse * grad.sign()
            u = (start + (moved - start).clamp(-radius, radius)).clamp(lo, hi)
            offsets.append(u - start)
        return offsets

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        lo, hi = bounds
        span = hi - lo
        n = x.shape[0]
        rows = torch.arange(n, device=x.device)
        # tanh space as C&W (and foolbox): x = lo + (tanh(w) + 1) / 2 * span
        unit = ((x - lo) / span * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)
        w0 = torch.atanh(unit)

        def to_box(w: Tensor) -> Tensor:
            return lo + (torch.tanh(w) + 1) / 2 * span

        consts = torch.full((n,), self.initial_const, dtype=x.dtype, device=x.device)
        lower = torch.zeros_like(consts)
        upper = torch.full_like(consts, math.inf)
        best = x.clone()
        best_norm = torch.full((n,), math.inf, dtype=x.dtype, device=x.device)
        fallback = x.clone()
        fallback_norm = torch.full_like(best_norm, math.inf)
        flat = (n, -1)

        for _ in range(self.binary_search_steps):
            w = w0.clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=self.step_size)
            found = torch.zeros(n, dtype=torch.bool, device=x.device)
            previous = math.inf
            check_every = max(1, math.ceil(self.steps / 10))
            for step in range(self.steps):
                xa = to_box(w)
                logits = model(xa)
                detached = logits.detach()
                if target is not None:
                    keep = target
                else:
                    others = detached.clone()
                    others[rows, labels] = -math.inf
                    keep = others.argmax(1)
                adv_margin = (
                    _margin(logits, target)
                    if target is not None
                    else _best_other(logits, labels) - logits[rows, labels]
                )
                f_adv = (self.confidence - adv_margin).clamp_min(0)
                if self.keep_weight > 0:
                    offsets = self._path(model, xa.detach(), keep, bounds)
                    path_logits = model(torch.cat([xa + d for d in offsets])).view(
                        self.unroll_steps, n, -1
                    )
                    path_margin = torch.stack([_margin(z, keep) for z in path_logits])
                else:  # plain C&W-L2: no path term, every candidate is kept
                    path_margin = torch.ones((1, n), dtype=x.dtype, device=x.device)
                f_keep = (self.keep_confidence - path_margin).clamp_min(0).mean(0)
                dist = (xa - x).reshape(flat).square().sum(1)
                per_example = dist + consts * (f_adv + self.keep_weight * f_keep)
                loss = per_example.sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

                with torch.no_grad():
                    predicted = detached.argmax(1)
                    adversarial = predicted == target if target is not None else predicted != labels
                    confident = adversarial & (adv_margin.detach() >= self.confidence)
                    kept = (path_margin.detach() > 0).all(0)
                    candidate = confident & kept
                    norm = dist.detach().sqrt()
                    found |= candidate
                    better = candidate & (norm < best_norm)
                    best[better] = xa.detach()[better]
                    best_norm[better] = norm[better]
                    closer = adversarial & (norm < fallback_norm)
                    fallback[closer] = xa.detach()[closer]
                    fallback_norm[closer] = norm[closer]

                if self.abort_early and step % check_every == 0:
                    value = float(loss.detach())
                    if not value <= 0.9999 * previous:
                        break
                    previous = value
            upper = torch.where(found, torch.minimum(upper, consts), upper)
            lower = torch.where(found, lower, torch.maximum(lower, consts))
            consts = torch.where(torch.isinf(upper), consts * 10, (lower + upper) / 2)

        none = torch.isinf(best_norm)
        adversarial_out = torch.where(none.view(-1, *([1] * (x.dim() - 1))), fallback, best)
        log.debug(
            "%s: %d of %d met the cost threshold %g on the simulated path",
            self.name,
            int((~none).sum()),
            n,
            self.cost_threshold,
        )
        return adversarial_out, None


def _best_other(logits: Tensor, exclude: Tensor) -> Tensor:
    rows = torch.arange(logits.shape[0], device=logits.device)
    others = logits.clone()
    others[rows, exclude] = -math.inf
    return others.amax(1)


def _margin(logits: Tensor, keep: Tensor) -> Tensor:
    """z_keep - max_{j != keep} z_j (differentiable)."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    return logits[rows, keep] - _best_other(logits, keep)


def aware_attack(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    attack: A2DAwareAttack,
    *,
    target: Tensor | None = None,
    indices: Tensor | None = None,
    batch_size: int | None = None,
) -> AdaptiveExamples:
    """Run the A2D-aware attack and record its examples (success, L2, reached margin).

    Args:
        model: the defended logits model (wrapped, eval mode).
        x, labels: (N, C, H, W) benign inputs and true labels.
        attack: e.g. ``A2DAwareAttack.against(detector)``.
        target: optional (N,) targets (default untargeted).
        indices: (N,) source indices; default ``arange(N)``.
        batch_size: inputs attacked at once (results do not depend on it).
    """
    result = attack(model, x, labels, target=target, batch_size=batch_size)
    return adaptive_examples(
        model, x, result, attack=attack.name, kappa=attack.confidence, indices=indices
    )
