"""Crafting attacks: the adversarial inputs that A2D must detect (paper Tables 5 and 6).

Env1 (Table 5): FGSM and C&W-L2 run through foolbox 3; BIM-A/BIM-B and JSMA (cleverhans'
pixel-pair variant, which foolbox 3 lacks) are written here, batched. Env2 (Table 6, BL3's
attacks): the same FGSM, JSMA (single-feature variant) and C&W classes with BL3's settings
(steps in normalised units where BL3 gave them so), DeepFool through foolbox 3, and BB
(Papernot's substitute + FGSM, transferred). Every attack is a :class:`CraftAttack` called as
``attack(model, x, labels, target=None, batch_size=None)`` and returns one
:class:`CraftResult` (adversarial, success, label, prediction, target, steps). Failed
adversarials are kept, with ``success`` False (Env1 does not filter them; Env2's sets carry a
successful-only flag, :class:`a2d.attacks.crafting.CraftProtocol`).
:mod:`a2d.attacks.reference` holds plain per-example loops for tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
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
from a2d.attacks.blackbox import BlackBox, SubstituteA
from a2d.attacks.cw import CW_PRESETS, CarliniWagnerL2
from a2d.attacks.deepfool import DeepFool
from a2d.attacks.fgm import FGM
from a2d.attacks.fgsm import FGSM
from a2d.attacks.jsma import JSMA
from a2d.attacks.png import png_round_trip
from a2d.errors import ConfigError

CRAFT_ATTACKS: dict[str, type[CraftAttack]] = {
    "fgsm": FGSM,
    "bim-a": BIMA,
    "bim-b": BIMB,
    "jsma": JSMA,
    "cw": CarliniWagnerL2,
    "deepfool": DeepFool,
    "bb": BlackBox,
    "fgm": FGM,
}
"""The crafting attacks by config name (the paper's "BIM" is ``bim-a``; ``deepfool`` and ``bb``
are Env2's, ``fgsm``, ``jsma`` and ``cw`` serve both environments; ``fgm``, the L2 FGSM, is
Env2 ImageNet's "FGSM")."""


def _craft_class(name: str) -> type[CraftAttack]:
    if name not in CRAFT_ATTACKS:
        raise ConfigError(
            f"unknown crafting attack {name!r}; choose one of {', '.join(sorted(CRAFT_ATTACKS))}"
        )
    return CRAFT_ATTACKS[name]


def make_craft_attack(name: str, **hyperparameters: Any) -> CraftAttack:
    """Build the crafting attack ``name`` (a key of :data:`CRAFT_ATTACKS`) with keyword overrides.

    ``cw`` also takes ``preset`` (a key of :data:`CW_PRESETS`); the other keywords override it.
    """
    cls = _craft_class(name)
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


def craft_hyperparameters(
    name: str, hyperparameters: Mapping[str, Any], *, seed: int
) -> dict[str, Any]:
    """The keywords for :func:`make_craft_attack`: the configured ones, and the run's seed if random.

    A random attack (:attr:`CraftAttack.seeded`) whose config gives no ``seed`` gets ``seed``,
    the run's one seed. The seed goes last, after the configured keys: the order is kept in the crafted set's
    metadata, so it is part of the set file's bytes.
    """
    resolved = dict(hyperparameters)
    if _craft_class(name).seeded:
        resolved.setdefault("seed", seed)
    return resolved


__all__ = [
    "BIMA",
    "BIMB",
    "CRAFT_ATTACKS",
    "CW_PRESETS",
    "FGSM",
    "JSMA",
    "BasicIterativeMethod",
    "BlackBox",
    "Bounds",
    "CarliniWagnerL2",
    "CraftAttack",
    "CraftResult",
    "DeepFool",
    "FGM",
    "SubstituteA",
    "craft_hyperparameters",
    "l0_distortion",
    "l2_distortion",
    "linf_distortion",
    "make_craft_attack",
    "png_round_trip",
    "random_targets",
]
