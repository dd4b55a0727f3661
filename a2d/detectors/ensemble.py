"""Ensemble detectors over several attacks_d (the paper's END).

- :class:`ZScoreEnsemble`: one Z-score detector per cost column; benign if at least ``k`` of
  the ``n`` detectors say benign.
- :func:`end_knn_detector`: the K-NN END detector, a K-NN on the concatenated cost vector.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from a2d.detectors._validation import _benign_rows, _check_cost_array
from a2d.detectors.knn import KNNCostDetector
from a2d.detectors.zscore import PAPER_Z_THRESHOLD, Transform, ZScoreDetector


class ZScoreEnsemble(ClassifierMixin, BaseEstimator):
    """k-of-n ensemble of Z-score detectors, one per attack_d cost column, fitted on benign costs.

    Column ``j`` gets its own :class:`ZScoreDetector` (own normality test, shift, Box-Cox
    lambda, mean and std) with the shared ``threshold``. An input is benign (0) if at least
    ``k`` of the ``n`` detectors say benign, i.e. ``z_j >= threshold``; otherwise adversarial
    (1). ``k = n`` flags an input that any detector flags (high true-positive rate); ``k = 1``
    flags only what all detectors flag (high true-negative rate).

    Args:
        k: how many detectors must say benign (default 2, the paper's 2 of 4); 1 <= k <= n,
            checked in ``fit``.
        threshold: z-score threshold ``h`` of every member (default -1.281552).
        alpha: normality-test level of every member (default 0.05).
        transform: ``"auto"`` (default), ``"box-cox"`` or ``"none"``, for every member.
        shift: Box-Cox shift rule of every member (default ``"auto"``), see ZScoreDetector.

    Input contract: costs >= 0 and finite, shape (n_inputs, n), one column per attack_d
    (the paper: BIM_d, BIM2_d, JSMA_d, DBA_d).

    ``decision_function`` is minus the k-th largest member z-score: the input is benign iff
    at least k members have ``z_j >= threshold`` iff the k-th largest ``z_j`` is ``>= threshold``,
    so ``predict(X) == (decision_function(X) > -threshold)``, and the score gives an ensemble
    AUROC for a fixed k.

    Attributes:
        detectors_: the fitted member detectors, one per column.
        classes_: ``array([0, 1])``.
        n_features_in_: n, the number of cost columns.

    References:
        Zhao et al., "Attack as Defense: Characterizing Adversarial Examples using Robustness",
        ISSTA 2021, Section 4.2 (ensemble detector) and 5.3 (END, k = 2); Table 7 (k = 1..4).

    Notes:
        The authors' code has no Z-score ensemble (only a comment mentions intersection or
        union); this follows the paper's definition. Each member also fixes their Box-Cox bug
        (see ZScoreDetector).
    """

    detectors_: list[ZScoreDetector]
    classes_: np.ndarray
    n_features_in_: int

    def __init__(
        self,
        *,
        k: int = 2,
        threshold: float = PAPER_Z_THRESHOLD,
        alpha: float = 0.05,
        transform: Transform = "auto",
        shift: float | Literal["auto"] = "auto",
    ) -> None:
        self.k = k
        self.threshold = threshold
        self.alpha = alpha
        self.transform = transform
        self.shift = shift

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # fitted on benign costs only; y is optional
        return tags

    def fit(self, X: Any, y: Any = None) -> ZScoreEnsemble:
        """Fit one Z-score detector per cost column on the benign costs.

        Args:
            X: benign attack costs, shape (n_inputs, n) (a 1-D array is one column).
            y: optional labels (0 benign, 1 adversarial); when given, only ``y == 0`` rows are
                used.

        Returns:
            self.

        Raises:
            ValueError: ``k`` not an integer in [1, n], bad costs, or a member's fit failed
                (the message names the column).
        """
        costs = _benign_rows(_check_cost_array(X, name="X"), y)
        n = costs.shape[1]
        k = self.k
        if not isinstance(k, numbers.Integral) or isinstance(k, bool | np.bool_):
            raise ValueError(f"k must be an integer, got {k!r}")
        if not 1 <= k <= n:
            raise ValueError(
                f"k must be between 1 and the number of detectors (cost columns) n={n}, got k={k}"
            )
        detectors = []
        for j in range(n):
            member = self._member()
            try:
                member.fit(costs[:, j])
            except ValueError as err:
                raise ValueError(f"cost column {j}: {err}") from err
            detectors.append(member)
        self.detectors_ = detectors
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = n
        return self

    def _member(self) -> ZScoreDetector:
        return ZScoreDetector(
            threshold=self.threshold, alpha=self.alpha, transform=self.transform, shift=self.shift
        )

    def to_state(self) -> dict[str, Any]:
        """Parameters and each member's learned numbers (members share the ensemble's params)."""
        check_is_fitted(self)
        members = [member.to_state() for member in self.detectors_]
        return {
            "params": self.get_params(),
            "members": [{k: v for k, v in m.items() if k != "params"} for m in members],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ZScoreEnsemble:
        """The fitted ensemble :meth:`to_state` described."""
        ensemble = cls(**state["params"])
        params = ensemble._member().get_params()
        ensemble.detectors_ = [
            ZScoreDetector.from_state({"params": params, **saved}) for saved in state["members"]
        ]
        ensemble.classes_, ensemble.n_features_in_ = np.array([0, 1]), len(ensemble.detectors_)
        return ensemble

    def _costs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        costs = _check_cost_array(X, name="X")
        if costs.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {costs.shape[1]} cost column(s) but the ensemble was fitted on "
                f"{self.n_features_in_}"
            )
        return costs

    def z_scores(self, X: Any) -> np.ndarray:
        """Each member's z-score, shape (n_inputs, n).

        Args:
            X: attack costs, shape (n_inputs, n).
        """
        costs = self._costs(X)
        return np.stack([det.z_score(costs[:, j]) for j, det in enumerate(self.detectors_)], axis=1)

    def predict_members(self, X: Any) -> np.ndarray:
        """Each member's prediction (1 adversarial, 0 benign), shape (n_inputs, n).

        Args:
            X: attack costs, shape (n_inputs, n).
        """
        return (self.z_scores(X) < self.threshold).astype(np.int64)

    def decision_function(self, X: Any) -> np.ndarray:
        """Minus the k-th largest member z-score, shape (n_inputs,): higher = more adversarial.

        Args:
            X: attack costs, shape (n_inputs, n).
        """
        z = np.sort(self.z_scores(X), axis=1)  # ascending: the k-th largest is at n - k
        return -z[:, self.n_features_in_ - self.k]

    def predict(self, X: Any) -> np.ndarray:
        """0 (benign) if at least k members say benign, else 1 (adversarial), shape (n_inputs,).

        Args:
            X: attack costs, shape (n_inputs, n).
        """
        benign_votes = (1 - self.predict_members(X)).sum(axis=1)
        return (benign_votes < self.k).astype(np.int64)


def end_knn_detector(*, n_neighbors: int = 100) -> KNNCostDetector:
    """The paper's K-NN END detector: a :class:`KNNCostDetector` on the cost vector of all attacks_d.

    Fit it on an (n_inputs, n) array whose columns are the costs of each attack_d (the paper:
    BIM_d, BIM2_d, JSMA_d, DBA_d) of the same inputs; the adversarial training rows should be
    split evenly over the crafting attacks (see the protocol). Same vote and tie rule as
    :class:`KNNCostDetector`; it is that class, built with the paper's K.

    Args:
        n_neighbors: K (default 100).

    References:
        Zhao et al., "Attack as Defense: Characterizing Adversarial Examples using Robustness",
        ISSTA 2021, Section 4.1 (ensemble detector) and Fig. 6 (END).

    Notes:
        The authors' code has no END K-NN; their K-NN uses one cost.
    """
    return KNNCostDetector(n_neighbors=n_neighbors)
