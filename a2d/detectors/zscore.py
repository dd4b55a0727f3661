"""Z-score detector: flag an input whose attack cost is far below the benign cost distribution.

Adversarial examples sit close to the decision boundary, so attacking them again is cheap. The
detector learns the distribution of attack costs of *benign* inputs only and flags an input as
adversarial when the z-score of its cost (after an optional Box-Cox transform that makes the
benign costs normal) is below a threshold ``h``. ``h = -1.281552`` is the 10% quantile of the
standard normal, i.e. a 10% false-positive rate on benign inputs.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy import special, stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from a2d.detectors._validation import _benign_rows, _check_cost_array, _is_real

PAPER_Z_THRESHOLD: float = -1.281552
"""The paper's threshold ``h`` (standard-normal 10% quantile: 10% FPR on benign inputs)."""

Transform = Literal["auto", "box-cox", "none"]

_TRANSFORMS: tuple[str, ...] = ("auto", "box-cox", "none")
_MIN_SAMPLES_NORMALTEST = 8  # scipy's skew test is undefined below 8 samples


def _boxcox_floor(lmbda: float) -> float:
    """The limit of the Box-Cox transform as its argument goes to 0 from above."""
    return -1.0 / lmbda if lmbda > 0 else -math.inf


def _boxcox(x: np.ndarray, lmbda: float) -> np.ndarray:
    """Box-Cox transform, with non-positive arguments mapped to the limit at 0+ (monotone)."""
    out = np.full(x.shape, _boxcox_floor(lmbda), dtype=np.float64)
    pos = x > 0
    out[pos] = special.boxcox(x[pos], lmbda)
    return out


def _inv_boxcox(y: float, lmbda: float) -> float:
    """Inverse Box-Cox of one value, extended outside the transform's range.

    For ``lmbda > 0`` the transform's range is ``(-1/lmbda, inf)``: values at or below the
    lower end map to 0. For ``lmbda < 0`` the range is ``(-inf, -1/lmbda)``: values at or above
    the upper end map to inf.
    """
    if lmbda > 0 and y <= -1.0 / lmbda:
        return 0.0
    if lmbda < 0 and y >= -1.0 / lmbda:
        return math.inf
    return float(special.inv_boxcox(y, lmbda))


def _auto_shift(costs: np.ndarray) -> float:
    """The default shift that makes every cost positive before Box-Cox (see ZScoreDetector)."""
    if np.all(costs == np.round(costs)):
        return 1.0
    if np.all(costs > 0):
        return 0.0
    return float(costs[costs > 0].min())


