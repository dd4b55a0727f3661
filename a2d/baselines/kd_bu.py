"""BL1: kernel density (KD) and Bayesian uncertainty (BU), Feinman et al. 2017 (Env1).

An adversarial example leaves the data manifold of its (wrong) class, so its last-hidden-layer
features have a low density under that class's training features (KD), and the model is unsure
about it under dropout (BU). A logistic regression on the z-scored pair [KD, BU] separates
adversarial inputs from normal and noisy ones.

References:
    Feinman, Curtin, Shintre, Gardner. Detecting Adversarial Samples from Artifacts, 2017
    (rfeinman/detecting-adversarial-samples 2c26b60, ``scripts/detect_adv_samples.py``,
    ``detect/util.py``); spec/baselines.md section 1.

Notes:
    * KD is one Gaussian kernel density per class, fitted on **all** training points of that true
      class, scored under the **predicted** class; bandwidth 1.20 (MNIST) / 0.26 (CIFAR-10) from
      the authors' CV on their Keras models. We compute it as a batched log-sum-exp in torch
      (float64), which equals scikit-learn's ``KernelDensity.score_samples`` (tested), instead of
      one scikit-learn KDE per class.
    * BU is the variance over T = 50 dropout passes of the softmax vector, averaged over classes
      (``mc_preds.var(axis=0).mean(axis=1)``). Our dropout masks come from a seeded generator, so
      BU is reproducible; the deterministic layers before the first dropout run once per input.
    * :func:`kd_bu_auroc` is BL1's number: z-scores over all three sets, the detector fitted
      and scored on the **same** data (optimistic). :func:`kd_bu_auroc_heldout` fits scaler and
      detector on a disjoint training pool instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from a2d.baselines.logistic import DetectionSets, auroc, heldout_auroc, logistic_detector
from a2d.models import ClassifierWrapper
from a2d.models.layered import LayeredNet
from a2d.utils.progress import progress

PAPER_BANDWIDTHS: dict[str, float] = {"mnist": 1.20, "cifar10": 0.26}
"""BL1's kernel bandwidths per dataset (``BANDWIDTHS`` in ``detect_adv_samples.py``)."""


def gaussian_kde_log_density(
    queries: Tensor, points: Tensor, bandwidth: float, *, chunk_size: int = 2048
) -> Tensor:
    """Log density of each query under a Gaussian KDE on ``points`` (scikit-learn's normalisation).

    ``log p(q) = logsumexp_i(-|q - p_i|^2 / 2h^2) - log n - (d / 2) log(2 pi h^2)``, computed in
    float64 in chunks of ``chunk_size`` queries, on the device of ``points``.

    Args:
        queries: (m, d) features.
        points: (n, d) features the density is fitted on, n >= 1.
        bandwidth: the kernel width h > 0.
    """
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    if (
        queries.ndim != 2
        or points.ndim != 2
        or queries.shape[1] != points.shape[1]
        or not len(points)
    ):
        raise ValueError(
            f"queries (m, d) and points (n >= 1, d) must share d, got {tuple(queries.shape)} "
            f"and {tuple(points.shape)}"
        )
    points = points.double()
    n, d = points.shape
    norm = np.log(n) + 0.5 * d * np.log(2 * np.pi * bandwidth**2)
    point_sq = (points * points).sum(1)
    out = []
    for chunk in queries.double().to(points.device).split(chunk_size):
        sq = ((chunk * chunk).sum(1, keepdim=True) + point_sq - 2 * chunk @ points.T).clamp_min_(0)
        out.append(torch.logsumexp(-sq / (2 * bandwidth**2), dim=1) - norm)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


class ClassKernelDensity(BaseEstimator):
    """One Gaussian KDE per class; each input is scored under the KDE of the class it is given.

    Args:
        bandwidth: kernel width; default 1.20 (BL1, MNIST).
        chunk_size: queries per distance block (memory only).
    """

    def __init__(self, bandwidth: float = 1.20, chunk_size: int = 2048) -> None:
        self.bandwidth = bandwidth
        self.chunk_size = chunk_size

    def fit(self, features: Any, labels: Any) -> ClassKernelDensity:
        """Store the (n, d) training ``features`` of each class in ``labels`` (true labels)."""
        if not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be > 0, got {self.bandwidth!r}")
        x, y = torch.as_tensor(features).double(), torch.as_tensor(labels).long().flatten()
        if x.ndim != 2 or len(x) != len(y) or not len(x):
            raise ValueError(
                f"features must be (n, d) with one label each, got features {tuple(x.shape)} "
                f"and {len(y)} labels"
            )
        self.points_ = {int(c): x[y == c] for c in torch.unique(y)}
        self.classes_ = np.array(sorted(self.points_))
        return self

    def score_samples(self, features: Any, classes: Any) -> np.ndarray:
        """Log density of each row of ``features`` under the KDE of its entry in ``classes``."""
        check_is_fitted(self, "points_")
        x, c = torch.as_tensor(features).double(), torch.as_tensor(classes).long().flatten()
        if x.ndim != 2 or len(x) != len(c):
            raise ValueError(
                f"features must be (n, d) with one class each, got {tuple(x.shape)} and {len(c)}"
            )
        unknown = sorted(set(c.tolist()) - set(self.points_))
        if unknown:
            raise ValueError(
                f"class(es) {unknown} had no training points; fit on features of every class "
                f"(fitted: {self.classes_.tolist()})"
            )
        out = torch.empty(len(x), dtype=torch.float64)
        for label, points in self.points_.items():
            rows = c == label
            if rows.any():
                out[rows] = gaussian_kde_log_density(
                    x[rows], points, self.bandwidth, chunk_size=self.chunk_size
                ).cpu()
        return out.numpy()


