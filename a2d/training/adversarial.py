"""PGD adversarial training (Madry et al. 2018): the training loss on L-inf PGD examples.

:class:`PGDObjective` is a training objective of :func:`a2d.training.train_model`: for every
batch it crafts L-inf PGD examples against the model being trained and returns their
cross-entropy, so the optimiser sees only adversarial batches (Madry's recipe, 100%
adversarial). :func:`pgd_linf` is the attack itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.errors import ConfigError
from a2d.training.config import AdversarialTrainingConfig

Bounds = tuple[float, float]


def pgd_linf(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    *,
    epsilon: float,
    step_size: float,
    steps: int,
    random_start: bool = True,
    bounds: Bounds = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> Tensor:
    """L-inf projected gradient ascent on the cross-entropy of ``labels`` (Madry et al. 2018).

    Args:
        model: logits network, used in whatever mode it is in (the caller chooses).
        x: (N, C, H, W) inputs in ``bounds``; labels: (N,) true labels.
        epsilon: L-inf radius; step_size: signed-gradient step; steps: number of steps (0 =
            the random start only).
        random_start: start uniform in the eps-ball (clipped to the box); default True.
        bounds: the input box; default (0, 1).
        generator: source of the random start; default torch's global generator (so a
            checkpointed training run resumes with the same starts).

    Returns:
        (N, C, H, W) adversarial inputs, detached, within ``epsilon`` of ``x`` and the box.

    Notes:
        Gradients are taken with respect to the input only (``torch.autograd.grad``), so the
        model's parameter gradients are never written. The per-example loss is summed, so a
        step never depends on the batch.
    """
    lo, hi = bounds
    x = x.detach()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x_adv = (x + (2 * noise - 1) * epsilon).clamp(lo, hi)
    else:
        x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.minimum(torch.maximum(x_adv, x - epsilon), x + epsilon).clamp(lo, hi)
    return x_adv.detach()


@dataclass(frozen=True)
class PGDObjective:
    """Training loss of PGD adversarial training: cross-entropy on PGD examples of the batch.

    Args:
        epsilon: L-inf radius in input units; default 8/255 (Madry, CIFAR-10).
        step_size: PGD step in input units; default 2/255.
        steps: PGD steps per batch; default 10 (Madry's config.json; the paper reports 7).
        random_start: uniform start in the ball; default True.

    Called as ``objective(model, x, labels)`` by the trainer with the model in train mode;
    returns the mean cross-entropy of the model (train mode) on the PGD examples.

    References:
        Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
        Adversarial Attacks", ICLR 2018; MadryLab/cifar10_challenge (``train.py``,
        ``pgd_attack.py``, ``config.json``); spec/baselines.md section 6.

    Notes:
        * The examples are crafted with the model in eval mode (dropout off) and the loss is
          taken in train mode. Madry's wide ResNet has no dropout and crafts in its training
          mode (BatchNorm on batch statistics); for BL1's dropout convnet an attack through
          random dropout masks would be a weaker, noisier adversary.
        * The model is BL1's Env1 convnet trained with its own optimiser (Keras Adadelta, no
          augmentation), not Madry's wide ResNet with SGD, piecewise learning rate and random
          crops and flips: the option changes what the model is trained on, nothing else.
        * Each batch costs ``steps + 1`` forward and backward passes instead of one, so an
          epoch is about ``steps + 1`` times a plain one (11x at 10 steps).
    """

    epsilon: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 10
    random_start: bool = True

    def __post_init__(self) -> None:
        for name in ("epsilon", "step_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(
                    f"adversarial training: {name} must be a number > 0 (input units, e.g. "
                    f"8/255 = 0.0314), got {value!r}"
                )
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(
                f"adversarial training: steps must be an integer >= 1, got {self.steps!r}"
            )

    @classmethod
    def from_config(cls, cfg: AdversarialTrainingConfig) -> PGDObjective:
        """The objective ``models.<target>.train.adversarial`` describes."""
        return cls(
            epsilon=cfg.epsilon,
            step_size=cfg.step_size,
            steps=cfg.steps,
            random_start=cfg.random_start,
        )

    def __call__(self, model: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
        bounds = tuple(float(b) for b in getattr(model, "bounds", (0.0, 1.0)))
        was_training = model.training
        model.eval()
        try:
            x_adv = pgd_linf(
                model,
                x,
                labels,
                epsilon=self.epsilon,
                step_size=self.step_size,
                steps=self.steps,
                random_start=self.random_start,
                bounds=(bounds[0], bounds[1]),
            )
        finally:
            model.train(was_training)
        return F.cross_entropy(model(x_adv), labels)
