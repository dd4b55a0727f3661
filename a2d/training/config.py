"""The training schema: how one target model is trained (``models.<target>.train`` in params.yaml).

It lives beside the trainer that reads it, and imports nothing from ``a2d``, so that
:mod:`a2d.config` (which every stage loads) can embed it in its schema without importing the
trainer or torch. ``from a2d.config import TrainConfig`` keeps working: it is re-exported there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

OPTIMIZERS = ("adadelta", "sgd")
"""The optimizers the trainer builds (Env1: Keras Adadelta; Env2: SGD with momentum)."""


@dataclass
class TrainConfig:
    """How a model is trained (Env1: Keras Adadelta; Env2: SGD with momentum)."""

    epochs: int = MISSING
    batch_size: int = MISSING
    optimizer: str = MISSING  # adadelta | sgd
    lr: float = MISSING
    rho: float = 0.95  # Adadelta decay (Keras default; torch's default is 0.9)
    eps: float = 1e-7  # Adadelta epsilon (Keras default; torch's default is 1e-6)
    momentum: float = 0.0  # SGD only
    l2_penalty: float = 0.0  # Keras-style coeff * sum(w^2), no 1/2 factor
    l2_layers: list[str] = field(default_factory=list)  # parameter-name prefixes the penalty covers
    train_subset: int | None = None  # first N training images (None = all)
    eval_batch_size: int = 1000