def _layered(model: ClassifierWrapper) -> LayeredNet:
    if not isinstance(model.net, LayeredNet):
        raise TypeError(
            f"BL1 needs a LayeredNet (a2d.models.layered) to reach its hidden layer and dropout, "
            f"got {type(model.net).__name__}; the Env1 models are LayeredNets"
        )
    return model.net


@torch.no_grad()
def hidden_features(
    model: ClassifierWrapper, x: Tensor, *, layer: str | None = None, batch_size: int = 256
) -> tuple[Tensor, Tensor]:
    """(features of ``layer``, predicted labels) with dropout off; default layer = last hidden.

    Returns CPU tensors: (n, d) float32 features and (n,) predictions.
    """
    layer = layer or _layered(model).last_hidden
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    feats, preds = [], []
    try:
        for start in progress(range(0, len(x), batch_size), desc=f"features {layer}", unit="batch"):
            outputs = model.layer_outputs(x[start : start + batch_size].to(device))
            if layer not in outputs:
                raise ValueError(f"layer {layer!r} not in the model; valid: {', '.join(outputs)}")
            feats.append(torch.flatten(outputs[layer], 1).cpu())
            preds.append(next(reversed(outputs.values())).argmax(1).cpu())
    finally:
        model.train(was_training)
    if not feats:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(preds)


def _dropout(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    if p == 0:
        return x
    if p >= 1:
        return torch.zeros_like(x)
    # uniform < keep-probability is a Bernoulli mask, three times faster than bernoulli_ on CPU
    keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < 1 - p
    return x * keep / (1 - p)


@torch.no_grad()
def mc_dropout_uncertainty(
    model: ClassifierWrapper, x: Tensor, *, passes: int = 50, seed: int = 0, batch_size: int = 256
) -> np.ndarray:
    """BL1's Bayesian uncertainty: variance of the softmax over ``passes`` dropout passes, class mean.

    Args:
        model: a wrapped :class:`~a2d.models.layered.LayeredNet`; its ``nn.Dropout`` layers are
            sampled with a generator seeded by ``seed`` (the other layers run in eval mode).
        x: (N, C, H, W) inputs in [0, 1].
        passes: T stochastic passes; default 50 (BL1).
        seed: seeds the dropout masks; the same seed and batch size give the same result.
        batch_size: inputs per batch; default 256 (BL1).

    Returns:
        (N,) float64 uncertainties; all zero when the model has no active dropout.
    """
    if passes < 2:
        raise ValueError(f"passes must be >= 2 to estimate a variance, got {passes}")
    steps = _layered(model).steps()
    first = next((i for i, (_, s) in enumerate(steps) if isinstance(s, nn.Dropout)), len(steps))
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in progress(range(0, len(x), batch_size), desc="MC dropout", unit="batch"):
            h = model.preprocess(x[start : start + batch_size].to(device))
            for _, step in steps[:first]:
                h = step(h)
            probs = torch.stack(
                [_stochastic(h, steps[first:], generator).softmax(1) for _ in range(passes)]
            )
            out.append(probs.double().var(0, correction=0).mean(1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.empty(0)


def _stochastic(h: Tensor, steps: list, generator: torch.Generator) -> Tensor:
    for _, step in steps:
        h = _dropout(h, step.p, generator) if isinstance(step, nn.Dropout) else step(h)
    return h


def kd_bu_features(
    model: ClassifierWrapper,
    kde: ClassKernelDensity,
    x: Tensor,
    *,
    passes: int = 50,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """(N, 2) [log density under the predicted class's KDE, MC-dropout uncertainty]."""
    features, predicted = hidden_features(model, x, batch_size=batch_size)
    density = kde.score_samples(features, predicted)
    uncertainty = mc_dropout_uncertainty(model, x, passes=passes, seed=seed, batch_size=batch_size)
    return np.stack([density, uncertainty], axis=1)


def fit_class_kde(
    model: ClassifierWrapper, x: Tensor, labels: Tensor, *, bandwidth: float, batch_size: int = 256
) -> ClassKernelDensity:
    """The per-class KDE on the last hidden layer of the model's training inputs (true labels)."""
    features, _ = hidden_features(model, x, batch_size=batch_size)
    return ClassKernelDensity(bandwidth=bandwidth).fit(features, labels)


def kd_bu_auroc(sets: DetectionSets) -> float:
    """BL1's AUROC: z-score over all three sets, LogisticRegressionCV fitted and scored on them."""
    x, y = sets.xy()
    detector = logistic_detector(StandardScaler()).fit(x, y)
    return auroc(y, detector.predict_proba(x)[:, 1])


def kd_bu_auroc_heldout(train: DetectionSets, test: DetectionSets) -> float:
    """Scaler and detector fitted on a disjoint training pool, AUROC on ``test``."""
    return heldout_auroc(StandardScaler(), train, test)
