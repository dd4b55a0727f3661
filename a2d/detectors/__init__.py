"""Detectors on attack costs: the user-facing :class:`AttackAsDefense` and its estimators.

- :class:`AttackAsDefense`: a model, its attacks_d and a fitted detector in one object; runs the
  attacks (``fit`` / ``score`` / ``predict`` / ``calibrate``) or takes precomputed costs
  (``fit_costs`` / ``score_costs`` / ``predict_costs`` / ``calibrate_costs``); save / load.

The estimators below are scikit-learn estimators on costs (they do not run attacks).

Labels are 0 = benign, 1 = adversarial; ``decision_function`` is higher for more adversarial
inputs, so it can be passed to ``sklearn.metrics.roc_auc_score`` directly.

- :class:`ZScoreDetector`: fitted on benign costs only; flags costs whose (Box-Cox) z-score is
  below ``h`` (paper Section 4.2).
- :class:`ZScoreEnsemble`: one Z-score detector per attack_d, benign if at least k say benign.
- :class:`KNNCostDetector`: strict-majority K-NN vote on one cost or a cost vector (Section 4.1);
  :func:`end_knn_detector` builds the END K-NN on the cost vector of all attacks_d.
"""

from a2d.costs.suite import AttackCosts
from a2d.detectors.attack_as_defense import AttackAsDefense, Detection
from a2d.detectors.ensemble import ZScoreEnsemble, end_knn_detector
from a2d.detectors.knn import KNNCostDetector
from a2d.detectors.zscore import PAPER_Z_THRESHOLD, ZScoreDetector

__all__ = [
    "PAPER_Z_THRESHOLD",
    "AttackAsDefense",
    "AttackCosts",
    "Detection",
    "KNNCostDetector",
    "ZScoreDetector",
    "ZScoreEnsemble",
    "end_knn_detector",
]
