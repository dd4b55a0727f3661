"""Crafting attacks: the Env1 adversarial inputs that A2D must detect (paper Table 5).

FGSM and C&W-L2 run through foolbox 3; BIM-A/BIM-B and JSMA (cleverhans' pixel-pair variant,
which foolbox 3 lacks) are written here, batched. Every attack is a :class:`CraftAttack`
called as ``attack(model, x, labels, target=None, batch_size=None)`` and returns one
:class:`CraftResult` (adversarial, success, label, prediction, target, steps). Failed
adversarials are kept, with ``success`` False (Env1 does not filter them).
:mod:`a2d.attacks.reference` holds plain per-example loops for tests.
"""

from __future__ import annotations

import inspect
from typing import Any

from a2d.attacks.base import (
    Bounds,
    CraftAttack,
    CraftResult,
    l0_distortion,
    l2_distortion,
    linf_distortion,
    random_targets,
)
from a2d.attacks.bim import BIMA, BIMB, BasicIterativeMethod
from a2d.attacks.cw import CW_PRESETS, CarliniWagnerL2
from a2d.attacks.fgsm import FGSM
from a2d.attacks.jsma import JSMA
from a2d.errors import ConfigError

CRAFT_ATTACKS: dict[str, type[CraftAttack]] = {
    "fgsm": FGSM,
    "bim-a": BIMA,
    "bim-b": BIMB,
    "jsma": JSMA,
    "cw": CarliniWagnerL2,
}
"""The Env1 crafting attacks by config name (the paper's "BIM" is ``bim-a``)."""


def make_craft_attack(name: str, **hyperparameters: Any) -> CraftAttack:
    """Build the crafting attack ``name`` (a key of :data:`CRAFT_ATTACKS`) with keyword overrides.

    ``cw`` also takes ``preset`` (a key of :data:`CW_PRESETS`); the other keywords override it.
    """
    if name not in CRAFT_ATTACKS:
        raise ConfigError(
            f"unknown crafting attack {name!r}; choose one of {', '.join(sorted(CRAFT_ATTACKS))}"
        )
    cls = CRAFT_ATTACKS[name]
    known = list(inspect.signature(cls).parameters)
    if cls is CarliniWagnerL2:
        known.append("preset")
    unknown = sorted(set(hyperparameters) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown hyperparameter(s) {', '.join(unknown)} for crafting attack {name!r}; "
            f"valid: {', '.join(known)}"
        )
    if cls is CarliniWagnerL2 and "preset" in hyperparameters:
        preset = hyperparameters.pop("preset")
        return CarliniWagnerL2.from_preset(preset, **hyperparameters)
    return cls(**hyperparameters)


__all__ = [
    "BIMA",
    "BIMB",
    "CRAFT_ATTACKS",
    "CW_PRESETS",
    "FGSM",
    "JSMA",
    "BasicIterativeMethod",
    "Bounds",
    "CarliniWagnerL2",
    "CraftAttack",
    "CraftResult",
    "l0_distortion",
    "l2_distortion",
    "linf_distortion",
    "make_craft_attack",
    "random_targets",
]
