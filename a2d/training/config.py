"""The training schema: how one target model is trained (``models.<target>.train`` in params.yaml).

It lives beside the trainer that reads it, and imports nothing from ``a2d``, so that
:mod:`a2d.config` (which every stage loads) can embed it in its schema without importing the
trainer or torch. ``from a2d.config import TrainConfig`` keeps working: it is re-exported there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

OPTIMIZERS = ("adadelta", "sgd", "adam")
"""The optimizers the trainer builds (Env1: Keras Adadelta; Env2: SGD with momentum; MagNet's
autoencoders: Adam with Keras' defaults)."""

AUGMENTATIONS = ("none", "crop_flip")
"""Training-batch augmentations (:mod:`a2d.training.augment`): none, or BL3's CIFAR-10
``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip``."""


@dataclass
class AdversarialTrainingConfig:
    """PGD adversarial training (Madry et al. 2018): train on L-inf PGD examples of every batch.

    The defaults are the Madry CIFAR-10 recipe (spec/baselines.md section 6): eps 8/255, steps
    of 2/255, 10 steps (the paper reports 7), a uniform random start in the ball, cross-entropy.
    So ``models.<target>.train.adversarial: {}`` is the full recipe, and ``null`` (the default)
    is plain training.
    """

    epsilon: float = 8 / 255  # L-inf radius, in input units ([0, 1] pixels)
    step_size: float = 2 / 255  # signed-gradient step, in input units
    steps: int = 10  # PGD steps per batch (Madry's config.json: 10; the paper: 7)
    random_start: bool = True  # start uniform in the eps-ball


@dataclass
class TrainConfig:
    """How a model is trained (Env1: Keras Adadelta; Env2: SGD with momentum)."""

    epochs: int = MISSING
    batch_size: int = MISSING
    optimizer: str = MISSING  # adadelta | sgd | adam
    lr: float = MISSING
    rho: float = 0.95  # Adadelta decay (Keras default; torch's default is 0.9)
    eps: float = 1e-7  # Adadelta / Adam epsilon (Keras default; torch's: 1e-6 / 1e-8)
    momentum: float = 0.0  # SGD only
    # torch-style weight decay (wd * w added to the gradient; BL3's CIFAR-10 GoogLeNet: 5e-4)
    weight_decay: float = 0.0
    l2_penalty: float = 0.0  # Keras-style coeff * sum(w^2), no 1/2 factor
    l2_layers: list[str] = field(default_factory=list)  # parameter-name prefixes the penalty covers
    train_subset: int | None = None  # first N training images (None = all)
    augment: str = "none"  # none | crop_flip (random 32x32 crop of the 4-padded image + h-flip)
    eval_batch_size: int = 1000
    # PGD adversarial training (None = plain training on the clean batches)
    adversarial: AdversarialTrainingConfig | None = None
