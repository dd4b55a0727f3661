"""The user-facing A2D detector: a model, its cost attacks and a fitted cost detector in one object.

:class:`AttackAsDefense` attacks every input with the chosen attacks_d (BIM_d, BIM2_d, JSMA_d,
DBA_d), records the cost of each, and flags inputs that are cheap to attack. It works on raw
inputs (``fit``, ``score``, ``predict``, ``calibrate``) and on costs computed earlier
(``fit_costs``, ``score_costs``, ``predict_costs``, ``calibrate_costs``): the ``detect`` stage
uses the second set on the cost tables of the ``costs`` stage, so nothing is attacked twice.

Concerns live apart: the attacks run through :class:`a2d.costs.suite.CostSuite` (the same path as
the ``costs`` stage), their hyperparameters come from :mod:`a2d.costs.settings`, each estimator
saves its own fitted state (``to_state`` / ``from_state``), and this class only checks its
arguments, scores, calibrates and reads / writes the saved document.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted
from torch import nn

from a2d.costs import COST_ATTACKS, CostAttack, make_cost_attack
from a2d.costs.settings import paper_cost_attack_specs
from a2d.costs.suite import (
    AttackCosts,
    CostSuite,
    check_bounds,
    check_inputs,
    check_logits,
    wrap_model,
)
from a2d.detectors._validation import _check_cost_array, _is_real
from a2d.detectors.ensemble import ZScoreEnsemble
from a2d.detectors.knn import KNNCostDetector
from a2d.detectors.zscore import PAPER_Z_THRESHOLD
from a2d.errors import ConfigError, DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.utils.io import write_text_atomic

DetectorName = Literal["zscore", "knn"]
AttackSpec = Sequence[str] | Mapping[str, Mapping[str, Any]]
SAVE_FORMAT = "a2d.AttackAsDefense"
SAVE_VERSION = 1
SAVED_ESTIMATORS: dict[str, type[ZScoreEnsemble] | type[KNNCostDetector]] = {
    "zscore": ZScoreEnsemble,
    "knn": KNNCostDetector,
}
"""The detectors ``save`` can write: each estimator saves and restores its own fitted state."""


@dataclass(frozen=True)
class Detection:
    """What :meth:`AttackAsDefense.predict` returns: flags, scores and the costs behind them.

    Attributes:
        flags: (N,) bool, True = adversarial (``scores > threshold``).
        scores: (N,) float, higher = more adversarial.
        threshold: the score threshold the flags used.
        costs: the per-attack costs, queries, success flags and model labels of the inputs.
    """

    flags: np.ndarray
    scores: np.ndarray
    threshold: float
    costs: AttackCosts

    def __len__(self) -> int:
        return int(self.flags.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per input: flag, score, label, then cost / queries / success per attack_d."""
        frame = pd.DataFrame({"flag": self.flags, "score": self.scores, "label": self.costs.label})
        for j, name in enumerate(self.costs.attacks):
            frame[f"cost_{name}"] = self.costs.cost[:, j]
            frame[f"queries_{name}"] = self.costs.queries[:, j]
            frame[f"success_{name}"] = self.costs.success[:, j]
        return frame


