"""a2d: Attack as Defense (Zhao et al., ISSTA 2021), reproduced end to end.

Adversarial examples are less robust than benign inputs, so they are cheaper to attack. The
library is organised by what things are: ``data``, ``models``, ``training``, ``attacks``
(crafting), ``costs`` (attacks used as defence), ``robustness`` (CLEVER), ``detectors``,
``baselines`` and ``reporting``.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["AttackAsDefense", "__version__"]


def __getattr__(name: str) -> Any:
    """``a2d.AttackAsDefense`` on first use: ``import a2d.config`` stays free of torch."""
    if name == "AttackAsDefense":
        from a2d.detectors import AttackAsDefense

        return AttackAsDefense
    raise AttributeError(f"module 'a2d' has no attribute {name!r}")
