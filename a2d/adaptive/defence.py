"""A2D as the defence of Section 6, and the A2D-aware attack against it (two stages' calls).

- :func:`fit_a2d` (the ``adaptive_a2d`` stage): A2D as Section 6.2.1 uses it, one attack_d
  (BIM_d) and its Z-score detector fitted on benign pool images only, with held-out benign costs
  that calibrate it (:class:`FittedA2D`; :func:`save_a2d` / :func:`load_a2d` on disk,
  :func:`holdout_matrix` reads the costs back).
- :func:`run_aware` (the ``adaptive_aware`` stage): the A2D-aware attack
  (:class:`a2d.adaptive.A2DAwareAttack`) against the calibrated detector, beside C&W-kappa.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from a2d.adaptive.aware import A2DAwareAttack, cost_floor
from a2d.adaptive.examples import AdaptiveExamples
from a2d.adaptive.run import aware_attack_resumable, correct_only, cost_batch_size
from a2d.adaptive.success import detector_under_attack
from a2d.config import AdaptiveConfig
from a2d.data.sets import ExampleSet, load_set
from a2d.detectors.attack_as_defense import AttackAsDefense
from a2d.errors import DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.pipeline.resume import fingerprint, reuse_json
from a2d.utils.io import sha256_file, write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FittedA2D:
    """The A2D detector of Section 6 and what calibrates it.

    Attributes:
        detector: the fitted Z-score :class:`~a2d.AttackAsDefense` (at its own threshold h).
        holdout: one row per held-out benign pool image: ``index``, ``cost_<attack_d>``,
            ``success_<attack_d>`` and ``score`` (the detector's score).
    """

    detector: AttackAsDefense
    holdout: pd.DataFrame


def fit_a2d(
    model: ClassifierWrapper,
    pool_path: str | os.PathLike[str],
    *,
    attack_specs: Mapping[str, Mapping[str, Any]],
    n_fit: int,
    n_holdout: int,
    model_hash: str,
    costs_folder: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
) -> FittedA2D:
    """The ``adaptive_a2d`` stage: A2D (Z-score, benign only) on ``model`` from its benign pool.

    The first ``n_fit`` pool images ``model`` classifies correctly fit the detector, the next
    ``n_holdout`` are held out (their costs calibrate the A2D-aware attack's detector and are
    the negatives of its AUROC). The costs come from the ``costs`` stage's table of the pool
    when it was measured on this model with these settings (its sidecar's fingerprint, as
    :func:`a2d.costs.tables.measure_sets` writes it, matches), else the attack_d runs here once
    on both parts: the same numbers either way (one cost path, deterministic).

    Args:
        model: the defended model (wrapped, eval mode).
        pool_path: the benign training pool (``benign_train.pt`` of its target's sets).
        attack_specs: attack_d name -> hyperparameters (the dataset's configured ones,
            :func:`a2d.costs.settings.cost_attack_specs`).
        n_fit, n_holdout: the two parts' sizes.
        model_hash: sha256 of the weights (to recognise the costs stage's table).
        costs_folder: the ``costs`` stage's folder of this attack_d for the pool's target
            (``results/costs/<target>/<attack_d>``); ``None``: always attack.
        batch_size: inputs each attack_d keeps active at once (see :func:`a2d.adaptive.run.cost_batch_size`).

    Raises:
        DataError: the pool has fewer than ``n_fit + n_holdout`` correctly classified images.
    """
    pool = load_set(pool_path)
    chosen = correct_only(model, pool)
    need = n_fit + n_holdout
    if len(chosen) < need:
        raise DataError(
            f"A2D needs {n_fit} + {n_holdout} correctly classified benign pool images, the pool "
            f"has {len(chosen)}; lower adaptive.a2d.n_fit / n_holdout or raise sets.n_train"
        )
    chosen = chosen.head(need)
    specs = {k: dict(v) for k, v in attack_specs.items()}
    batch = cost_batch_size(model, chosen.x, batch_size)
    detector = AttackAsDefense(model, attacks=specs, batch_size=batch)
    names = list(specs)
    kept = None
    if costs_folder is not None and len(names) == 1:
        kept = _kept_costs(costs_folder, pool_path, model_hash, names[0], specs[names[0]])
    if kept is not None and set(chosen.indices.tolist()) <= set(kept.index):
        rows = kept.loc[chosen.indices.tolist()]
        cost, success = rows[["cost"]].to_numpy(), rows[["success"]].to_numpy(dtype=bool)
        log.info("A2D: %s_d costs of %d pool images kept from %s", names[0], need, costs_folder)
    else:
        measured = detector.attack_costs(chosen.x, ids=chosen.indices)
        cost, success = measured.cost, measured.success
    detector.fit_costs(cost[:n_fit])
    frame = pd.DataFrame({"index": chosen.indices[n_fit:].numpy()})
    for j, name in enumerate(names):
        frame[f"cost_{name}"] = cost[n_fit:, j]
        frame[f"success_{name}"] = success[n_fit:, j]
    frame["score"] = detector.score_costs(cost[n_fit:])
    return FittedA2D(detector=detector, holdout=frame)


def _kept_costs(
    folder: str | os.PathLike[str],
    pool_path: str | os.PathLike[str],
    model_hash: str,
    attack: str,
    hyperparameters: Mapping[str, Any],
) -> pd.DataFrame | None:
    """The costs stage's table of the pool, by input index, if made on this model and setting."""
    stem = Path(pool_path).stem
    key = fingerprint(model_hash, sha256_file(pool_path), attack, dict(hyperparameters))
    csv = Path(folder) / f"{stem}.csv"
    if reuse_json(Path(folder) / f"{stem}.json", key, needs=[csv]) is None:
        return None
    return pd.read_csv(csv).set_index("index")


def holdout_matrix(holdout: pd.DataFrame, detector: AttackAsDefense) -> np.ndarray:
    """(N, A) held-out benign costs in the detector's attack_d order (from :func:`fit_a2d`'s frame).

    Raises:
        DataError: the frame lacks a ``cost_<attack_d>`` column of the detector.
    """
    names = list(detector.attacks_)
    missing = [f"cost_{n}" for n in names if f"cost_{n}" not in holdout]
    if missing:
        raise DataError(
            f"the held-out benign costs have no column {missing}; rerun the adaptive_a2d stage"
        )
    return holdout[[f"cost_{n}" for n in names]].to_numpy(dtype=np.float64)


def run_aware(
    model: ClassifierWrapper,
    benign: ExampleSet,
    a2d: FittedA2D,
    cfg: AdaptiveConfig,
    *,
    sweep: Mapping[float, AdaptiveExamples],
    cap: float,
    out: str | os.PathLike[str],
    model_hash: str,
) -> pd.DataFrame:
    """The ``adaptive_aware`` stage: the A2D-aware attack beside C&W-kappa, against calibrated A2D.

    The detector is calibrated (in place) to ``cfg.a2d.fpr`` on the held-out benign costs; the
    attack is :meth:`A2DAwareAttack.against` it (``cfg.aware.overrides`` on top) on the sweep's
    images (the first ``cfg.n_images`` ``model`` classifies correctly), kept on disk in ``out``.

    Returns:
        One row per attack (``a2d-aware``, then ``cw-k<kappa>`` for ``cfg.aware.compare_kappas``):
        :func:`a2d.adaptive.success.detector_under_attack`'s numbers (misclassified, within_cap,
        asr, mean_l2, auroc, tpr at the FPR, n_scored) plus ``fpr``, the calibrated
        ``threshold`` and ``cost_floor`` (the detector's threshold in BIM_d iterations).
    """
    detector = a2d.detector
    holdout = holdout_matrix(a2d.holdout, detector)
    detector.calibrate_costs(holdout, fpr=cfg.a2d.fpr)
    floor = cost_floor(detector, cfg.a2d.attack)
    attack = A2DAwareAttack.against(detector, attack=cfg.a2d.attack, **cfg.aware.overrides)
    aware = aware_attack_resumable(
        model,
        correct_only(model, benign),
        attack,
        out=out,
        model_hash=model_hash,
        n_images=cfg.n_images,
        batch_size=cfg.aware.batch_size,
    )
    benign_scores = detector.score_costs(holdout)
    runs = {"a2d-aware": aware, **{f"cw-k{k:g}": sweep[float(k)] for k in cfg.aware.compare_kappas}}
    rows = []
    for name, examples in runs.items():
        measured = detector_under_attack(
            detector, examples, benign_scores=benign_scores, cap=cap, fpr=cfg.a2d.fpr
        )
        rows.append({"attack": name, **measured})
    frame = pd.DataFrame.from_records(rows)
    frame["fpr"] = cfg.a2d.fpr
    frame["calibrated_fpr"] = detector.fpr_
    frame["threshold"] = detector.threshold_
    frame["cost_floor"] = floor
    return frame


def save_a2d(fitted: FittedA2D, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``<folder>/detector.json`` (:meth:`AttackAsDefense.save`) and ``<folder>/holdout.csv``
    (the held-out benign costs and scores), each atomically."""
    json_path, csv_path = Path(folder) / "detector.json", Path(folder) / "holdout.csv"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    fitted.detector.save(json_path)
    write_text_atomic(csv_path, fitted.holdout.to_csv(index=False))
    return json_path, csv_path


def load_a2d(folder: str | os.PathLike[str], model: nn.Module) -> FittedA2D:
    """What :func:`save_a2d` wrote, the detector on ``model`` (the model it was fitted on).

    Raises:
        DataError: either file is missing (run the adaptive_a2d stage first).
    """
    json_path, csv_path = Path(folder) / "detector.json", Path(folder) / "holdout.csv"
    for path in (json_path, csv_path):
        if not path.is_file():
            raise DataError(
                f"no '{path}'; run the adaptive_a2d stage first (`dvc repro adaptive_a2d`)"
            )
    return FittedA2D(detector=AttackAsDefense.load(json_path, model), holdout=pd.read_csv(csv_path))
