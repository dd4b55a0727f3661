"""How well a score separates benign from adversarial inputs: AUROC, its uncertainty, TPR at low FPR.

The paper reports a bare AUROC. With 1000 + 1000 inputs and integer costs that tie a lot, a
bare number hides how sure it is, so every AUROC here comes with a seeded bootstrap interval
and the true-positive rate at fixed false-positive rates (the operating points a deployed
detector runs at).

Scores follow scikit-learn's convention: higher = more adversarial. For attack costs the score
is ``-cost`` (cheaper to attack = more adversarial), see :func:`cost_scores`.

This is the project's one AUROC: :func:`auroc` (a plain number), :func:`bootstrap_interval`,
:func:`tpr_at_fpr` and :func:`roc_summary` (all three together) are what every stage, the
baselines and the reports use. A benign/adversarial pair with equal scores counts one half, as
in scikit-learn's ``roc_auc_score``, which computes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
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


def auroc(benign_scores: ArrayLike, adversarial_scores: ArrayLike) -> float:
    """AUROC of ``adversarial_scores`` against ``benign_scores`` (higher = more adversarial).

    The probability that a random adversarial input scores above a random benign one, a tie
    counting one half (scikit-learn's ``roc_auc_score``, bit for bit).

    Raises:
        DataError: a score set is empty or holds NaN / inf.
    """
    return _auroc(*_labelled(benign_scores, adversarial_scores))


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The one AUROC computation (labels 0 = benign, 1 = adversarial), unchecked."""
    return float(roc_auc_score(labels, scores))


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
    benign = _scores(benign_scores, "benign")
    adversarial = _scores(adversarial_scores, "adversarial")
    low, high = bootstrap_interval(
        benign, adversarial, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    return RocSummary(
        auroc=auroc(benign, adversarial),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        tpr_at_fpr=tpr_at_fpr(benign, adversarial, fpr_levels),
        n_benign=len(benign),
        n_adversarial=len(adversarial),
    )


def bootstrap_interval(
    benign_scores: ArrayLike,
    adversarial_scores: ArrayLike,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the AUROC over ``n_bootstrap`` stratified bootstrap resamples.

    Benign and adversarial scores are resampled separately, each to its own size: every
    resample then holds both classes, so every replicate AUROC is defined, even with a single
    benign or adversarial input. Resampling the pooled set jointly would draw one-class sets
    (AUROC undefined, a NaN interval) and let the class balance drift from the data's.
    ``n_bootstrap=0`` gives the point estimate twice.

    Raises:
        DataError: a score set is empty or holds NaN / inf.
        ConfigError: ``confidence`` outside (0, 1) or ``n_bootstrap`` < 0.
    """
    benign = _scores(benign_scores, "benign")
    adversarial = _scores(adversarial_scores, "adversarial")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 0:
        raise ConfigError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if n_bootstrap == 0:
        point = auroc(benign, adversarial)
        return point, point
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(len(benign)), np.ones(len(adversarial))]
    values = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        resampled = np.r_[
            rng.choice(benign, size=len(benign)), rng.choice(adversarial, size=len(adversarial))
        ]
        values[i] = _auroc(labels, resampled)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def cost_auroc_report(
    tables: Mapping[str, Mapping[str, pd.DataFrame]],
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    fpr_levels: Sequence[float] = (0.01, 0.05, 0.1),
    seed: int = 0,
) -> dict[str, dict[str, dict[str, Any]]]:
    """attack_d -> crafting attack -> AUROC summary of one target, score = -cost.

    Args:
        tables: attack_d (``bim``, ...) -> set kind (``benign``, ``fgsm``, ...) -> that set's
            cost table of one split (columns ``cost`` and ``crafted_success``, as
            :func:`a2d.costs.tables.read_cost_tables` returns them); ``benign`` is required.
        n_bootstrap, confidence, fpr_levels, seed: as :func:`roc_summary`.

    Returns:
        Per cell :meth:`RocSummary.to_dict`, unfiltered (failed adversarials kept, the Env1
        protocol), plus ``n_success``, ``auroc_success_only`` (the successful adversarials
        alone, the Env2 protocol; None when none succeeded) and the mean costs.

    Raises:
        DataError: an attack_d has no benign table.
    """
    report: dict[str, dict[str, dict[str, Any]]] = {}
    for attack, sets in tables.items():
        if "benign" not in sets:
            raise DataError(
                f"the {attack} cost tables have no benign set to compare the adversarial sets "
                f"with (got {', '.join(sorted(sets))}); rerun the costs stage"
            )
        benign = sets["benign"]["cost"]
        report[attack] = {}
        for kind, frame in sets.items():
            if kind == "benign":
                continue
            summary = roc_summary(
                cost_scores(benign),
                cost_scores(frame["cost"]),
                n_bootstrap=n_bootstrap,
                confidence=confidence,
                fpr_levels=fpr_levels,
                seed=seed,
            ).to_dict()
            successful = frame.loc[frame["crafted_success"].astype(bool), "cost"]
            summary["n_success"] = int(len(successful))
            summary["auroc_success_only"] = (
                round(auroc(cost_scores(benign), cost_scores(successful)), 4)
                if len(successful)
                else None
            )
            summary["mean_cost_benign"] = round(float(benign.mean()), 2)
            summary["mean_cost_adversarial"] = round(float(frame["cost"].mean()), 2)
            report[attack][kind] = summary
    return report


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


def aurocs_against_benign(costs: Mapping[str, ArrayLike], *, decimals: int = 4) -> dict[str, float]:
    """AUROC of benign vs each adversarial set of the same split, score = -cost.

    ``costs`` maps set names (``<kind>_<split>``: ``benign_eval``, ``fgsm_eval``, ...) to the
    costs of one attack_d; a set without its split's benign set is left out. Rounded to
    ``decimals`` (the costs stage's metrics).
    """
    aurocs = {}
    for name, values in costs.items():
        kind, _, split = name.rpartition("_")
        benign = costs.get(f"benign_{split}")
        if kind != "benign" and benign is not None:
            aurocs[name] = round(auroc(cost_scores(benign), cost_scores(values)), decimals)
    return aurocs
