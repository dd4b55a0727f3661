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
- :mod:`a2d.adaptive.grids`: the image grids of Figures 8, 9 and 11-13 (cells crafted, kept).
- :mod:`a2d.adaptive.run`: the resumable kappa sweep (the sweep and grid stages' calls).
- :mod:`a2d.adaptive.defence`: the A2D detector of Section 6 and its held-out costs, and the
  A2D-aware attack against it beside C&W-kappa (the adaptive_a2d and adaptive_aware stages).

Measurement only: :mod:`a2d.reporting.adaptive` lays the results out.
"""

from typing import Any

_WHERE: dict[str, str] = {
    "A2DAwareAttack": "aware",
    "aware_attack": "aware",
    "cost_floor": "aware",
    "FIGURE7_KAPPAS": "confidence",
    "TABLE4_KAPPAS": "confidence",
    "confidence_attack": "confidence",
    "confidence_sweep": "confidence",
    "draw_targets": "confidence",
    "AdaptiveExamples": "examples",
    "adaptive_examples": "examples",
    "confidence_robustness": "robustness",
    "table4_statistics": "robustness",
    "CIFAR10_CAP": "success",
    "MAGNET_CAP": "success",
    "NO_DEFENCE": "success",
    "Defence": "success",
    "a2d_defence": "success",
    "attack_success": "success",
    "configured_defences": "success",
    "defence_flags": "success",
    "detector_under_attack": "success",
    "magnet_defence": "success",
}
"""Where each public name lives. They are imported on first use (PEP 562), so that a stage
which needs one light module (the table4 stage: pandas only) does not import torch, foolbox
and scipy through this package."""


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where == "aware":
        from a2d.adaptive import aware

        return getattr(aware, name)
    if where == "confidence":
        from a2d.adaptive import confidence

        return getattr(confidence, name)
    if where == "examples":
        from a2d.adaptive import examples

        return getattr(examples, name)
    if where == "robustness":
        from a2d.adaptive import robustness

        return getattr(robustness, name)
    if where == "success":
        from a2d.adaptive import success

        return getattr(success, name)
    raise AttributeError(f"module 'a2d.adaptive' has no attribute {name!r}")


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
    "configured_defences",
    "cost_floor",
    "defence_flags",
    "detector_under_attack",
    "draw_targets",
    "magnet_defence",
    "table4_statistics",
]