class AttackAsDefense(BaseEstimator):
    """Detect adversarial inputs by how cheaply the chosen attacks_d flip the model's prediction.

    Args:
        model: any ``nn.Module`` mapping (N, C, H, W) inputs to (N, classes) logits, or a
            :class:`~a2d.models.ClassifierWrapper`. ``None`` for an object that only works on
            precomputed costs (the ``*_costs`` methods).
        attacks: the attacks_d, as names (``"bim"``, ``"bim2"``, ``"jsma"``, ``"dba"``: see
            :data:`a2d.costs.COST_ATTACKS`) or a mapping name -> hyperparameters for
            :func:`a2d.costs.make_cost_attack`. Default ``("bim",)`` (BIM_d, the paper's best
            single attack_d); the paper's END uses all four.
        dataset: whose configured attack_d settings to use (``"mnist"``, ``"cifar10"``, ...:
            ``costs.params`` in params.yaml, the paper's values). Required when ``attacks``
            are names, because the paper tunes them per dataset (BIM_d epsilon 0.3 on MNIST,
            0.03 on CIFAR-10) and a2d never falls back to one dataset's values; with a
            mapping, its hyperparameters override the dataset's (``None``: the mapping alone).
        detector: ``"zscore"`` (default; fitted on benign inputs only: a k-of-n ensemble of
            Z-score detectors, one per attack_d), ``"knn"`` (fitted on benign and adversarial
            inputs: K-NN on the cost vector), or an unfitted scikit-learn classifier (cloned
            and fitted on the cost vectors with labels 0 benign / 1 adversarial).
        bounds: the input box ``(lo, hi)`` the model expects, e.g. ``(0, 1)``. Required with a
            plain ``nn.Module``: declared, never guessed, because the attacks clip to it and
            their step sizes are fractions of ``hi - lo``. A ``ClassifierWrapper`` brings its own.
        mean, std: per-channel normalisation the model expects, applied inside the wrapper
            (``None``, the default, = the model takes inputs in ``bounds`` as they are).
        n_neighbors: K of the K-NN detector (default 100, as in the paper).
        threshold: the z-score threshold ``h`` of the Z-score detectors (default -1.281552:
            10% benign false positives under normality).
        k: Z-score ensemble: an input is benign if at least ``k`` of the ``n`` detectors say
            benign. ``None`` (default) = ``ceil(n / 2)``, the paper's 2 of 4 (1 for one attack_d).
        fpr: if set, ``fit`` calibrates the flag threshold on the benign training costs so that
            at most this fraction of them is flagged (see :meth:`calibrate_costs`); ``None``
            (default) keeps the detector's own rule (``z < h``, or a strict K-NN majority).
        batch_size: examples each attack keeps active at once (default: all inputs).
        fixed_rows: call the model with exactly this many rows every time, so costs are
            byte-identical however the inputs are split (sharded runs); default: as they come.

    Input contract: inputs are finite (N, C, H, W) float tensors inside ``bounds`` (NaN or inf
    raise :class:`~a2d.errors.DataError`); costs are arrays of shape (N, A) with one column per
    attack_d in the order of ``attacks`` (or (N,) for one). The model is attacked in eval mode
    whatever mode it is handed in, and is handed back unchanged: same mode in every submodule,
    same parameters and buffers.

    Scores and ties: ``score`` is higher for more adversarial inputs (Z-score: minus the k-th
    largest member z-score, a monotone function of cheapness; K-NN: the fraction of adversarial
    neighbours; other classifiers: ``predict_proba[:, 1]`` or ``decision_function``). An input
    is flagged iff ``score > threshold_`` (strict), so a score equal to the threshold is benign:
    the paper's ``z < h`` and ``|A_x| > |B_x|`` rules, and calibration never exceeds its target
    false-positive rate on the calibration set even when integer costs tie.

    Attributes:
        model_: the wrapped model (``None`` without a model).
        attacks_: name -> the built :class:`~a2d.costs.CostAttack`, in column order.
        detector_: the fitted cost detector.
        threshold_: the score threshold of the flags.
        fpr_: the false-positive rate on the calibration set (``None`` until calibrated).
        k_: the resolved ``k`` (Z-score detector only, else ``None``).

    References:
        Zhao et al., "Attack as Defense: Characterizing Adversarial Examples using Robustness",
        ISSTA 2021, Sections 4.1 (K-NN), 4.2 (Z-score), 5.3 (K = 100, h = -1.281552, k = 2).

    Notes:
        ``save`` stores the configuration and the fitted detector, not the model: pass the same
        model to ``load`` (a hash of its weights is checked, with a warning on mismatch).

    Example:
        >>> detector = AttackAsDefense(net, attacks=["bim", "jsma"], bounds=(0, 1))  # doctest: +SKIP
        >>> detector.fit(benign_train).calibrate(benign_holdout, fpr=0.05)  # doctest: +SKIP
        >>> result = detector.predict(x)  # result.flags, result.costs.queries  # doctest: +SKIP
    """

    model_: ClassifierWrapper | None
    attacks_: dict[str, CostAttack]
    detector_: Any
    threshold_: float
    fpr_: float | None
    k_: int | None

    def __init__(
        self,
        model: nn.Module | None = None,
        *,
        attacks: AttackSpec = ("bim",),
        dataset: str | None = None,
        detector: DetectorName | BaseEstimator = "zscore",
        bounds: tuple[float, float] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        n_neighbors: int = 100,
        threshold: float = PAPER_Z_THRESHOLD,
        k: int | None = None,
        fpr: float | None = None,
        batch_size: int | None = None,
        fixed_rows: int | None = None,
    ) -> None:
        self.model = model
        self.attacks = attacks
        self.dataset = dataset
        self.detector = detector
        self.bounds = bounds
        self.mean = mean
        self.std = std
        self.n_neighbors = n_neighbors
        self.threshold = threshold
        self.k = k
        self.fpr = fpr
        self.batch_size = batch_size
        self.fixed_rows = fixed_rows

    # ----------------------------------------------------------------------------------------
    # configuration (built from the constructor arguments; validated here, not in __init__)

    def _attack_names(self) -> list[str]:
        """The attack_d names in column order, checked (no settings resolved: cheap)."""
        if isinstance(self.attacks, str):
            raise ValueError(
                f"attacks must be a list of names or a mapping name -> hyperparameters, got the "
                f"string {self.attacks!r}; write attacks=[{self.attacks!r}]"
            )
        names = [str(name) for name in self.attacks]
        if not names:
            raise ValueError("attacks is empty; name at least one attack_d, e.g. attacks=['bim']")
        if len(set(names)) != len(names):
            raise ValueError(f"attacks lists a name twice: {names}")
        unknown = sorted(set(names) - set(COST_ATTACKS))
        if unknown:
            raise ConfigError(
                f"unknown cost attack {unknown[0]!r}; choose one of {', '.join(sorted(COST_ATTACKS))}"
            )
        return names

    def _attack_specs(self) -> dict[str, dict[str, Any]]:
        """attack_d name -> hyperparameters: the dataset's configured values, then the user's."""
        names = self._attack_names()
        given = (
            {str(name): dict(hp or {}) for name, hp in self.attacks.items()}
            if isinstance(self.attacks, Mapping)
            else {name: {} for name in names}
        )
        if self.dataset is None:
            if not isinstance(self.attacks, Mapping):
                raise ValueError(
                    f"attacks {names} are names without settings: pass dataset='mnist' or "
                    "'cifar10' (the paper's per-dataset values from params.yaml), or a mapping "
                    "name -> hyperparameters, e.g. attacks={'bim': {'epsilon': 0.03}}"
                )
            return given
        configured = paper_cost_attack_specs(self.dataset, names)
        return {name: {**configured[name], **hp} for name, hp in given.items()}

    def _declared_bounds(self) -> tuple[float, float] | None:
        if isinstance(self.model, ClassifierWrapper):
            return wrap_model(self.model, bounds=self.bounds).bounds
        return None if self.bounds is None else check_bounds(self.bounds)

    def _suite(self, specs: dict[str, dict[str, Any]] | None = None) -> CostSuite:
        """The model (wrapped once, bounds declared) and its attacks_d: the one cost path."""
        if self.model is None:
            raise ValueError(
                "this AttackAsDefense has no model; pass model=... to run attacks, or use the "
                "*_costs methods on precomputed costs"
            )
        model = wrap_model(self.model, bounds=self.bounds, mean=self.mean, std=self.std)
        specs = self._attack_specs() if specs is None else specs
        return CostSuite(model, specs, batch_size=self.batch_size, fixed_rows=self.fixed_rows)

    def _resolved_k(self, n: int) -> int:
        if self.k is None:
            return math.ceil(n / 2)
        if (
            not isinstance(self.k, numbers.Integral)
            or isinstance(self.k, bool)
            or not 1 <= self.k <= n
        ):
            raise ValueError(
                f"k must be an integer between 1 and the number of attacks_d ({n}), got {self.k!r}"
            )
        return int(self.k)

    def _new_detector(self, n: int) -> Any:
        if self.detector == "zscore":
            return ZScoreEnsemble(k=self._resolved_k(n), threshold=self.threshold)
        if self.detector == "knn":
            return KNNCostDetector(n_neighbors=self.n_neighbors)
        if isinstance(self.detector, str):
            raise ValueError(
                f"detector must be 'zscore', 'knn' or a scikit-learn classifier, got {self.detector!r}"
            )
        if not (hasattr(self.detector, "fit") and hasattr(self.detector, "predict")):
            raise ValueError(
                "detector must be 'zscore', 'knn' or an unfitted scikit-learn classifier (with "
                f"fit and predict), got {type(self.detector).__name__}"
            )
        return clone(self.detector)

    def _check_fpr(self, fpr: Any) -> float:
        if not (
            isinstance(fpr, numbers.Real) and not isinstance(fpr, bool) and 0 <= float(fpr) < 1
        ):
            raise ValueError(f"fpr must be a number in [0, 1), e.g. fpr=0.05, got {fpr!r}")
        return float(fpr)

    # ----------------------------------------------------------------------------------------
    # costs

    def attack_costs(
        self, inputs: torch.Tensor, *, ids: torch.Tensor | Sequence[int] | None = None
    ) -> AttackCosts:
        """Run every attack_d on ``inputs`` and return their costs (no detector needed).

        The model runs in eval mode (no dropout, BatchNorm on its running statistics), whatever
        mode it was handed in: the costs are those of the deployed model and do not depend on
        the mode. Afterwards every submodule's mode is as before, and no parameter or buffer is
        changed.

        Args:
            inputs: (N, C, H, W) float tensor inside ``bounds`` (moved to the model's device).
            ids: (N,) non-negative example ids that seed random attacks (DBA_d) per example;
                default ``arange(N)``. Pass stable ids to get the same costs in any batch.

        Raises:
            ValueError: no model, bad bounds, or inputs outside the declared bounds.
            DataError: inputs contain NaN or inf; the model fails on them, or returns NaN or
                inf logits, or fewer than two (every attack would fail: a wrong "benign").
        """
        specs = getattr(self, "attack_specs_", None)  # resolved once when fitted or loaded
        suite = self._suite(specs)
        x = check_inputs(inputs, suite.bounds)
        check_logits(suite.model, x)
        return suite.costs(x, ids=ids)

    def _cost_matrix(self, costs: Any, name: str) -> np.ndarray:
        n = len(self._attack_names())
        if isinstance(costs, AttackCosts):
            if costs.attacks != tuple(self._attack_names()):
                raise ValueError(
                    f"{name} hold the attacks {list(costs.attacks)} but this detector uses "
                    f"{list(self._attack_names())} (same order)"
                )
            costs = costs.cost
        matrix = _check_cost_array(costs, name=name)
        if matrix.shape[1] != n:
            raise ValueError(
                f"{name} has {matrix.shape[1]} column(s) but the detector uses {n} attack(s)_d "
                f"{list(self._attack_names())}; pass one column per attack, in that order"
            )
        return matrix

    # ----------------------------------------------------------------------------------------
    # fitting

    def fit(self, benign: torch.Tensor, adversarial: torch.Tensor | None = None) -> AttackAsDefense:
        """Attack the training inputs and fit the detector on their costs.

        Args:
            benign: (N, C, H, W) benign training inputs.
            adversarial: (M, C, H, W) adversarial training inputs; required by K-NN and other
                classifiers, must be ``None`` for the Z-score detector (benign-only).

        Returns:
            self.
        """
        self._check_detector_inputs(adversarial is not None)
        benign_costs = self.attack_costs(benign)
        adv_costs = None if adversarial is None else self.attack_costs(adversarial)
        return self.fit_costs(benign_costs, adv_costs)

    def _check_detector_inputs(self, has_adversarial: bool) -> None:
        if self.detector == "zscore" and has_adversarial:
            raise ValueError(
                "the Z-score detector is fitted on benign inputs only; call fit(benign) or use "
                "detector='knn' to learn from adversarial inputs too"
            )
        if self.detector != "zscore" and not has_adversarial:
            raise ValueError(
                f"detector={self.detector!r} needs adversarial training inputs too: call "
                "fit(benign, adversarial), or use detector='zscore' (benign only)"
            )

    def fit_costs(self, benign_costs: Any, adversarial_costs: Any = None) -> AttackAsDefense:
        """Fit the detector on precomputed costs (one column per attack_d, in ``attacks`` order).

        Args:
            benign_costs: (N, A) costs of benign training inputs, or an :class:`AttackCosts`.
            adversarial_costs: (M, A) costs of adversarial training inputs (K-NN and other
                classifiers only).

        Returns:
            self.
        """
        self._check_detector_inputs(adversarial_costs is not None)
        if self.fpr is not None:
            self._check_fpr(self.fpr)
        benign = self._cost_matrix(benign_costs, "benign_costs")
        self._set_cost_path()
        self.detector_ = self._new_detector(benign.shape[1])
        self.k_ = self.detector_.k if self.detector == "zscore" else None
        if adversarial_costs is None:
            self._fit_benign_only(benign)
        else:
            adversarial = self._cost_matrix(adversarial_costs, "adversarial_costs")
            labels = np.r_[np.zeros(len(benign), np.int64), np.ones(len(adversarial), np.int64)]
            self.detector_.fit(np.vstack([benign, adversarial]), labels)
        self.threshold_ = self._default_threshold()
        self.fpr_ = None
        if self.fpr is not None:
            self.calibrate_costs(benign, fpr=self.fpr)
        return self

    def _set_cost_path(self) -> None:
        if self.model is None:
            # costs only: no attack runs, so names need no settings; given ones are still checked
            self.model_ = None
            names_only = self.dataset is None and not isinstance(self.attacks, Mapping)
            self.attack_specs_ = (
                {name: {} for name in self._attack_names()} if names_only else self._attack_specs()
            )
            bounds = self._declared_bounds()
            extra = {} if bounds is None else {"bounds": bounds}
            self.attacks_ = (
                {}
                if names_only
                else {
                    name: make_cost_attack(name, **{**hp, **extra})
                    for name, hp in self.attack_specs_.items()
                }
            )
            return
        self.attack_specs_ = self._attack_specs()
        suite = self._suite(self.attack_specs_)
        self.model_, self.attacks_ = suite.model, suite.attacks

    def _fit_benign_only(self, benign: np.ndarray) -> None:
        """Fit the Z-score ensemble, naming the attack_d whose costs a member rejected."""
        try:
            self.detector_.fit(benign)
        except ValueError as err:
            names = list(self._attack_names())
            for j, name in enumerate(names):
                prefix = f"cost column {j}: "
                if str(err).startswith(prefix):
                    raise ValueError(f"attack_d {name!r}: {str(err)[len(prefix) :]}") from err
            raise

    def _default_threshold(self) -> float:
        if self.detector == "zscore":
            return -float(self.threshold)  # score = -z: z < h  <=>  score > -h
        if self.detector == "knn" or hasattr(self.detector_, "predict_proba"):
            return 0.5  # strict majority / most probable class
        return 0.0  # decision_function sign, as the classifier's own predict

    # ----------------------------------------------------------------------------------------
    # scoring, flags, calibration

    def score_costs(self, costs: Any) -> np.ndarray:
        """Adversarial scores of precomputed costs, shape (N,): higher = more adversarial."""
        check_is_fitted(self, "detector_")
        matrix = self._cost_matrix(costs, "costs")
        if self.detector in ("zscore", "knn") or not hasattr(self.detector_, "predict_proba"):
            if not hasattr(self.detector_, "decision_function"):
                raise ValueError(
                    f"{type(self.detector_).__name__} has neither predict_proba nor "
                    "decision_function, so it gives no score"
                )
            return np.asarray(self.detector_.decision_function(matrix), dtype=np.float64)
        return np.asarray(self.detector_.predict_proba(matrix)[:, 1], dtype=np.float64)

    def predict_costs(self, costs: Any) -> np.ndarray:
        """Flags of precomputed costs, shape (N,) bool: True = adversarial (``score > threshold_``)."""
        return self.score_costs(costs) > self.threshold_

    def calibrate_costs(self, benign_costs: Any, *, fpr: float) -> AttackAsDefense:
        """Set ``threshold_`` so that at most ``fpr`` of these benign costs are flagged.

        The threshold is the (m+1)-th largest benign score, m = floor(fpr * N): strictly higher
        scores are flagged, so ties at the threshold stay benign and the false-positive rate on
        this set (``fpr_``) is at most ``fpr``, lower when integer costs tie. Calibrate on
        benign inputs the detector was not fitted on: a K-NN votes for its own training rows.

        Args:
            benign_costs: (N, A) costs of benign inputs.
            fpr: the target false-positive rate, in [0, 1).

        Returns:
            self.
        """
        fpr = self._check_fpr(fpr)
        scores = np.sort(self.score_costs(benign_costs))[::-1]
        allowed = math.floor(fpr * len(scores) + 1e-9)
        self.threshold_ = float(scores[allowed]) if allowed < len(scores) else -math.inf
        self.fpr_ = float(np.mean(scores > self.threshold_))
        return self

    def score(self, inputs: torch.Tensor) -> np.ndarray:
        """Attack ``inputs`` and return their adversarial scores, shape (N,)."""
        check_is_fitted(self, "detector_")
        return self.score_costs(self.attack_costs(inputs))

    def predict(
        self, inputs: torch.Tensor, *, ids: torch.Tensor | Sequence[int] | None = None
    ) -> Detection:
        """Attack ``inputs`` and flag the cheap ones; returns flags, scores, costs and queries.

        Args:
            inputs: (N, C, H, W) float tensor inside ``bounds``.
            ids: example ids for random attacks (see :meth:`attack_costs`).
        """
        check_is_fitted(self, "detector_")
        costs = self.attack_costs(inputs, ids=ids)
        scores = self.score_costs(costs)
        return Detection(
            flags=scores > self.threshold_,
            scores=scores,
            threshold=self.threshold_,
            costs=costs,
        )

    def calibrate(self, benign: torch.Tensor, *, fpr: float) -> AttackAsDefense:
        """Attack held-out benign inputs and calibrate the flags to ``fpr`` (see :meth:`calibrate_costs`)."""
        check_is_fitted(self, "detector_")
        return self.calibrate_costs(self.attack_costs(benign), fpr=fpr)

    @property
    def cost_thresholds_(self) -> dict[str, float]:
        """Z-score detector: each attack_d's threshold in cost units (paper Table 3), at ``h``."""
        check_is_fitted(self, "detector_")
        if self.detector != "zscore":
            raise ValueError("cost thresholds exist for detector='zscore' only")
        return {
            name: member.cost_threshold_
            for name, member in zip(self._attack_names(), self.detector_.detectors_, strict=True)
        }

    # ----------------------------------------------------------------------------------------
    # persistence

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the configuration and the fitted detector as JSON (atomically); not the model."""
        check_is_fitted(self, "detector_")
        if not isinstance(self.detector, str) or self.detector not in SAVED_ESTIMATORS:
            raise ValueError(
                "save supports detector='zscore' or 'knn'; store a custom classifier with joblib"
            )
        document = {
            "format": SAVE_FORMAT,
            "version": SAVE_VERSION,
            "params": self._saved_params(),
            "fitted": {
                "threshold_": self.threshold_,
                "fpr_": self.fpr_,
                "k_": self.k_,
                "detector_": self.detector_.to_state(),
            },
            "model_sha256": None if self.model_ is None else _weights_hash(self.model_.net),
        }
        write_text_atomic(path, json.dumps(document, indent=1) + "\n")
        return Path(path)

    def _saved_params(self) -> dict[str, Any]:
        bounds = self._declared_bounds()
        mean, std = self.mean, self.std
        if isinstance(self.model_, ClassifierWrapper) and self.model_.normalized:
            # the wrapper's own normalisation: loading with the bare network must restore it
            mean, std = self.model_.mean.flatten().tolist(), self.model_.std.flatten().tolist()
        return {
            "attacks": self.attack_specs_,
            "dataset": self.dataset,
            "detector": self.detector,
            "bounds": None if bounds is None else list(bounds),
            "mean": None if mean is None else [float(v) for v in mean],
            "std": None if std is None else [float(v) for v in std],
            "n_neighbors": self.n_neighbors,
            "threshold": self.threshold,
            "k": self.k,
            "fpr": self.fpr,
            "batch_size": self.batch_size,
            "fixed_rows": self.fixed_rows,
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str], model: nn.Module | None = None) -> AttackAsDefense:
        """Read a detector written by :meth:`save`; ``model`` is the model it was fitted with.

        A plain ``nn.Module`` is wrapped with the saved bounds and normalisation. A model whose
        weights differ from the saved hash gives a warning (the costs, hence the flags, change).
        """
        document = _read_document(path)
        params = dict(document["params"])
        if isinstance(model, ClassifierWrapper):
            params.update(mean=None, std=None)
        if params["bounds"] is not None:
            params["bounds"] = tuple(params["bounds"])
        detector = cls(model, **params)
        fitted = document["fitted"]
        detector._set_cost_path()
        detector.detector_ = SAVED_ESTIMATORS[params["detector"]].from_state(fitted["detector_"])
        detector.threshold_ = fitted["threshold_"]
        detector.fpr_ = fitted["fpr_"]
        detector.k_ = fitted["k_"]
        problem = _damage(detector)
        if problem:
            raise DataError(
                f"'{path}' is a damaged saved detector ({problem}); fit the detector again and "
                "save it"
            )
        detector.threshold_ = float(detector.threshold_)
        saved_hash = document.get("model_sha256")
        wrapped = detector.model_
        if wrapped is not None and saved_hash and _weights_hash(wrapped.net) != saved_hash:
            warnings.warn(
                f"the model passed to load() has other weights than the one '{path}' was fitted "
                "with; costs and flags will differ",
                stacklevel=2,
            )
        return detector


def _damage(detector: AttackAsDefense) -> str | None:
    """What makes a loaded detector's learned numbers unusable, or ``None``.

    A hand-edited or corrupted file can hold valid JSON with numbers no fit gives (a NaN
    threshold, a zero spread): its flags would be silently wrong, so such a file is refused.
    """
    threshold = detector.threshold_
    if not _is_real(threshold) or math.isnan(threshold):
        return f"threshold_ is {threshold!r}, not a number"
    names = detector._attack_names()
    estimator = detector.detector_
    if isinstance(estimator, ZScoreEnsemble):
        if len(estimator.detectors_) != len(names):
            return f"{len(estimator.detectors_)} Z-score member(s) for {len(names)} attack(s)_d"
        for name, member in zip(names, estimator.detectors_, strict=True):
            for key in ("mean_", "std_", "shift_"):
                value = getattr(member, key)
                if not (_is_real(value) and math.isfinite(value)):
                    return f"attack_d {name!r}: {key} is {value!r}, not a finite number"
            if not member.std_ > 0:
                return f"attack_d {name!r}: std_ is {member.std_!r}, not > 0"
            if member.lambda_ is not None and not (
                _is_real(member.lambda_) and math.isfinite(member.lambda_)
            ):
                return f"attack_d {name!r}: lambda_ is {member.lambda_!r}"
    elif isinstance(estimator, KNNCostDetector):
        x, y = estimator.X_fit_, estimator.y_fit_
        if x.ndim != 2 or x.shape[1] != len(names) or y.shape != (len(x),):
            return f"K-NN rows of shape {x.shape} with {y.shape} labels for {len(names)} attacks_d"
        if not np.isfinite(x).all() or not np.isin(y, (0, 1)).all():
            return "K-NN rows hold NaN, inf or labels other than 0 and 1"
    return None


def _weights_hash(net: nn.Module) -> str:
    """sha256 of the state_dict (keys and CPU bytes, in key order): device-independent."""
    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no saved detector at '{path}'; write one with .save(path)")
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"'{path}' is not a saved AttackAsDefense (not JSON: {err})") from None
    if not isinstance(document, dict) or document.get("format") != SAVE_FORMAT:
        raise ValueError(f"'{path}' is not a saved AttackAsDefense (format is not {SAVE_FORMAT!r})")
    if document.get("version") != SAVE_VERSION:
        raise ValueError(
            f"'{path}' has save version {document.get('version')!r}; this a2d reads version "
            f"{SAVE_VERSION}"
        )
    return document
