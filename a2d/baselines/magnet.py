"""MagNet's autoencoder detector (Meng & Chen 2017) for MNIST: the "AE" of the paper's Figure 7a.

An autoencoder trained to denoise benign images reconstructs them well; an input far from the
data manifold (an adversarial example with a large perturbation) is reconstructed badly. The
detector flags an input whose reconstruction error exceeds a threshold set on benign
validation images for a fixed false-positive rate.

- :class:`MagNetAutoencoder` with :func:`autoencoder_i` / :func:`autoencoder_ii` (MagNet's MNIST
  AE-I ``[3, "average", 3]`` and AE-II ``[3]``).
- :class:`DenoisingObjective` and :func:`train_autoencoder`: the training, through the project's
  one training loop (:func:`a2d.training.train_model`), resumable per epoch.
- :func:`fpr_threshold`: the threshold that flags a given fraction of benign scores.
- :class:`MagNetDetector`: a scikit-learn-style estimator on images (fit on benign validation
  images, ``decision_function``, ``predict``); with several autoencoders it flags an input that
  any of them flags, as MagNet does.
- :func:`magnet_split` and :func:`fit_magnet`: MagNet's MNIST recipe end to end;
  :func:`save_magnet` / :func:`load_magnet`: the fitted detector on disk.
- :func:`fit_magnet_config` and :func:`magnet_summary`: the ``magnet`` stage's library calls
  (the recipe from ``adaptive.magnet`` in params.yaml; thresholds and false-positive rates).

References:
    Meng and Chen, "MagNet: a Two-Pronged Defense against Adversarial Examples", CCS 2017
    (Trevillie/MagNet b115cf8: ``defensive_models.py``, ``train_defense.py``, ``worker.py``);
    Carlini and Wagner, "MagNet and 'Efficient Defenses Against Adversarial Attacks' are Not
    Robust to Adversarial Examples", 2017 (carlini/MagNet ceb9698); spec/baselines.md section 5;
    Zhao et al., "Attack as Defense", ISSTA 2021, Section 6.2.1.

Notes:
    How this differs from MagNet's code:
    * MagNet draws the training noise once (a fixed noisy copy of the training set); here every
      batch draws fresh noise (0.1 * N(0, 1), clipped to [0, 1]) from torch's global generator,
      the usual denoising-autoencoder training; the checkpoint keeps that generator, so a
      resumed run is exact.
    * MagNet's activity L2 regulariser (1e-9 on every conv output) is left out: at 1e-9 it is
      orders of magnitude below the reconstruction loss.
    * Threshold: MagNet takes the ``int(N * drop_rate)``-th largest validation score and passes
      inputs strictly below it (the 5th largest of 5000 at 0.1%). Here an input is flagged when
      its score is strictly above the ``(m + 1)``-th largest, m = floor(N * fpr): the same m
      flagged validation images when scores do not tie, never more than m when they do
      (:meth:`a2d.AttackAsDefense.calibrate_costs` uses the same rule). MagNet's rule with
      ``int(N * drop_rate) = 0`` indexes the smallest score and flags almost everything; here
      m = 0 flags only scores above the largest.
    * The reformer (AE-I's reconstruction fed to the classifier) is not used: A2D combines with
      the detector only (paper Section 6.2.1).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from a2d.config import MagNetConfig
from a2d.data.datasets import DatasetSplit
from a2d.errors import DataError
from a2d.pipeline.resume import write_torch
from a2d.training.config import TrainConfig
from a2d.training.trainer import EpochRecord, train_model
from a2d.utils.seed import seed_everything

Layer = int | str
"""One entry of a MagNet structure: a conv layer's filter count, or ``"average"`` / ``"max"``."""

AE_I_STRUCTURE: tuple[Layer, ...] = (3, "average", 3)
"""MagNet's MNIST detector-I autoencoder (``train_defense.py``)."""
AE_II_STRUCTURE: tuple[Layer, ...] = (3,)
"""MagNet's MNIST detector-II autoencoder."""

