"""Train a wrapped classifier as the paper's environments did, seeded and resumable per epoch.

Notes:
    Keras vs PyTorch, and what this port does about it (BL1's ``train_model.py``):
    * Adadelta: Keras defaults are lr 1.0, rho 0.95, eps 1e-7; torch's are rho 0.9, eps 1e-6,
      so all three come from config.
    * ``l2(0.01)`` in Keras adds ``0.01 * sum(w**2)`` (no 1/2) for kernel *and* bias to the loss;
      torch's ``weight_decay`` would be a different penalty, so it is added to the loss here.
    * Keras shuffles every epoch; here a seeded ``torch.Generator`` draws each epoch's order, and
      its state is checkpointed, so a resumed run equals an uninterrupted one bit for bit (CPU).
    * BL3 (Env2, PyTorch) used torch's own SGD ``weight_decay`` (``TrainConfig.weight_decay``)
      and, on CIFAR-10, random crops and flips (``TrainConfig.augment``, :mod:`a2d.training.augment`),
      drawn from the same checkpointed generator.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.data.datasets import DatasetSplit
from a2d.pipeline.resume import FINGERPRINT, reuse_torch, write_torch
from a2d.training.augment import augment_batch
from a2d.training.config import TrainConfig
from a2d.utils.progress import progress
from a2d.utils.seed import seed_everything

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "last_epoch.pt"

Objective = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""A batch's training loss: ``objective(model, x, y)`` -> scalar, with the model in train mode.

The trainer owns everything else (shuffling, the optimiser, the L2 penalty, checkpoints); an
objective says only what the model is trained to do on one batch: :func:`cross_entropy`
(classifiers), :class:`a2d.training.adversarial.PGDObjective` (PGD adversarial training),
:class:`a2d.baselines.magnet.DenoisingObjective` (MagNet's autoencoders). Random draws must come
from torch's global generator, whose state the checkpoint keeps, so a resumed run equals an
uninterrupted one.
"""


