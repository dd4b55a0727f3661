"""The hyperparameters of the attacks_d, resolved from config: where every cost path gets them.

The paper tunes the attacks_d per dataset (BIM_d epsilon 0.3 on MNIST, 0.03 on CIFAR-10), so
a cost attack built from class defaults would silently run MNIST's settings on another
dataset. The ``costs`` stage, the ``detect`` stage's saved detectors and a user's
``AttackAsDefense(..., dataset="cifar10")`` all resolve them here, from
``costs.params.<dataset>`` (conf/attack/cost.yaml), and a missing entry is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from a2d.config import Params, dataset_cost_hyperparameters, dataset_of, load_params
from a2d.costs import COST_ATTACKS
from a2d.errors import ConfigError


def cost_attack_specs(
    params: Params, dataset: str, attacks: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """attack_d name -> hyperparameters for ``dataset``, seeded with ``params.seed`` where random.

    Raises:
        ConfigError: an unknown attack_d, or one without settings for ``dataset``.
    """
    specs = {}
    for attack in attacks:
        if attack not in COST_ATTACKS:
            raise ConfigError(
                f"unknown attack_d {attack!r}; choose from {', '.join(sorted(COST_ATTACKS))}"
            )
        hp = dataset_cost_hyperparameters(params, dataset, attack)
        if COST_ATTACKS[attack].seeded:
            hp.setdefault("seed", params.seed)
        specs[attack] = hp
    return specs


def target_cost_attack_specs(
    params: Params, target: str, attacks: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """:func:`cost_attack_specs` for the dataset of a configured target model."""
    return cost_attack_specs(params, dataset_of(params, target), attacks)


def paper_cost_attack_specs(dataset: str, attacks: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The project's configured (paper-profile) settings, for callers without a Params object."""
    return cost_attack_specs(load_params(), dataset, attacks)
