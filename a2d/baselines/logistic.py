"""What BL1 and BL2 share: per-input features of the three sets, and the logistic-regression AUROC.

Both baselines compute a feature vector per input for three paired sets (normal, noisy,
adversarial), label adversarial = 1 and normal/noisy = 0, scale the features, fit scikit-learn's
``LogisticRegressionCV`` with its defaults, and report the AUROC of ``predict_proba``. They differ
in the scaler and in what they score (see :mod:`a2d.baselines.kd_bu` and :mod:`a2d.baselines.lid`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import Pipeline, make_pipeline

from a2d.detectors import roc


@dataclass(frozen=True)
class DetectionSets:
    """(n, d) features of normal, noisy and adversarial inputs (the same n source images)."""

    normal: np.ndarray
    noisy: np.ndarray
    adversarial: np.ndarray

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.normal, self.noisy, self.adversarial)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(
                "normal, noisy and adversarial features must be 2-D arrays of one shape (n, d), "
                f"got {[a.shape for a in (self.normal, self.noisy, self.adversarial)]}"
            )
        if not all(np.isfinite(a).all() for a in (self.normal, self.noisy, self.adversarial)):
            raise ValueError(
                "features contain NaN or inf; check the inputs (duplicates, empty sets)"
            )

    def __len__(self) -> int:
        return len(self.adversarial)

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels, laid out [normal | noisy | adversarial] (labels 0, 0, 1)."""
        x = np.concatenate([self.normal, self.noisy, self.adversarial])
        y = np.repeat([0, 0, 1], len(self))
        return x, y

    def take(self, rows: np.ndarray) -> DetectionSets:
        """The same rows of all three sets (keeps the pairing)."""
        return DetectionSets(self.normal[rows], self.noisy[rows], self.adversarial[rows])


def logistic_regression_cv() -> LogisticRegressionCV:
    """``LogisticRegressionCV`` with scikit-learn's long-standing defaults, spelled out.

    L2 penalty, 10 values of C, 5-fold CV (the default since 0.22; BL1/BL2's older scikit-learn
    used 3), accuracy to pick C. scikit-learn 1.9 announces new defaults for ``l1_ratios``,
    ``scoring`` and the fitted attributes; pinning them keeps both baselines unchanged.
    """
    defaults = LogisticRegressionCV().get_params()
    pinned: dict[str, object] = {}
    if defaults.get("l1_ratios") == "warn":
        pinned["l1_ratios"] = (0.0,)
    if defaults.get("scoring") == "warn":
        pinned["scoring"] = None
    if "use_legacy_attributes" in defaults:
        pinned["use_legacy_attributes"] = False
    return LogisticRegressionCV(Cs=10, cv=5, **pinned)


def logistic_detector(scaler: TransformerMixin) -> Pipeline:
    """``scaler`` then :func:`logistic_regression_cv` (both baselines)."""
    return make_pipeline(scaler, logistic_regression_cv())


def auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """AUROC of adversarial (1) vs normal + noisy (0), rounded to 4 places like the paper.

    Computed by the project's one AUROC, :func:`a2d.detectors.roc.auroc` (ties count one half).
    """
    labels, values = np.asarray(y), np.asarray(scores, dtype=float)
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"labels must be 0 (normal, noisy) or 1 (adversarial), got {np.unique(labels)}"
        )
    return round(roc.auroc(values[labels == 0], values[labels == 1]), 4)


def heldout_auroc(scaler: TransformerMixin, train: DetectionSets, test: DetectionSets) -> float:
    """Scaler and detector fitted on ``train`` only, AUROC on all of ``test``."""
    x_train, y_train = train.xy()
    x_test, y_test = test.xy()
    detector = logistic_detector(scaler).fit(x_train, y_train)
    return auroc(y_test, detector.predict_proba(x_test)[:, 1])


def halves(sets: DetectionSets) -> tuple[DetectionSets, DetectionSets]:
    """A disjoint split by source image (first half, second half), when no training pool exists."""
    if len(sets) < 4:
        raise ValueError(
            f"need at least 4 inputs per set to split them into training and test halves, got {len(sets)}"
        )
    middle = len(sets) // 2
    rows = np.arange(len(sets))
    return sets.take(rows[:middle]), sets.take(rows[middle:])