def cross_entropy(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """The plain classifier objective: mean cross-entropy of the logits (Keras' categorical CE)."""
    return F.cross_entropy(model(x), y)


def training_objective(cfg: TrainConfig) -> Objective:
    """The objective ``cfg`` asks for: PGD adversarial training if ``cfg.adversarial``, else CE."""
    if cfg.adversarial is None:
        return cross_entropy
    from a2d.training.adversarial import PGDObjective

    return PGDObjective.from_config(cfg.adversarial)


@dataclass
class EpochRecord:
    """What one epoch produced (a row of the training-history plot)."""

    epoch: int
    loss: float
    test_accuracy: float | None
    seconds: float


def make_optimizer(parameters: Any, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adadelta with Keras' constants (Env1), SGD with momentum (Env2) or Adam, from config.

    Adam (MagNet's autoencoders) takes ``lr`` and ``eps`` from config (Keras: 1e-3 and 1e-7)
    and torch's default betas (0.9, 0.999), which are Keras' too.
    """
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(
            parameters, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; expected 'adadelta', 'sgd' or 'adam'")


def l2_penalty(net: nn.Module, layers: list[str], coeff: float) -> torch.Tensor:
    """Keras-style ``coeff * sum(p**2)`` over every parameter (weight and bias) of ``layers``."""
    params = [p for name, p in net.named_parameters() if name.split(".")[0] in layers]
    if coeff == 0.0 or not params:
        return torch.zeros(())
    missing = set(layers) - {name.split(".")[0] for name, _ in net.named_parameters()}
    if missing:
        raise ValueError(f"l2_layers {sorted(missing)} are not modules of {type(net).__name__}")
    return coeff * sum(p.pow(2).sum() for p in params)


@torch.no_grad()
def accuracy(
    model: nn.Module, split: DatasetSplit, *, batch_size: int, device: torch.device
) -> float:
    """Top-1 accuracy in eval mode (dropout off), as Keras' ``evaluate`` reports it."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(split), batch_size):
        logits = model(split.x[start : start + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == split.y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(split), 1)


def _fingerprint(
    cfg: TrainConfig, seed: int, n_train: int, arch: str, objective: Objective | None
) -> dict[str, Any]:
    # a plain dict, compared with ==: a checkpoint stores it whole, not hashed
    train = asdict(cfg)
    if train.get("adversarial") is None:
        # plain training keeps the fingerprint it had before the option existed
        train.pop("adversarial", None)
    for key, off in (("weight_decay", 0.0), ("augment", "none")):
        if train.get(key) == off:  # likewise for these two, added later
            train.pop(key, None)
    found = {"train": train, "seed": seed, "n_train": n_train, "arch": arch}
    if objective is not None:
        found["objective"] = repr(objective)  # a dataclass: its settings, stably
    return found


def train_model(
    model: nn.Module,
    train: DatasetSplit,
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    test: DatasetSplit | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    objective: Objective | None = None,
) -> list[EpochRecord]:
    """Train ``model`` in place for ``cfg.epochs`` epochs and return the per-epoch history.

    Args:
        model: a (wrapped) classifier returning logits; moved to ``device``.
        train: training images in [0, 1] and labels.
        cfg: optimiser, batch size, epochs, L2 penalty.
        seed: seeds initial state, dropout and the per-epoch shuffles.
        device: where to train.
        test: if given, accuracy on it is recorded after each epoch (BL1 validated on test).
        checkpoint_dir: if given, the state after each finished epoch is saved there and a
            later call with the same config resumes from it (the file is removed at the end,
            and the folder too once empty).
        on_epoch: called with each :class:`EpochRecord` after its checkpoint is saved (stages
            use it to log).
        objective: the batch loss (see :data:`Objective`); default ``None`` = what ``cfg``
            asks for (:func:`training_objective`: cross-entropy, or PGD adversarial training
            when ``cfg.adversarial`` is set). A given objective is part of the checkpoint's
            fingerprint through its ``repr``: use a dataclass.

    Notes:
        The model's initial weights are whatever ``model`` holds: build it after seeding (the
        ``model`` stage seeds, builds, then calls this) for reproducible runs.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    order_gen = seed_everything(seed)
    model.to(device)
    optimizer = make_optimizer(model.parameters(), cfg)
    net = getattr(model, "net", model)
    arch = type(net).__name__
    fingerprint = _fingerprint(cfg, seed, len(train), arch, objective)
    loss_of = objective if objective is not None else training_objective(cfg)
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    history: list[EpochRecord] = []
    start_epoch = 1
    state = reuse_torch(ckpt_path, fingerprint) if ckpt_path else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        order_gen.set_state(state["order_rng"])
        history = [EpochRecord(**row) for row in state["history"]]
        start_epoch = state["epoch"] + 1
        log.info("resuming %s from checkpoint after epoch %d", arch, state["epoch"])

    for epoch in range(start_epoch, cfg.epochs + 1):
        began = time.perf_counter()
        loss = _run_epoch(
            model,
            net,
            optimizer,
            train,
            cfg,
            order_gen,
            device,
            f"epoch {epoch}/{cfg.epochs}",
            loss_of,
        )
        test_acc = (
            accuracy(model, test, batch_size=cfg.eval_batch_size, device=device) if test else None
        )
        record = EpochRecord(
            epoch=epoch, loss=loss, test_accuracy=test_acc, seconds=time.perf_counter() - began
        )
        history.append(record)
        if ckpt_path is not None:
            _save_checkpoint(ckpt_path, model, optimizer, order_gen, epoch, history, fingerprint)
        if on_epoch:
            on_epoch(record)
    model.eval()
    if ckpt_path is not None and ckpt_path.exists():
        ckpt_path.unlink()
        if not any(ckpt_path.parent.iterdir()):
            ckpt_path.parent.rmdir()  # the folder was made for the checkpoint
    return history


def _run_epoch(
    model: nn.Module,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: DatasetSplit,
    cfg: TrainConfig,
    order_gen: torch.Generator,
    device: torch.device,
    desc: str,
    objective: Objective,
) -> float:
    model.train()
    order = torch.randperm(len(train), generator=order_gen)
    total, seen = 0.0, 0
    batches = range(0, len(order), cfg.batch_size)
    for start in progress(batches, desc=desc, total=len(batches), unit="batch"):
        idx = order[start : start + cfg.batch_size]
        # augmentation draws from the shuffling generator (none: no draws, as before), whose
        # state the checkpoint keeps
        xb = augment_batch(train.x[idx], cfg.augment, order_gen).to(device)
        yb = train.y[idx].to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = objective(model, xb, yb)
        if cfg.l2_penalty:
            loss = loss + l2_penalty(net, cfg.l2_layers, cfg.l2_penalty).to(device)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
    return total / max(seen, 1)


def _save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    order_gen: torch.Generator,
    epoch: int,
    history: list[EpochRecord],
    fingerprint: dict[str, Any],
) -> None:
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "order_rng": order_gen.get_state(),
        "history": [asdict(r) for r in history],
        FINGERPRINT: fingerprint,
    }
    write_torch(path, state)
