"""A target model made ready for the pipeline: trained as its environment did, or imported.

:func:`fit_target` is the library call behind the ``model`` stage: it loads the dataset, seeds,
builds the wrapped network, trains it (resumable per epoch) or loads the authors' weights, and
measures its test and training accuracy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from a2d.data import load_split
from a2d.models import ClassifierWrapper, build_target, load_pretrained
from a2d.training.trainer import EpochRecord, accuracy, train_model
from a2d.utils.seed import seed_everything

if TYPE_CHECKING:
    from a2d.config import DatasetConfig, ModelConfig

log = logging.getLogger(__name__)

DEFAULT_EVAL_BATCH = 1000
"""Batch size of the accuracy passes of a model whose config has no ``train`` block."""


@dataclass
class FittedTarget:
    """A target model in eval mode on its device, how it was obtained and how accurate it is."""

    model: ClassifierWrapper
    history: list[EpochRecord]  # one record per epoch trained; empty for imported weights
    test_accuracy: float
    train_accuracy: float | None  # None: no training split on disk (ImageNet: val only)
    n_train: int
    seconds: float  # training (or import) time

    def metrics(self, *, paper_test: float | None, paper_train: float | None) -> dict[str, Any]:
        """The ``model`` stage's metrics: accuracies beside the paper's, size and time."""
        return {
            "test_accuracy": round(self.test_accuracy, 6),
            "train_accuracy": None
            if self.train_accuracy is None
            else round(self.train_accuracy, 6),
            "paper_test_accuracy": paper_test,
            "paper_train_accuracy": paper_train,
            "test_accuracy_minus_paper": None
            if paper_test is None
            else round(self.test_accuracy - paper_test, 6),
            "n_train": self.n_train,
            "epochs": len(self.history),
            "seconds": round(self.seconds, 1),
        }

    def history_csv(self) -> str:
        """The per-epoch history as CSV (a DVC plot): epoch, loss, test accuracy, seconds."""
        rows = ["epoch,loss,test_accuracy,seconds"] + [
            f"{r.epoch},{r.loss:.6f},{r.test_accuracy if r.test_accuracy is not None else ''},{r.seconds:.2f}"
            for r in self.history
        ]
        return "\n".join(rows) + "\n"


def fit_target(
    cfg: ModelConfig,
    dataset: DatasetConfig,
    *,
    data_root: Path,
    seed: int,
    device: torch.device,
    pretrained_root: Path,
    checkpoint_dir: Path | None = None,
) -> FittedTarget:
    """Train the target ``cfg`` describes (``source: train``) or import its weights (``pretrained``).

    Args:
        cfg: the target's config (architecture, normalisation, source, training settings).
        dataset: its dataset's config (torchvision class, normalisation statistics).
        data_root: the folder holding the datasets.
        seed: seeds the initial weights, dropout and the shuffles.
        device: where to train and evaluate.
        pretrained_root: the folder a relative ``cfg.pretrained`` path starts from.
        checkpoint_dir: where training keeps its per-epoch checkpoint (a killed run resumes).

    Notes:
        The data are loaded, then the generators seeded, then the network built: this order
        fixes the initial weights, so changing it changes every trained model.
    """
    test = load_split(dataset.torchvision_class, data_root, train=False)
    limit = cfg.train.train_subset if cfg.train is not None and cfg.source == "train" else None
    # ImageNet (BL4's pretrained ResNet-101): only val is on disk, and the paper reports val
    # top-1 only, so an imported ImageNet model has no training accuracy
    has_train = cfg.source == "train" or dataset.torchvision_class != "ImageNet"
    train = (
        load_split(dataset.torchvision_class, data_root, train=True, limit=limit)
        if has_train
        else None
    )
    seed_everything(seed)
    model = build_target(cfg.arch, normalize=cfg.normalize, mean=dataset.mean, std=dataset.std)
    began = time.perf_counter()
    history: list[EpochRecord] = []
    if cfg.source == "pretrained":
        path = Path(cfg.pretrained or "")
        load_pretrained(
            model,
            path if path.is_absolute() else pretrained_root / path,
            sha256=cfg.pretrained_sha256,
        )
        model.to(device)
    else:
        if cfg.train is None or train is None:
            raise ValueError(f"{cfg.arch}: source=train needs a train block (validated config)")
        log.info(
            "training %s on %d images for %d epochs on %s",
            cfg.arch,
            len(train),
            cfg.train.epochs,
            device,
        )
        history = train_model(
            model,
            train,
            cfg.train,
            seed=seed,
            device=device,
            test=test,
            checkpoint_dir=checkpoint_dir,
            on_epoch=_log_epoch,
        )
    seconds = time.perf_counter() - began
    model.eval()
    batch = cfg.train.eval_batch_size if cfg.train is not None else DEFAULT_EVAL_BATCH
    return FittedTarget(
        model=model,
        history=history,
        test_accuracy=accuracy(model, test, batch_size=batch, device=device),
        train_accuracy=None
        if train is None
        else accuracy(model, train, batch_size=batch, device=device),
        n_train=0 if train is None else len(train),
        seconds=seconds,
    )


def _log_epoch(record: EpochRecord) -> None:
    log.info(
        "epoch %d: loss %.4f, test accuracy %.4f (%.0f s)",
        record.epoch,
        record.loss,
        record.test_accuracy or 0,
        record.seconds,
    )
