"""Cost attacks ("attack as defence"): how many steps an attack needs to change the model's
own prediction of an input (Zhao et al., ISSTA'21). Adversarial inputs are cheaper to attack.

Every attack shares the batched early-stop loop of :class:`CostAttack` and returns a
:class:`CostResult` (adversarial, success, cost, queries, label, cap); a failure is recorded as
exactly the cap. :mod:`a2d.costs.reference` holds plain per-example loops for tests.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

from a2d.costs.base import Bounds, CostAttack, CostResult, StepOutcome
from a2d.costs.bim import L2BIMCost, LinfBIMCost
from a2d.costs.boundary import BoundaryCost, example_generator, normalized_mse
from a2d.costs.cw import CWCost
from a2d.costs.fgsm import FGSMCost
from a2d.costs.jsma import JSMACost
from a2d.costs.lbfgs import LBFGSCost
from a2d.costs.lsa import LocalSearchCost
from a2d.errors import ConfigError

COST_ATTACKS: dict[str, type[CostAttack]] = {
    "bim": LinfBIMCost,
    "bim2": L2BIMCost,
    "jsma": JSMACost,
    "dba": BoundaryCost,
    "fgsm": FGSMCost,
    "cw": CWCost,
    "lbfgs": LBFGSCost,
    "lsa": LocalSearchCost,
}
"""Every attack_d by config name: the paper's four (BIM_d, BIM2_d, JSMA_d, DBA_d), then the four
it compared them with in RQ1 and dropped (FGSM_d, C&W_d, L-BFGS_d, LSA_d; Figure 4)."""

PAPER_ATTACKS_D = ("bim", "bim2", "jsma", "dba")
"""The four attacks_d the paper keeps after RQ1 (``costs.attacks`` in config)."""


def make_cost_attack(name: str, **hyperparameters: Any) -> CostAttack:
    """Build the cost attack ``name`` (a key of :data:`COST_ATTACKS`) with keyword overrides."""
    if name not in COST_ATTACKS:
        raise ConfigError(
            f"unknown cost attack {name!r}; choose one of {', '.join(sorted(COST_ATTACKS))}"
        )
    cls = COST_ATTACKS[name]
    signature = inspect.signature(cls).parameters
    known = list(signature)
    unknown = sorted(set(hyperparameters) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown hyperparameter(s) {', '.join(unknown)} for cost attack {name!r}; "
            f"valid: {', '.join(known)}"
        )
    for key, value in hyperparameters.items():
        default = signature[key].default
        if key == "bounds" or (value is None and default is None):
            continue
        if not isinstance(value, numbers.Real) or (
            isinstance(value, bool) and not isinstance(default, bool)
        ):
            raise ConfigError(
                f"cost attack {name!r}: {key}={value!r} is not a number; give one, e.g. "
                f"{key}={default!r}"
            )
    try:
        return cls(**hyperparameters)
    except ConfigError as exc:  # the attack's own check: say which attack it was
        raise ConfigError(f"cost attack {name!r}: {exc}") from None


__all__ = [
    "COST_ATTACKS",
    "PAPER_ATTACKS_D",
    "BoundaryCost",
    "Bounds",
    "CWCost",
    "CostAttack",
    "CostResult",
    "FGSMCost",
    "JSMACost",
    "L2BIMCost",
    "LBFGSCost",
    "LinfBIMCost",
    "LocalSearchCost",
    "StepOutcome",
    "example_generator",
    "make_cost_attack",
    "normalized_mse",
]