class ZScoreDetector(ClassifierMixin, BaseEstimator):
    """Z-score detector on one attack_d's costs, fitted on benign costs only.

    Fit: if the benign costs are not normal (``scipy.stats.normaltest`` p-value < ``alpha``),
    they are shifted by ``shift_`` and Box-Cox transformed with the maximum-likelihood lambda
    (``scipy.stats.boxcox``); ``mean_`` and ``std_`` (population std, ddof = 0) are computed on
    the *transformed* benign costs. Predict: ``z = (t(c) - mean_) / std_`` with ``t`` the same
    transform; an input is adversarial (1) if ``z < threshold`` (strict), else benign (0).

    Args:
        threshold: the z-score threshold ``h`` (default -1.281552: 10% benign false positives;
            the paper's Table 7 also uses -1, -1.644854, -1.959964 and -2).
        alpha: significance level of the normality test (default 0.05); used when
            ``transform="auto"``.
        transform: ``"auto"`` (default: Box-Cox only if the normality test rejects),
            ``"box-cox"`` (always) or ``"none"`` (never; plain z-score of the raw costs).
        shift: added to every cost before Box-Cox, which needs positive values. ``"auto"``
            (default): 1 if the benign costs are all integers (iteration/query counts, where a
            cost of 0 is common, so 0 -> 1 as in log(1 + x)); otherwise 0 if all benign costs
            are positive, else the smallest positive benign cost (a shift on the costs' own
            scale). A float >= 0 sets it explicitly.

    Input contract: costs are attack costs (>= 0, finite), as a 1-D array or an (n, 1) array.
    Labels: 0 = benign, 1 = adversarial. ``decision_function`` is ``-z`` (higher = more
    adversarial, monotone decreasing in the cost), so it can be passed to ``roc_auc_score``.

    Attributes:
        pvalue_: normality-test p-value of the raw benign costs (NaN below 8 samples).
        boxcox_: whether the Box-Cox transform is applied.
        shift_: the shift added before Box-Cox (0.0 when no transform).
        lambda_: the fitted Box-Cox lambda, or None when no transform.
        mean_, std_: mean and population std of the (transformed) benign costs.
        cost_threshold_: the threshold in original cost units: ``predict(c) == (c < cost_threshold_)``
            (paper Table 3).
        classes_: ``array([0, 1])``.
        n_features_in_: 1.

    A cost of 0 with ``shift_ == 0`` (only possible for non-integer costs, all positive in
    training, or an explicit ``shift=0``) is mapped to the Box-Cox limit at 0+: ``-1/lambda_``,
    or ``-inf`` (z = -inf, ``decision_function`` = +inf) when ``lambda_ <= 0``.

    References:
        Zhao et al., "Attack as Defense: Characterizing Adversarial Examples using Robustness",
        ISSTA 2021, Section 4.2 (Z-score detection) and 5.3 (h = -1.281552); Box & Cox, "An
        analysis of transformations", JRSS B 1964.

    Notes:
        How this differs from the authors' code (persistz/attack-as-defense):
        - Their Box-Cox branch fits lambda but takes the mean and std of the *untransformed*
          costs and inverse-transforms that threshold; the benign costs are never transformed.
          Here mean and std are computed in the transformed space, as the paper describes.
        - Their attempt to replace zero costs by 0.01 has no effect on integer arrays, so a zero
          cost makes ``boxcox`` fail. Here costs are floats and shifted (documented rule above).
        - Fitting uses only the costs passed to ``fit`` (benign training inputs); keep them
          disjoint from the evaluation inputs (the authors' PyTorch fork scored its K-NN on its training data).
        - Like theirs: population std, strict ``z < h``, ``scipy.stats.normaltest`` at 0.05.
    """

    pvalue_: float
    boxcox_: bool
    shift_: float
    lambda_: float | None
    mean_: float
    std_: float
    cost_threshold_: float
    classes_: np.ndarray
    n_features_in_: int

    def __init__(
        self,
        *,
        threshold: float = PAPER_Z_THRESHOLD,
        alpha: float = 0.05,
        transform: Transform = "auto",
        shift: float | Literal["auto"] = "auto",
    ) -> None:
        self.threshold = threshold
        self.alpha = alpha
        self.transform = transform
        self.shift = shift

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # fitted on benign costs only; y is optional
        return tags

    def _check_params(self) -> None:
        if not (_is_real(self.threshold) and math.isfinite(self.threshold)):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")
        if not (_is_real(self.alpha) and 0 < self.alpha < 1):
            raise ValueError(f"alpha must be a number in (0, 1), got {self.alpha!r}")
        if self.transform not in _TRANSFORMS:
            raise ValueError(f"transform must be one of {_TRANSFORMS}, got {self.transform!r}")
        if self.shift != "auto" and not (
            _is_real(self.shift) and math.isfinite(self.shift) and self.shift >= 0
        ):
            raise ValueError(f"shift must be 'auto' or a finite number >= 0, got {self.shift!r}")

    def fit(self, X: Any, y: Any = None) -> ZScoreDetector:
        """Fit the benign cost distribution.

        Args:
            X: benign attack costs, shape (n,) or (n, 1).
            y: optional labels (0 benign, 1 adversarial); when given, only the rows with
                ``y == 0`` are used, so the detector can be fitted on a mixed set (e.g. inside
                ``GridSearchCV``).

        Returns:
            self.

        Raises:
            ValueError: bad parameters, bad costs (NaN, negative, wrong shape), too few or
                constant benign costs, or a zero cost with ``shift=0`` and Box-Cox.
        """
        self._check_params()
        costs = _benign_rows(_check_cost_array(X, name="X", max_columns=1), y)[:, 0]
        n = costs.shape[0]
        if self.transform == "auto" and n < _MIN_SAMPLES_NORMALTEST:
            raise ValueError(
                f"the normality test needs at least {_MIN_SAMPLES_NORMALTEST} benign costs, got "
                f"{n}; pass more benign costs or set transform='box-cox' or 'none'"
            )
        if n < 2 or np.all(costs == costs[0]):
            raise ValueError(
                f"benign costs must take at least two distinct values to have a spread, got "
                f"{n} cost(s) all equal to {float(costs[0])!r}; check the cost attack (cap too low?)"
            )

        self.pvalue_ = (
            float(stats.normaltest(costs).pvalue) if n >= _MIN_SAMPLES_NORMALTEST else math.nan
        )
        if self.transform == "auto":
            self.boxcox_ = bool(self.pvalue_ < self.alpha)
        else:
            self.boxcox_ = self.transform == "box-cox"

        if self.boxcox_:
            shift = _auto_shift(costs) if self.shift == "auto" else float(self.shift)
            shifted = costs + shift
            if np.any(shifted <= 0):
                raise ValueError(
                    f"Box-Cox needs positive values but shift={shift!r} leaves a benign cost of "
                    f"{costs[shifted <= 0][0]!r} at <= 0; set shift='auto' or shift > 0"
                )
            transformed, lmbda = stats.boxcox(shifted)
            self.shift_ = shift
            self.lambda_ = float(lmbda)
        else:
            transformed = costs
            self.shift_ = 0.0
            self.lambda_ = None

        self.mean_ = float(np.mean(transformed))
        self.std_ = float(np.std(transformed))
        if not self.std_ > 0:
            raise ValueError(
                "the transformed benign costs have zero spread; set transform='none' or check "
                "the costs"
            )
        cut = self.mean_ + self.threshold * self.std_
        if self.lambda_ is None:
            self.cost_threshold_ = float(cut)
        else:
            self.cost_threshold_ = _inv_boxcox(cut, self.lambda_) - self.shift_
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = 1
        return self

    FITTED_STATE: tuple[str, ...] = (
        "pvalue_",
        "boxcox_",
        "shift_",
        "lambda_",
        "mean_",
        "std_",
        "cost_threshold_",
    )
    """The learned attributes, all plain numbers: what :meth:`to_state` saves."""

    def to_state(self) -> dict[str, Any]:
        """Parameters and learned numbers as JSON values: what :meth:`from_state` rebuilds from."""
        check_is_fitted(self, "mean_")
        return {
            "params": self.get_params(),
            **{key: getattr(self, key) for key in self.FITTED_STATE},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ZScoreDetector:
        """The fitted detector :meth:`to_state` described."""
        detector = cls(**state["params"])
        for key in cls.FITTED_STATE:
            setattr(detector, key, state[key])
        detector.classes_, detector.n_features_in_ = np.array([0, 1]), 1
        return detector

    def _transform(self, costs: np.ndarray) -> np.ndarray:
        if self.lambda_ is None:
            return costs
        return _boxcox(costs + self.shift_, self.lambda_)

    def z_score(self, X: Any) -> np.ndarray:
        """The z-score of each cost w.r.t. the benign distribution, shape (n,).

        Args:
            X: attack costs, shape (n,) or (n, 1).
        """
        check_is_fitted(self)
        costs = _check_cost_array(X, name="X", max_columns=1)[:, 0]
        return (self._transform(costs) - self.mean_) / self.std_

    def decision_function(self, X: Any) -> np.ndarray:
        """Adversarial score ``-z``, shape (n,): higher = cheaper to attack = more adversarial.

        ``predict(X) == (decision_function(X) > -threshold)``.

        Args:
            X: attack costs, shape (n,) or (n, 1).
        """
        return -self.z_score(X)

    def predict(self, X: Any) -> np.ndarray:
        """1 (adversarial) where ``z < threshold``, else 0 (benign), shape (n,).

        Args:
            X: attack costs, shape (n,) or (n, 1).
        """
        return (self.z_score(X) < self.threshold).astype(np.int64)
