"""Adaptive attacks on A2D (paper Section 6): what an attacker who knows the defence can do.

- :mod:`a2d.adaptive.examples`: :class:`AdaptiveExamples`, one typed record per adaptive
  example (success, L2, logit margin reached).
- :mod:`a2d.adaptive.confidence`: C&W-L2 with confidence kappa, the paper's adaptive attack
  (Table 4, Figure 7), through foolbox 3.
- :mod:`a2d.adaptive.robustness`: Table 4's measurements (CLEVER, BIM_d iterations, L2 per kappa).
- :mod:`a2d.adaptive.success`: Figure 7's measurements (attack success rate through none / A2D /
  AE / A2D+AE, or AT / A2D+AT) and a calibrated detector's AUROC and TPR under an attack.
- :mod:`a2d.adaptive.aware`: beyond the paper, an attack aimed at A2D itself (misclassified and
  costly for BIM_d).

Measurement only: :mod:`a2d.reporting.adaptive` lays the results out.
"""

from a2d.adaptive.aware import A2DAwareAttack, aware_attack, cost_floor
from a2d.adaptive.confidence import (
    FIGURE7_KAPPAS,
    TABLE4_KAPPAS,
    confidence_attack,
    confidence_sweep,
    draw_targets,
)
from a2d.adaptive.examples import AdaptiveExamples, adaptive_examples
from a2d.adaptive.robustness import confidence_robustness, table4_statistics
from a2d.adaptive.success import (
    CIFAR10_CAP,
    MAGNET_CAP,
    NO_DEFENCE,
    Defence,
    a2d_defence,
    attack_success,
    defence_flags,
    detector_under_attack,
    magnet_defence,
)

__all__ = [
    "CIFAR10_CAP",
    "FIGURE7_KAPPAS",
    "MAGNET_CAP",
    "NO_DEFENCE",
    "TABLE4_KAPPAS",
    "A2DAwareAttack",
    "AdaptiveExamples",
    "Defence",
    "a2d_defence",
    "adaptive_examples",
    "attack_success",
    "aware_attack",
    "confidence_attack",
    "confidence_robustness",
    "confidence_sweep",
    "cost_floor",
    "defence_flags",
    "detector_under_attack",
    "draw_targets",
    "magnet_defence",
    "table4_statistics",
]
