"""How well a score separates benign from adversarial inputs: AUROC, its uncertainty, TPR at low FPR.

The paper reports a bare AUROC. With 1000 + 1000 inputs and integer costs that tie a lot, a
bare number hides how sure it is, so every AUROC here comes with a seeded bootstrap interval
and the true-positive rate at fixed false-positive rates (the operating points a deployed
detector runs at).

Scores follow scikit-learn's convention: higher = more adversarial. For attack costs the score
is ``-cost`` (cheaper to attack = more adversarial), see :func:`cost_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score, roc_curve

from a2d.errors import ConfigError, DataError


@dataclass(frozen=True)
class RocSummary:
    """AUROC of one benign-vs-adversarial comparison, with its bootstrap interval and operating points.

    Attributes:
        auroc: ``roc_auc_score``; a benign/adversarial pair with equal scores counts one half.
        ci_low, ci_high: percentile bootstrap interval of the AUROC (``confidence`` level),
            resampling benign and adversarial inputs separately.
        tpr_at_fpr: FPR level -> the largest TPR of any threshold whose FPR is at most that
            level (no interpolation between tied scores: the rate a real threshold achieves).
        n_benign, n_adversarial: sample sizes.
    """

    auroc: float
    ci_low: float
    ci_high: float
    confidence: float
    tpr_at_fpr: dict[float, float] = field(default_factory=dict)
    n_benign: int = 0
    n_adversarial: int = 0

    def to_dict(self, digits: int = 4) -> dict[str, object]:
        """A JSON-able view (rounded), FPR levels as strings like ``"0.05"``."""
        return {
            "auroc": round(self.auroc, digits),
            "ci_low": round(self.ci_low, digits),
            "ci_high": round(self.ci_high, digits),
            "confidence": self.confidence,
            "tpr_at_fpr": {f"{k:g}": round(v, digits) for k, v in self.tpr_at_fpr.items()},
            "n_benign": self.n_benign,
            "n_adversarial": self.n_adversarial,
        }


def cost_scores(costs: ArrayLike) -> np.ndarray:
    """Detection scores of attack costs: ``-cost``, so cheaper inputs score as more adversarial."""
    return -np.asarray(costs, dtype=float)


def tpr_at_fpr(
    benign_scores: ArrayLike, adversarial_scores: ArrayLike, levels: Sequence[float]
) -> dict[float, float]:
    """For each FPR level, the best TPR among thresholds with FPR <= level (see :class:`RocSummary`)."""
    labels, scores = _labelled(benign_scores, adversarial_scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    return {float(level): float(tpr[fpr <= level + 1e-12].max()) for level in levels}


def roc_summary(
    benign_scores: ArrayLike,
    adversarial_scores: ArrayLike,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    fpr_levels: Sequence[float] = (0.01, 0.05, 0.1),
    seed: int = 0,
) -> RocSummary:
    """AUROC of ``adversarial_scores`` against ``benign_scores`` (higher = more adversarial).

    Args:
        benign_scores, adversarial_scores: 1-D scores; both must be non-empty.
        n_bootstrap: bootstrap resamples for the interval; default 1000 (0: the interval is the
            point estimate).
        confidence: level of the percentile interval; default 0.95.
        fpr_levels: false-positive rates at which to report the TPR; default 1%, 5%, 10%.
        seed: seeds the bootstrap, so the interval is reproducible.

    Raises:
        DataError: a score set is empty or holds NaN / inf.
        ConfigError: ``confidence`` outside (0, 1) or ``n_bootstrap`` < 0.
    """
    benign, adversarial = (
        _scores(benign_scores, "benign"),
        _scores(adversarial_scores, "adversarial"),
    )
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 0:
        raise ConfigError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    labels, scores = _labelled(benign, adversarial)
    auroc = float(roc_auc_score(labels, scores))
    low, high = _bootstrap_interval(benign, adversarial, n_bootstrap, confidence, seed, auroc)
    return RocSummary(
        auroc=auroc,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        tpr_at_fpr=tpr_at_fpr(benign, adversarial, fpr_levels),
        n_benign=len(benign),
        n_adversarial=len(adversarial),
    )


def _bootstrap_interval(
    benign: np.ndarray,
    adversarial: np.ndarray,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    point: float,
) -> tuple[float, float]:
    """Percentile interval of the AUROC over stratified bootstrap resamples.

    Benign and adversarial scores are resampled separately, each to its own size: every
    resample then holds both classes, so every replicate AUROC is defined, even with a single
    benign or adversarial input. Resampling the pooled set jointly would draw one-class sets
    (AUROC undefined, a NaN interval) and let the class balance drift from the data's.
    """
    if n_bootstrap == 0:
        return point, point
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(len(benign)), np.ones(len(adversarial))]
    values = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        resampled = np.r_[
            rng.choice(benign, size=len(benign)), rng.choice(adversarial, size=len(adversarial))
        ]
        values[i] = roc_auc_score(labels, resampled)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def _scores(values: ArrayLike, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise DataError(
            f"no {what} scores to compare: the {what} set is empty; an AUROC needs at least one "
            f"{what} score, so check that the {what} cost table has rows"
        )
    if not np.isfinite(array).all():
        raise DataError(f"{what} scores contain NaN or infinity; check the cost files")
    return array


def _labelled(benign: ArrayLike, adversarial: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    b, a = _scores(benign, "benign"), _scores(adversarial, "adversarial")
    return np.r_[np.zeros(len(b)), np.ones(len(a))], np.r_[b, a]
