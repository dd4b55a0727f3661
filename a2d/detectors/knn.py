"""K-NN detector on attack costs: a strict-majority vote of the K nearest labelled cost vectors."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from a2d.detectors._validation import _check_cost_array, _check_labels

_BLOCK_ENTRIES = 1 << 22  # distance-matrix entries per block (32 MiB of float64)


class KNNCostDetector(ClassifierMixin, BaseEstimator):
    """K-NN detector on one attack cost (n,) or a cost vector per input (n, d).

    An input is adversarial (1) only if *strictly* more than half of its K nearest training
    cost vectors are adversarial; a K/2 : K/2 vote is benign (0). The vote is uniform.

    Distances are Euclidean, computed exactly as squared distances (``scipy`` ``cdist``
    ``sqeuclidean``: exact for integer costs), so equal distances are real ties. Costs are not
    rescaled: for the END vector (costs with caps 500, 500, 2000, 5000) the attacks with larger
    costs weigh more, as in the authors' code; put a scaler in a ``Pipeline`` to change that.

    Tie rule (deterministic, independent of the order of the training rows): neighbours are
    ranked by (distance, label with benign first, cost vector in lexicographic order), and the
    first K are taken. So when several training rows tie at the K-th distance, benign ones are
    taken before adversarial ones, consistent with "adversarial only on a strict majority";
    rows equal in all three keys are interchangeable for the vote. Shuffling the training rows
    never changes a prediction.

    Args:
        n_neighbors: K, the number of neighbours that vote (default 100, as in the paper).

    Input contract: costs >= 0 and finite, shape (n,) or (n, d); labels 0 = benign,
    1 = adversarial, both present in the training set.

    Attributes:
        X_fit_: the training cost vectors, (n, d), in the canonical (label, cost vector) order.
        y_fit_: their labels, in the same order.
        classes_: ``array([0, 1])``.
        n_features_in_: d.

    References:
        Zhao et al., "Attack as Defense: Characterizing Adversarial Examples using Robustness",
        ISSTA 2021, Section 4.1 (|A_x| > |B_x|) and 5.3 (K = 100; END = vector of the costs of
        BIM_d, BIM2_d, JSMA_d, DBA_d).

    Notes:
        How this differs from the authors' code: they use ``KNeighborsClassifier(n_neighbors=100)``,
        which also returns benign on a 50/50 vote, but with integer costs many training rows
        tie in distance and sklearn's choice among them depends on the row order; here ties
        are broken by the rule above. On tie-free data both give the same predictions. The
        authors' PyTorch fork also scored the detector on its own training data; fit this
        detector on data disjoint from the evaluation set.
    """

    X_fit_: np.ndarray
    y_fit_: np.ndarray
    classes_: np.ndarray
    n_features_in_: int

    def __init__(self, *, n_neighbors: int = 100) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: Any, y: Any) -> KNNCostDetector:
        """Store the labelled training costs in their canonical order.

        Args:
            X: training costs, shape (n,) or (n, d).
            y: labels, shape (n,): 0 benign, 1 adversarial.

        Returns:
            self.

        Raises:
            ValueError: K not a positive integer or larger than the training set, bad costs
                (NaN, negative, wrong shape), or labels not 0/1 or from one class only.
        """
        k = self.n_neighbors
        if not isinstance(k, numbers.Integral) or isinstance(k, bool | np.bool_) or k < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {k!r}")
        costs = _check_cost_array(X, name="X")
        labels = _check_labels(y, costs.shape[0])
        if np.unique(labels).size != 2:
            raise ValueError(
                "y must contain both benign (0) and adversarial (1) rows, got only "
                f"{int(labels[0])}; the K-NN detector needs both"
            )
        if k > costs.shape[0]:
            raise ValueError(
                f"n_neighbors={k} exceeds the {costs.shape[0]} training rows; lower "
                "n_neighbors or add training costs"
            )
        # np.lexsort: the last key is the primary one -> (label, column 0, column 1, ...).
        order = np.lexsort((*costs.T[::-1], labels))
        self.X_fit_ = costs[order]
        self.y_fit_ = labels[order]
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = costs.shape[1]
        return self

    def to_state(self) -> dict[str, Any]:
        """Parameters and training rows as JSON values: what :meth:`from_state` rebuilds from."""
        check_is_fitted(self, "X_fit_")
        return {
            "params": self.get_params(),
            "X_fit_": self.X_fit_.tolist(),
            "y_fit_": self.y_fit_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KNNCostDetector:
        """The fitted detector :meth:`to_state` described."""
        knn = cls(**state["params"])
        knn.X_fit_ = np.asarray(state["X_fit_"], dtype=np.float64)
        knn.y_fit_ = np.asarray(state["y_fit_"], dtype=np.int64)
        knn.classes_, knn.n_features_in_ = np.array([0, 1]), knn.X_fit_.shape[1]
        return knn

    def adversarial_votes(self, X: Any) -> np.ndarray:
        """Number of adversarial rows among the K nearest neighbours of each input, shape (n,).

        Args:
            X: costs, shape (n,) or (n, d) with the d used in ``fit``.
        """
        check_is_fitted(self)
        costs = _check_cost_array(X, name="X")
        if costs.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {costs.shape[1]} cost column(s) but the detector was fitted on "
                f"{self.n_features_in_}"
            )
        k = self.n_neighbors
        block = max(1, _BLOCK_ENTRIES // self.X_fit_.shape[0])
        votes = np.empty(costs.shape[0], dtype=np.int64)
        for start in range(0, costs.shape[0], block):
            dist = cdist(costs[start : start + block], self.X_fit_, metric="sqeuclidean")
            # A stable sort keeps the canonical (label, cost vector) order among equal distances.
            nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
            votes[start : start + block] = self.y_fit_[nearest].sum(axis=1)
        return votes

    def decision_function(self, X: Any) -> np.ndarray:
        """Fraction of adversarial neighbours, shape (n,): higher = more adversarial.

        ``predict(X) == (decision_function(X) > 0.5)``.

        Args:
            X: costs, shape (n,) or (n, d).
        """
        return self.adversarial_votes(X) / self.n_neighbors

    def predict_proba(self, X: Any) -> np.ndarray:
        """Vote fractions, shape (n, 2): column 0 benign, column 1 adversarial.

        Args:
            X: costs, shape (n,) or (n, d).
        """
        adv = self.decision_function(X)
        return np.stack([1.0 - adv, adv], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """1 (adversarial) if strictly more than K/2 neighbours are adversarial, else 0.

        Args:
            X: costs, shape (n,) or (n, d).
        """
        return (2 * self.adversarial_votes(X) > self.n_neighbors).astype(np.int64)
