"""One target's detector run: Figure 6, Table 3 and Table 7 on its cost tables.

The library call behind the ``detect`` stage. It reads the target's cost tables
(:func:`~a2d.detectors.experiments.read_cost_sets`), measures Figure 6 (each detector's accuracy
per input type, and its average over them) and Table 3 (the Z-score cost analysis) under the
configured protocol, the same again on successful adversarials only where that differs (Env2's
protocol, reported beside Env1's), and the Table 7 sweeps. Nothing is attacked: every detector
is fitted on precomputed costs (:mod:`a2d.detectors.experiments` holds each experiment).

Results carry our keys (attack_d ``bim``, input ``bim-a``, detector ``knn``);
:mod:`a2d.reporting.detector_tables` lays them out under the paper's names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from a2d.config import DetectorConfig
from a2d.detectors.experiments import (
    CostSets,
    average_accuracy,
    cost_analysis,
    knn_accuracies,
    parameter_sweeps,
    read_cost_sets,
    zscore_accuracies,
)
from a2d.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorScores:
    """Figure 6 and Table 3 under one protocol.

    Attributes:
        accuracies: :func:`~a2d.detectors.experiments.knn_accuracies` and
            :func:`~a2d.detectors.experiments.zscore_accuracies`, stacked (columns detector,
            attack_d, input, accuracy).
        averages: each detector's unweighted mean over its inputs
            (:func:`~a2d.detectors.experiments.average_accuracy`: detector, attack_d, accuracy).
        analysis: Table 3 (:func:`~a2d.detectors.experiments.cost_analysis`).
    """

    accuracies: pd.DataFrame
    averages: pd.DataFrame
    analysis: pd.DataFrame


def detector_scores(
    sets: CostSets, *, n_neighbors: int, threshold: float, k: int
) -> DetectorScores:
    """Figure 6 and Table 3 on ``sets``: K-NN with K = ``n_neighbors``, Z-score with h and k."""
    accuracies = pd.concat(
        [
            knn_accuracies(sets, n_neighbors=n_neighbors),
            zscore_accuracies(sets, threshold=threshold, k=k),
        ],
        ignore_index=True,
    )
    return DetectorScores(
        accuracies=accuracies,
        averages=average_accuracy(accuracies),
        analysis=cost_analysis(sets, threshold=threshold, k=k),
    )


@dataclass(frozen=True)
class DetectorRun:
    """What a run measured.

    Attributes:
        sets: the cost sets the detectors were fitted and evaluated on (configured protocol).
        scores: Figure 6 and Table 3 on them.
        successful_only: the same on successful adversarials only (Env2's protocol); ``None``
            when the configured protocol already drops failed adversarials, or when a crafted
            set holds no successful one.
        sweeps: Table 7 (:func:`~a2d.detectors.experiments.parameter_sweeps`).
    """

    sets: CostSets
    scores: DetectorScores
    successful_only: DetectorScores | None
    sweeps: pd.DataFrame


def run_detectors(
    folder: str | os.PathLike[str],
    *,
    attacks: Sequence[str],
    crafted: Sequence[str],
    cfg: DetectorConfig,
    seed: int,
    target: str | None = None,
) -> DetectorRun:
    """Figure 6, Table 3 and Table 7 of one target, from its cost folder.

    Args:
        folder: the target's cost folder (the ``costs`` stage), e.g. ``results/costs/env1_mnist``.
        attacks: the attacks_d whose costs the detectors use.
        crafted: the crafting attacks (adversarial set kinds), e.g. ``["fgsm", "bim-a"]``.
        cfg: the validated ``detector`` config: K, h, k, the protocol and the Table 7 grids.
        seed: seeds Table 7's random classifiers (DTC, RFC).
        target: the target's name in messages (default: the folder's name).

    Raises:
        DataError: a cost table is missing or malformed, or a detector cannot be fitted on it
            (see :func:`~a2d.detectors.experiments.read_cost_sets`).
    """
    target = target or Path(folder).name
    read = partial(read_cost_sets, folder, attacks=attacks, crafted=crafted, target=target)
    measure = partial(
        detector_scores, n_neighbors=cfg.n_neighbors, threshold=cfg.threshold, k=cfg.k
    )
    sets = read(successful_only=cfg.successful_only)
    log.info(
        "%s: %d benign training inputs, attacks_d %s",
        target,
        len(sets.cost["benign_train"]),
        ", ".join(sets.attacks),
    )
    scores = measure(sets)
    successful_only = None
    if not cfg.successful_only:  # Env1 keeps failed adversarials; the protocol asks for both
        try:
            successful_only = measure(read(successful_only=True))
        except DataError as err:
            log.warning("%s: no successful-only view: %s", target, err)
    sweeps = parameter_sweeps(
        sets,
        **vars(cfg.sweeps),
        default_n_neighbors=cfg.n_neighbors,
        default_threshold=cfg.threshold,
        default_k=cfg.k,
        seed=seed,
    )
    return DetectorRun(sets=sets, scores=scores, successful_only=successful_only, sweeps=sweeps)
