"""BB: Papernot's black-box attack, a substitute trained by Jacobian augmentation, then FGSM on it (Env2)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.attacks.base import (
    Bounds,
    CraftAttack,
    Units,
    check_count,
    check_positive,
    check_units,
    unit_scale,
)
from a2d.attacks.fgsm import signed_gradient_step
from a2d.models.wrapper import ClassifierWrapper
from a2d.utils.progress import progress

log = logging.getLogger(__name__)


class SubstituteA(nn.Module):
    """Papernot's substitute architecture A as BL3 built it for MNIST (``blackBox.ArchA``).

    Conv(C -> 32, 2x2) -> ReLU -> MaxPool 2; Conv(32 -> 64, 2x2) -> ReLU -> MaxPool 2;
    FC -> 200 -> ReLU; FC 200 -> 200 -> ReLU; FC 200 -> classes (logits). For 1x28x28 inputs
    the flattened size is 64 * 6 * 6 = 2304, as in BL3.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        channels, height, width = (int(v) for v in input_shape)
        side = [((((s - 1) // 2) - 1) // 2) for s in (height, width)]
        if min(side) < 1:
            raise ValueError(f"SubstituteA needs inputs of at least 6x6, got {height}x{width}")
        self.conv1 = nn.Sequential(nn.Conv2d(channels, 32, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Sequential(nn.Linear(64 * side[0] * side[1], 200), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(200, 200), nn.ReLU())
        self.fc3 = nn.Linear(200, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        hidden = torch.flatten(self.conv2(self.conv1(x)), 1)
        return self.fc3(self.fc2(self.fc1(hidden)))


@dataclass(frozen=True)
class Substitute:
    """What substitute training returns.

    Attributes:
        model: the last round's substitute, in eval mode.
        images: (S * 2 ** (rounds - 1), C, H, W) the images it was trained on.
        labels: their oracle labels.
        agreement: the share of ``images`` on which the substitute agrees with the oracle.
    """

    model: ClassifierWrapper
    images: Tensor
    labels: Tensor
    agreement: float


class BlackBox(CraftAttack):
    """Papernot's practical black-box attack: substitute training, then FGSM transferred.

    :meth:`prepare` picks ``n_seed`` images of the pool (seeded) and trains a substitute
    (:class:`SubstituteA`, with the target's normalisation inside) for ``rounds`` rounds. Each
    round labels the current data with the target's predictions (the oracle; labels only),
    trains a *fresh* substitute for ``epochs`` epochs (SGD, cross-entropy) and, except after
    the last round, doubles the data with Jacobian augmentation: every image ``x`` with oracle
    label ``y`` gains ``clip(x + augmentation_step * sign(grad_x z_y(x)), lo, hi)``, ``z`` the
    substitute's logits. The call then takes one FGSM step of ``epsilon`` on the substitute
    (true labels) and hands the result to the target: ``success`` is the target's
    misclassification. Untargeted.

    Args:
        epsilon: FGSM step on the substitute, in ``units``; default 0.35 (BL3, paper Table 6).
        units: ``"input"`` or ``"normalized"`` (default): epsilon and ``augmentation_step``
            in the target's normalised space, i.e. times its ``std`` in pixels.
        n_seed: seed images drawn from the pool; default 200 (BL3).
        rounds: substitute training rounds; default 6 (BL3's ``max_iter``).
        augmentation_step: lambda of the Jacobian augmentation, in ``units``; default 0.1.
        epochs: training epochs of each round's substitute; default 10 (BL3's script).
        batch_size: substitute training batch; default 64 (BL3).
        learning_rate, momentum: SGD; default 0.01 and 0.5 (BL3).
        seed: seeds the seed-image draw, every initialisation and every shuffle; default 0.
        bounds: input box; default ``None`` = the model's ``bounds``, else (0, 1).

    Input contract: :meth:`prepare` first, with (P, C, H, W) pool images in the bounds that
    will not be attacked (the craft stage passes the test images outside the benign sets);
    then the usual call with (N, C, H, W) inputs and (N,) true labels. ``steps`` is 1.

    References:
        Papernot, McDaniel, Goodfellow, Jha, Celik and Swami, "Practical Black-Box Attacks
        against Machine Learning", AsiaCCS 2017; Wang et al. ICSE'19 (BL3,
        ``attacks/attack_type/blackBox.py``, ``craft_adversarial_img.py``); paper Table 6.

    Notes:
        * BL3 drew its 200 seed images from the test set and attacked every other image; here
          the seeds come from the pool (the test images outside the evaluation and training
          sets), so they never overlap the attacked images either.
        * BL3 worked on normalised tensors without clipping; here augmentation and FGSM steps
          are clipped to the pixel bounds (the attack sees [0, 1] images).
        * BL3 kept only the inputs the substitute classified correctly and the adversarials
          that fooled the substitute, then those that fooled the target. Every input is kept
          here and ``success`` is the target's misclassification alone; filter on it.
        * Each round's substitute starts from its own seeded initialisation (BL3: unseeded).
          The substitute is trained on the device of the pool, so a GPU run can differ from a
          CPU one in the last bits; within one machine it is the same on every call.
    """

    name = "bb"
    target_policy = "none"
    seeded = True
    needs_pool = True

    def __init__(
        self,
        *,
        epsilon: float = 0.35,
        units: Units = "normalized",
        n_seed: int = 200,
        rounds: int = 6,
        augmentation_step: float = 0.1,
        epochs: int = 10,
        batch_size: int = 64,
        learning_rate: float = 0.01,
        momentum: float = 0.5,
        seed: int = 0,
        bounds: Bounds | None = None,
    ) -> None:
        super().__init__(bounds=bounds)
        self.epsilon = check_positive("epsilon", epsilon, allow_zero=True)
        self.units: Units = check_units(units)
        self.n_seed = check_count("n_seed", n_seed)
        self.rounds = check_count("rounds", rounds)
        self.augmentation_step = check_positive("augmentation_step", augmentation_step)
        self.epochs = check_count("epochs", epochs)
        self.batch_size = check_count("batch_size", batch_size)
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.momentum = check_positive("momentum", momentum, allow_zero=True)
        self.seed = check_count("seed", seed, minimum=0)
        self._substitute: Substitute | None = None

    @property
    def substitute(self) -> Substitute:
        """The trained substitute and its training data (after :meth:`prepare`)."""
        if self._substitute is None:
            raise RuntimeError(
                "BlackBox has no substitute yet; call attack.prepare(model, pool) with images "
                "it will not attack first (the craft stage does)"
            )
        return self._substitute

    def prepare(self, model: nn.Module, pool: Tensor) -> None:
        """Train the substitute on ``n_seed`` pool images labelled by ``model`` (the oracle)."""
        bounds = self.bounds if self.bounds is not None else _bounds_of(model)
        if pool.dim() != 4 or len(pool) < self.n_seed:
            raise ValueError(
                f"the pool must be (P, C, H, W) images with P >= n_seed={self.n_seed}, "
                f"got {tuple(pool.shape)}; lower n_seed or give more images"
            )
        generator = torch.Generator().manual_seed(self.seed)
        chosen = torch.randperm(len(pool), generator=generator)[: self.n_seed]
        seeds = pool[chosen.to(pool.device)].detach().clamp(*bounds)
        step = self.augmentation_step * unit_scale(model, self.units, seeds)
        self._substitute = train_substitute(
            model,
            seeds,
            rounds=self.rounds,
            augmentation_step=step,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            momentum=self.momentum,
            generator=generator,
            bounds=bounds,
        )

    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        substitute = self.substitute.model
        step = self.epsilon * unit_scale(model, self.units, x)
        adversarial = signed_gradient_step(substitute, x, labels, step, bounds)
        return adversarial, torch.ones(x.shape[0], dtype=torch.long, device=x.device)


def _bounds_of(model: nn.Module) -> Bounds:
    bounds = getattr(model, "bounds", None)
    return (0.0, 1.0) if bounds is None else (float(bounds[0]), float(bounds[1]))


def _normalisation(model: nn.Module) -> tuple[list[float], list[float]] | None:
    if not getattr(model, "normalized", False):
        return None
    mean, std = getattr(model, "mean"), getattr(model, "std")  # noqa: B009 - buffers
    return mean.flatten().tolist(), std.flatten().tolist()


@torch.no_grad()
def _oracle_labels(oracle: nn.Module, x: Tensor, batch_size: int = 1000) -> Tensor:
    return torch.cat(
        [oracle(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    )


def train_substitute(
    oracle: nn.Module,
    seeds: Tensor,
    *,
    rounds: int,
    augmentation_step: Tensor | float,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    generator: torch.Generator,
    bounds: Bounds = (0.0, 1.0),
) -> Substitute:
    """Papernot's substitute training with Jacobian augmentation; returns the last substitute.

    Args:
        oracle: the target; only its predicted labels are used. It is put in eval mode.
        seeds: (S, C, H, W) initial images in ``bounds``, on the oracle's device.
        rounds: labelling + training rounds; the data doubles after each round but the last.
        augmentation_step: lambda in input units (a number, or a tensor broadcasting to an
            image, e.g. per channel).
        epochs, batch_size, learning_rate, momentum: SGD training of each round's substitute.
        generator: CPU generator for the initialisations and the shuffles.
        bounds: the box the augmented images are clipped to.

    The substitute is a :class:`SubstituteA` inside a :class:`ClassifierWrapper` with the
    oracle's normalisation (when it has one), in eval mode, on the seeds' device; it comes with
    the images and oracle labels of its last round (:class:`Substitute`).
    """
    was_training = oracle.training
    oracle.eval()
    shape, device = tuple(seeds.shape[1:]), seeds.device
    data = seeds.detach()
    substitute: ClassifierWrapper | None = None
    labels = torch.empty(0, dtype=torch.long, device=device)
    agreement = 0.0
    try:
        with torch.no_grad():
            num_classes = int(oracle(data[:1]).shape[1])
        for round_ in progress(range(rounds), desc="bb substitute", unit="round"):
            labels = _oracle_labels(oracle, data)
            substitute = _fresh_substitute(oracle, shape, num_classes, generator).to(
                device=device, dtype=seeds.dtype
            )
            _fit(substitute, data, labels, epochs, batch_size, learning_rate, momentum, generator)
            with torch.no_grad():
                agreement = float((_oracle_labels(substitute, data) == labels).double().mean())
            log.info(
                "bb round %d: substitute trained on %d images, agrees with the oracle on %.1f%%",
                round_ + 1,
                len(data),
                100 * agreement,
            )
            if round_ < rounds - 1:
                data = torch.cat(
                    [
                        data,
                        jacobian_augmentation(substitute, data, labels, augmentation_step, bounds),
                    ]
                )
    finally:
        oracle.train(was_training)
    if substitute is None:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    return Substitute(substitute.eval(), data, labels, agreement)


def _fresh_substitute(
    oracle: nn.Module, shape: tuple[int, ...], num_classes: int, generator: torch.Generator
) -> ClassifierWrapper:
    init_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        net = SubstituteA(shape, num_classes)
    normalisation = _normalisation(oracle)
    if normalisation is None:
        return ClassifierWrapper(net)
    mean, std = normalisation
    return ClassifierWrapper(net, mean=mean, std=std)


def _fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    generator: torch.Generator,
) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
    model.train()
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator).to(x.device)
            for start in range(0, len(x), batch_size):
                rows = order[start : start + batch_size]
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(x[rows]), y[rows]).backward()
                optimizer.step()
    model.eval()


def jacobian_augmentation(
    substitute: nn.Module,
    x: Tensor,
    labels: Tensor,
    step: Tensor | float,
    bounds: Bounds = (0.0, 1.0),
    *,
    batch_size: int = 1000,
) -> Tensor:
    """``clip(x + step * sign(grad_x z_label(x)), lo, hi)``: Papernot's new synthetic images.

    ``z`` are the substitute's logits and ``label`` each image's oracle label. Rows are
    independent (no batch statistics in eval mode), so one backward pass over the summed
    chosen logits gives every row its own gradient.
    """
    out = []
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], labels[start : start + batch_size]
        with torch.enable_grad():
            xg = xb.detach().requires_grad_(True)
            chosen = substitute(xg).gather(1, yb[:, None]).sum()
            (grad,) = torch.autograd.grad(chosen, xg)
        out.append((xb.detach() + step * grad.sign()).clamp(*bounds))
    return torch.cat(out) if out else x.clone()
