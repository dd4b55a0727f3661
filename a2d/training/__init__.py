"""Seeded, resumable training of the target models (Keras-equivalent Adadelta for Env1).

- :mod:`a2d.training.config`: the training schema (``models.<target>.train``).
- :mod:`a2d.training.trainer`: :func:`train_model`, one epoch loop, resumable per epoch, with a
  pluggable batch objective (cross-entropy by default).
- :mod:`a2d.training.adversarial`: :class:`PGDObjective`, PGD adversarial training (Madry),
  selected by ``models.<target>.train.adversarial``.
- :mod:`a2d.training.target`: :func:`fit_target`, a target trained or imported, with its
  accuracies (the ``model`` stage's library call).

Names load on first use (PEP 562): :mod:`a2d.config`, which every stage imports, embeds the
training schema, and must not pull in torch, the trainer and the models with it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdversarialTrainingConfig",
    "EpochRecord",
    "FittedTarget",
    "Objective",
    "PGDObjective",
    "TrainConfig",
    "accuracy",
    "cross_entropy",
    "fit_target",
    "l2_penalty",
    "make_optimizer",
    "pgd_linf",
    "train_model",
    "training_objective",
]


def __getattr__(name: str) -> Any:
    """The package's public names, imported from their modules on first use."""
    if name in ("TrainConfig", "AdversarialTrainingConfig"):
        from a2d.training import config

        return getattr(config, name)
    if name in ("PGDObjective", "pgd_linf"):
        from a2d.training import adversarial

        return getattr(adversarial, name)
    if name in ("FittedTarget", "fit_target"):
        from a2d.training import target

        return getattr(target, name)
    if name in (
        "EpochRecord",
        "Objective",
        "accuracy",
        "cross_entropy",
        "l2_penalty",
        "make_optimizer",
        "train_model",
        "training_objective",
    ):
        from a2d.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'a2d.training' has no attribute {name!r}")