MAGNET_TRAINING = TrainConfig(epochs=100, batch_size=256, optimizer="adam", lr=1e-3, eps=1e-7)
"""MagNet's MNIST autoencoder training: Adam (Keras defaults), batch 256, 100 epochs (Carlini's
copy: 30), MSE on noisy inputs (:class:`DenoisingObjective`)."""

MAGNET_NOISE = 0.1
"""Std of the Gaussian noise added to the training inputs (MagNet ``v_noise``, MNIST)."""
MAGNET_FPR = 0.001
"""MagNet's MNIST ``drop_rate``: each detector flags 0.1% of the validation images."""
MAGNET_VALIDATION = 5000
"""MagNet's MNIST validation set: the first 5000 training images (the AEs train on the rest)."""


class MagNetAutoencoder(nn.Module):
    """A MagNet convolutional autoencoder: 3x3 'same' convs with sigmoid activations.

    Args:
        structure: the encoder, e.g. ``(3, "average", 3)``: an int is a conv layer with that
            many filters, ``"average"`` / ``"max"`` a 2x2 pooling. The decoder mirrors it (a
            pooling becomes a 2x nearest upsampling) and ends in a conv back to ``channels``.
        channels: image channels; default 1 (MNIST).

    Input contract: (N, channels, H, W) in [0, 1] (H and W divisible by 2 per pooling); the
    output has the same shape, in (0, 1).
    """

    def __init__(self, structure: Sequence[Layer], *, channels: int = 1) -> None:
        super().__init__()
        if not structure:
            raise ValueError("structure is empty; give at least one conv layer, e.g. (3,)")
        layers: list[nn.Module] = []
        width = channels
        for entry in structure:
            width = self._append(layers, entry, width, encoder=True)
        for entry in reversed(structure):
            width = self._append(layers, entry, width, encoder=False)
        layers += [nn.Conv2d(width, channels, 3, padding=1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)
        self.structure = tuple(structure)
        self.channels = channels

    @staticmethod
    def _append(layers: list[nn.Module], entry: Layer, width: int, *, encoder: bool) -> int:
        if isinstance(entry, int) and not isinstance(entry, bool) and entry > 0:
            layers += [nn.Conv2d(width, entry, 3, padding=1), nn.Sigmoid()]
            return entry
        if entry in ("average", "max"):
            if not encoder:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            elif entry == "average":
                layers.append(nn.AvgPool2d(2))
            else:
                layers.append(nn.MaxPool2d(2))
            return width
        raise ValueError(
            f"structure entries must be filter counts > 0 or 'average' / 'max', got {entry!r}"
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def autoencoder_i(channels: int = 1) -> MagNetAutoencoder:
    """MagNet's AE-I (detector I, MNIST): conv3, average pool, conv3 | conv3, upsample, conv3, conv."""
    return MagNetAutoencoder(AE_I_STRUCTURE, channels=channels)


def autoencoder_ii(channels: int = 1) -> MagNetAutoencoder:
    """MagNet's AE-II (detector II, MNIST): conv3 | conv3, conv."""
    return MagNetAutoencoder(AE_II_STRUCTURE, channels=channels)


@dataclass(frozen=True)
class DenoisingObjective:
    """Training loss of a denoising autoencoder: MSE between AE(x + noise) and x.

    Args:
        noise: std of the Gaussian noise; default 0.1 (MagNet, MNIST). The noisy input is
            clipped to ``bounds``.
        bounds: the input box; default (0, 1).

    Called by :func:`a2d.training.train_model` as ``objective(autoencoder, x, y)`` (``y`` is
    ignored); the noise comes from torch's global generator.
    """

    noise: float = MAGNET_NOISE
    bounds: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not self.noise >= 0:
            raise ValueError(f"noise must be >= 0, got {self.noise!r}")

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        noisy = (x + self.noise * torch.randn_like(x)).clamp(*self.bounds)
        return F.mse_loss(model(noisy), x)


def train_autoencoder(
    autoencoder: nn.Module,
    images: DatasetSplit,
    *,
    cfg: TrainConfig = MAGNET_TRAINING,
    noise: float = MAGNET_NOISE,
    seed: int,
    device: torch.device,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> list[EpochRecord]:
    """Train ``autoencoder`` in place to denoise ``images``: the trainer's loop, MSE objective.

    Args:
        autoencoder: e.g. :func:`autoencoder_i` (build it after seeding for reproducible runs).
        images: training images in [0, 1] (labels unused).
        cfg: epochs, batch size, optimiser; default :data:`MAGNET_TRAINING`.
        noise: training noise std; default 0.1.
        seed: seeds the shuffles and the noise.
        device: where to train.
        checkpoint_dir: per-epoch checkpoint folder (a killed run resumes); one per autoencoder.

    Returns:
        The per-epoch history (the loss is the training MSE).
    """
    return train_model(
        autoencoder,
        images,
        cfg,
        seed=seed,
        device=device,
        checkpoint_dir=checkpoint_dir,
        objective=DenoisingObjective(noise=noise),
    )


def fpr_threshold(scores: Any, fpr: float) -> float:
    """The threshold that flags at most ``fpr`` of ``scores`` (flagged = score > threshold).

    With m = floor(fpr * N), the threshold is the (m + 1)-th largest score: the m largest
    scores are above it when no scores tie, fewer when they do. ``m >= N`` gives ``-inf``
    (everything flagged).

    Args:
        scores: (N,) benign scores (reconstruction errors), finite.
        fpr: the false-positive rate, in [0, 1].

    Raises:
        ValueError: ``fpr`` outside [0, 1], or empty or non-finite scores.
    """
    if isinstance(fpr, bool) or not isinstance(fpr, int | float) or not 0 <= fpr <= 1:
        raise ValueError(f"fpr must be a rate in [0, 1], e.g. 0.001, got {fpr!r}")
    values = np.asarray(scores, dtype=np.float64).ravel()
    if not len(values) or not np.isfinite(values).all():
        raise ValueError(
            f"scores must be a non-empty array of finite numbers, got {len(values)} value(s)"
            f"{'' if np.isfinite(values).all() else ' with NaN or inf'}"
        )
    ranked = np.sort(values)[::-1]
    allowed = math.floor(fpr * len(ranked) + 1e-9)
    return float(ranked[allowed]) if allowed < len(ranked) else -math.inf


@torch.no_grad()
def reconstruction_errors(
    autoencoder: nn.Module, x: Tensor, *, norm: int = 2, batch_size: int = 500
) -> np.ndarray:
    """(N,) mean over pixels of ``|x - AE(x)| ** norm`` (MagNet's ``AEDetector.mark``).

    Runs the autoencoder in eval mode on its own device, ``batch_size`` images at a time, and
    restores its mode.
    """
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(
            f"x must be a (N, C, H, W) float tensor of images, got "
            f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}"
        )
    param = next(autoencoder.parameters(), None)
    device = param.device if param is not None else x.device
    was_training = autoencoder.training
    autoencoder.eval()
    try:
        out = [
            (chunk - autoencoder(chunk)).abs().pow(norm).flatten(1).mean(1).double().cpu()
            for chunk in x.to(device).split(batch_size)
        ]
    finally:
        autoencoder.train(was_training)
    return torch.cat(out).numpy() if out else np.empty(0)


class MagNetDetector(BaseEstimator):
    """MagNet's reconstruction-error detector: flags inputs an autoencoder reconstructs badly.

    Args:
        autoencoders: trained autoencoders (e.g. AE-I and AE-II); each is one detector.
        norms: the error norm p of each detector, ``mean |x - AE(x)|^p``; default ``(2, 1)``
            (MagNet's MNIST detector I: AE-I with p = 2, the MSE; detector II: AE-II, p = 1).
        fpr: each detector's false-positive rate on the validation images; default 0.001
            (MagNet's MNIST drop rate). The combined rate is at most the sum.
        batch_size: images per forward pass.

    Input contract: (N, C, H, W) float images in [0, 1]. ``fit`` takes benign validation images
    only (no labels). ``predict`` gives 1 (adversarial) when any detector's error is strictly
    above its threshold, else 0. ``decision_function`` is the largest ratio error / threshold
    over the detectors (higher = more adversarial; flagged iff > 1 when every threshold is
    positive), so it can be passed to ``roc_auc_score``.

    Attributes:
        thresholds_: (D,) one threshold per detector (see :func:`fpr_threshold`).
        validation_fpr_: (D,) the fraction of validation images each detector flags.
        n_validation_: the number of validation images.

    Example:
        >>> detector = MagNetDetector([ae_i, ae_ii]).fit(validation_images)  # doctest: +SKIP
        >>> flags = detector.predict(adversarial_images).astype(bool)  # doctest: +SKIP
    """

    thresholds_: np.ndarray
    validation_fpr_: np.ndarray
    n_validation_: int

    def __init__(
        self,
        autoencoders: Sequence[nn.Module] = (),
        *,
        norms: Sequence[int] = (2, 1),
        fpr: float = MAGNET_FPR,
        batch_size: int = 500,
    ) -> None:
        self.autoencoders = autoencoders
        self.norms = norms
        self.fpr = fpr
        self.batch_size = batch_size

    def _check_params(self) -> None:
        if not self.autoencoders:
            raise ValueError("autoencoders is empty; pass the trained autoencoders, e.g. [ae_i]")
        if len(self.norms) != len(self.autoencoders):
            raise ValueError(
                f"give one norm per autoencoder: {len(self.autoencoders)} autoencoder(s), "
                f"norms={list(self.norms)}"
            )
        bad = [p for p in self.norms if isinstance(p, bool) or p not in (1, 2)]
        if bad:
            raise ValueError(f"norms must be 1 or 2 (MagNet's p), got {bad[0]!r}")

    def errors(self, X: Tensor) -> np.ndarray:
        """(N, D) reconstruction error of every image under every detector."""
        self._check_params()
        return np.stack(
            [
                reconstruction_errors(ae, X, norm=int(p), batch_size=self.batch_size)
                for ae, p in zip(self.autoencoders, self.norms, strict=True)
            ],
            axis=1,
        )

    def fit_errors(self, errors: Any) -> MagNetDetector:
        """Set the thresholds from precomputed (N, D) validation errors (one column per detector)."""
        self._check_params()
        matrix = np.asarray(errors, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        if matrix.ndim != 2 or matrix.shape[1] != len(self.autoencoders):
            raise ValueError(
                f"errors must be (N, {len(self.autoencoders)}), one column per autoencoder, "
                f"got shape {matrix.shape}"
            )
        self.thresholds_ = np.array([fpr_threshold(col, self.fpr) for col in matrix.T])
        self.validation_fpr_ = (matrix > self.thresholds_).mean(axis=0)
        self.n_validation_ = int(matrix.shape[0])
        return self

    def fit(self, X: Tensor, y: Any = None) -> MagNetDetector:
        """Set each detector's threshold at ``fpr`` on benign validation images ``X``; returns self.

        ``y`` is ignored (benign only), so the estimator fits into scikit-learn's API.
        """
        return self.fit_errors(self.errors(X))

    def decision_function_errors(self, errors: Any) -> np.ndarray:
        """:meth:`decision_function` of precomputed (N, D) errors."""
        check_is_fitted(self, "thresholds_")
        matrix = np.atleast_2d(np.asarray(errors, dtype=np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(
                self.thresholds_ > 0, matrix / self.thresholds_, np.where(matrix > 0, np.inf, 0.0)
            )
        return np.asarray(ratios.max(axis=1))

    def predict_errors(self, errors: Any) -> np.ndarray:
        """:meth:`predict` of precomputed (N, D) errors."""
        check_is_fitted(self, "thresholds_")
        matrix = np.atleast_2d(np.asarray(errors, dtype=np.float64))
        return np.asarray((matrix > self.thresholds_).any(axis=1), dtype=np.int64)

    def decision_function(self, X: Tensor) -> np.ndarray:
        """(N,) largest error / threshold ratio over the detectors (higher = more adversarial)."""
        check_is_fitted(self, "thresholds_")
        return self.decision_function_errors(self.errors(X))

    def predict(self, X: Tensor) -> np.ndarray:
        """(N,) int64: 1 where any detector's error exceeds its threshold, else 0."""
        check_is_fitted(self, "thresholds_")
        return self.predict_errors(self.errors(X))


def magnet_split(
    train: DatasetSplit, n_validation: int = MAGNET_VALIDATION
) -> tuple[DatasetSplit, DatasetSplit]:
    """MagNet's split of the MNIST training set: (the rest, the first ``n_validation`` images)."""
    if not 0 < n_validation < len(train):
        raise ValueError(
            f"n_validation={n_validation} must leave images on both sides of the "
            f"{len(train)}-image training split"
        )

    def part(rows: slice) -> DatasetSplit:
        return DatasetSplit(x=train.x[rows], y=train.y[rows], indices=train.indices[rows])

    return part(slice(n_validation, None)), part(slice(0, n_validation))


def fit_magnet(
    train: DatasetSplit,
    *,
    seed: int,
    device: torch.device,
    cfg: TrainConfig = MAGNET_TRAINING,
    noise: float = MAGNET_NOISE,
    fpr: float = MAGNET_FPR,
    n_validation: int = MAGNET_VALIDATION,
    structures: Sequence[Sequence[Layer]] = (AE_I_STRUCTURE, AE_II_STRUCTURE),
    norms: Sequence[int] = (2, 1),
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> MagNetDetector:
    """MagNet's MNIST detector from the training split: train each autoencoder, set thresholds.

    Args:
        train: the MNIST training split (images in [0, 1]); the first ``n_validation`` images
            set the thresholds, the others train the autoencoders.
        seed: seeds each autoencoder's initial weights, shuffles and noise.
        device: where to train.
        cfg, noise: training settings (default MagNet's: Adam, batch 256, 100 epochs, noise 0.1).
        fpr: each detector's validation false-positive rate; default 0.001.
        n_validation: validation images; default 5000.
        structures, norms: the autoencoders and their error norms; default AE-I with p = 2 and
            AE-II with p = 1 (MagNet's two MNIST detectors).
        checkpoint_dir: where each autoencoder keeps its per-epoch checkpoint
            (``<dir>/ae<j>``), so a killed run resumes.

    Returns:
        The fitted :class:`MagNetDetector` (autoencoders in eval mode on ``device``).
    """
    rest, validation = magnet_split(train, n_validation)
    channels = int(train.x.shape[1])
    autoencoders = []
    for j, structure in enumerate(structures):
        folder = None if checkpoint_dir is None else os.path.join(checkpoint_dir, f"ae{j}")
        seed_everything(seed)
        autoencoder = MagNetAutoencoder(structure, channels=channels)
        train_autoencoder(
            autoencoder,
            rest,
            cfg=cfg,
            noise=noise,
            seed=seed,
            device=device,
            checkpoint_dir=folder,
        )
        autoencoders.append(autoencoder.eval())
    return MagNetDetector(autoencoders, norms=tuple(norms), fpr=fpr).fit(validation.x)


def save_magnet(detector: MagNetDetector, path: str | os.PathLike[str]) -> None:
    """Write a fitted detector (autoencoder structures and weights, norms, thresholds) atomically."""
    check_is_fitted(detector, "thresholds_")
    autoencoders = [ae for ae in detector.autoencoders if isinstance(ae, MagNetAutoencoder)]
    if len(autoencoders) != len(detector.autoencoders):
        raise ValueError("save_magnet saves MagNetAutoencoder detectors only")
    write_torch(
        path,
        {
            "format": "a2d.MagNetDetector",
            "structures": [list(ae.structure) for ae in autoencoders],
            "channels": [ae.channels for ae in autoencoders],
            "states": [
                {k: v.detach().cpu() for k, v in ae.state_dict().items()} for ae in autoencoders
            ],
            "norms": [int(p) for p in detector.norms],
            "fpr": float(detector.fpr),
            "thresholds": detector.thresholds_.tolist(),
            "validation_fpr": detector.validation_fpr_.tolist(),
            "n_validation": detector.n_validation_,
        },
    )


def load_magnet(
    path: str | os.PathLike[str], *, device: torch.device | str = "cpu"
) -> MagNetDetector:
    """The detector :func:`save_magnet` wrote, its autoencoders in eval mode on ``device``."""
    if not os.path.isfile(path):
        raise DataError(f"no MagNet detector at '{path}'; train it first (fit_magnet, save_magnet)")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(saved, dict) or saved.get("format") != "a2d.MagNetDetector":
        raise DataError(f"'{path}' is not a saved MagNet detector (no a2d.MagNetDetector format)")
    autoencoders = []
    for structure, channels, state in zip(
        saved["structures"], saved["channels"], saved["states"], strict=True
    ):
        ae = MagNetAutoencoder(structure, channels=channels)
        ae.load_state_dict(state)
        autoencoders.append(ae.to(device).eval())
    detector = MagNetDetector(autoencoders, norms=tuple(saved["norms"]), fpr=saved["fpr"])
    detector.thresholds_ = np.asarray(saved["thresholds"], dtype=np.float64)
    detector.validation_fpr_ = np.asarray(saved["validation_fpr"], dtype=np.float64)
    detector.n_validation_ = int(saved["n_validation"])
    return detector


def fit_magnet_config(
    train: DatasetSplit,
    cfg: MagNetConfig,
    *,
    seed: int,
    device: torch.device,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> MagNetDetector:
    """:func:`fit_magnet` with the recipe of ``adaptive.magnet`` (structures, norms, training,
    noise, FPR, validation size); ``train`` is the training split (its first
    ``cfg.train.train_subset`` images, as the caller loaded them)."""
    return fit_magnet(
        train,
        seed=seed,
        device=device,
        cfg=cfg.train,
        noise=cfg.noise,
        fpr=cfg.fpr,
        n_validation=cfg.n_validation,
        structures=[tuple(structure) for structure in cfg.structures],
        norms=tuple(int(p) for p in cfg.norms),
        checkpoint_dir=checkpoint_dir,
    )


def magnet_summary(detector: MagNetDetector, test: Tensor) -> dict[str, Any]:
    """A fitted detector's numbers: per autoencoder its structure, norm, threshold, validation
    FPR and mean error and FPR on benign ``test`` images; overall FPR on ``test``."""
    check_is_fitted(detector, "thresholds_")
    errors = detector.errors(test)
    flagged = errors > detector.thresholds_
    return {
        "n_validation": detector.n_validation_,
        "n_test": int(len(test)),
        "test_fpr": float(flagged.any(axis=1).mean()) if len(test) else float("nan"),
        "detectors": [
            {
                "structure": list(getattr(ae, "structure", ())),
                "norm": int(p),
                "threshold": float(threshold),
                "validation_fpr": float(val_fpr),
                "test_fpr": float(flagged[:, j].mean()) if len(test) else float("nan"),
                "test_mean_error": float(errors[:, j].mean()) if len(test) else float("nan"),
            }
            for j, (ae, p, threshold, val_fpr) in enumerate(
                zip(
                    detector.autoencoders,
                    detector.norms,
                    detector.thresholds_,
                    detector.validation_fpr_,
                    strict=True,
                )
            )
        ],
    }
