"""C&W-L2 with confidence kappa: the paper's adaptive attack on A2D (Section 6.1.2, Table 4, Fig. 7).

A2D flags inputs that are cheap to attack. The adaptive attacker makes adversarial examples
more robust, and so costlier to attack, by asking C&W-L2 for a logit margin of at least kappa
(``J_kappa(x) = max(J(x), -kappa)``). :func:`confidence_attack` runs one kappa through
:class:`a2d.attacks.cw.CarliniWagnerL2` (foolbox 3's ``L2CarliniWagnerAttack``) with the
setting of Carlini's MagNet break (:data:`a2d.attacks.cw.CW_PRESETS` ``["magnet"]``: targeted,
binary search over c from 1, Adam at learning rate 1e-2, box [0, 1]);
:func:`confidence_sweep` runs several.

References:
    Zhao et al., "Attack as Defense", ISSTA 2021, Section 6.1.2 and Table 4; Carlini and
    Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017 (kappa); Carlini
    and Wagner, "MagNet and 'Efficient Defenses ...' are Not Robust to Adversarial Examples",
    2017 (the setting); spec/baselines.md section 9.

Notes:
    * Targets: the paper does not say which; by default every source gets a target drawn
      uniformly among the other classes (:func:`a2d.attacks.base.random_targets`, seeded), the
      same targets for every kappa, so the kappas differ only in the confidence asked for.
    * foolbox 3 counts an example as found only once its margin reaches kappa; an example never
      found comes back as its source (``success`` False, L2 0). ``margin`` is measured again on
      the returned input, so it shows what was reached.
    * The ``magnet`` preset runs up to 4 x 10000 Adam steps; a CPU run may lower ``steps``
      (an override), which can only lower the success rate at large kappa; say so in
      results/DEVIATIONS.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from a2d.adaptive.examples import AdaptiveExamples, adaptive_examples
from a2d.attacks.base import random_targets
from a2d.attacks.cw import CarliniWagnerL2
from a2d.errors import ConfigError

log = logging.getLogger(__name__)

TABLE4_KAPPAS: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0, 8.0)
"""The confidences of the paper's Table 4."""
FIGURE7_KAPPAS: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 18.0, 20.0)
"""The confidences of our Figure 7: the paper sweeps kappa from 0 to 20 (x ticks 5 apart); these
hold Table 4's kappas and every kappa its text states a rate at (0, 10, 15, 20)."""
PRESET = "magnet"
"""The C&W setting of Section 6 (Carlini's MagNet break), a key of ``CW_PRESETS``."""


def draw_targets(model: nn.Module, x: Tensor, labels: Tensor, *, seed: int) -> Tensor:
    """(N,) target classes uniform among the classes other than each label, seeded.

    The class count comes from one forward pass of ``model`` on ``x[:1]``.
    """
    if not len(x):
        return torch.empty(0, dtype=torch.long, device=labels.device)
    with torch.no_grad():
        num_classes = int(model(x[:1]).shape[1])
    return random_targets(labels, num_classes=num_classes, seed=seed)


def confidence_attack(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    *,
    kappa: float,
    target: Tensor | None,
    preset: str = PRESET,
    indices: Tensor | None = None,
    batch_size: int | None = None,
    **overrides: Any,
) -> AdaptiveExamples:
    """C&W-L2 with confidence ``kappa`` on every input; success, L2 and reached margin per example.

    Args:
        model: logits model (wrapped: its ``bounds`` are the attack's box), in eval mode.
        x: (N, C, H, W) benign inputs in the model's bounds; labels: (N,) true labels.
        kappa: the confidence (logit margin) asked for, >= 0.
        target: (N,) target classes (see :func:`draw_targets`), or ``None`` for untargeted.
        preset: a key of :data:`a2d.attacks.cw.CW_PRESETS`; default ``"magnet"``.
        indices: (N,) source test indices kept in the record; default ``arange(N)``.
        batch_size: inputs attacked at once (C&W's early abort watches a batch's summed loss,
            so results move slightly with it); default all.
        **overrides: C&W hyperparameters replacing the preset's (e.g. ``steps=1000``).

    Returns:
        :class:`~a2d.adaptive.examples.AdaptiveExamples` with ``attack="cw"`` and ``kappa``.
    """
    if "confidence" in overrides:
        raise ConfigError("give the confidence as kappa=..., not as a C&W override")
    attack = CarliniWagnerL2.from_preset(preset, confidence=kappa, **overrides)
    result = attack(model, x, labels, target=target, batch_size=batch_size)
    examples = adaptive_examples(model, x, result, attack="cw", kappa=float(kappa), indices=indices)
    log.info(
        "C&W kappa %g: %d/%d successful, mean L2 %.3f",
        kappa,
        int(examples.success.sum()),
        len(examples),
        float(examples.l2[examples.success].mean()) if bool(examples.success.any()) else 0.0,
    )
    return examples


def confidence_sweep(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    *,
    kappas: Sequence[float] = TABLE4_KAPPAS,
    target: Tensor | None,
    preset: str = PRESET,
    indices: Tensor | None = None,
    batch_size: int | None = None,
    **overrides: Any,
) -> dict[float, AdaptiveExamples]:
    """:func:`confidence_attack` for every kappa (same inputs and targets); kappa -> examples."""
    bad = [k for k in kappas if isinstance(k, bool) or not isinstance(k, int | float) or k < 0]
    if bad or not kappas:
        raise ConfigError(f"kappas must be a non-empty list of numbers >= 0, got {list(kappas)}")
    return {
        float(kappa): confidence_attack(
            model,
            x,
            labels,
            kappa=float(kappa),
            target=target,
            preset=preset,
            indices=indices,
            batch_size=batch_size,
            **overrides,
        )
        for kappa in kappas
    }
